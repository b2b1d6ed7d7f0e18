"""PPO and DPO as LightningModules over the SFT policy, with the SFT model itself as the frozen reference.

PPO optimises manually: one training step is one rollout batch (sample, score, estimate advantages),
then `ppo_epochs` passes of `minibatches` optimizer steps over its samples. Lightning counts optimizer
steps, so a run's step count is rollout batches x updates per batch, and its checkpoints fall between
rollout batches; a resumed run samples each batch from (seed, rank, batch) and restores the adaptive KL
coefficient, so it goes on exactly as an uninterrupted one. The models stay in eval mode throughout:
dropout would make the policy ratio of an unchanged policy differ from 1.

DPO trains as the reward model does (`components.instruct.module`): every answer of a prompt in one
batch, its pairs' loss averaged per prompt, but on the policy's implicit rewards; held out, the share
of pairs they rank as the labeller did.
"""

from __future__ import annotations

import numpy as np
import torch

from webtext.components.align import losses
from webtext.components.align.rewards import Scorer, frozen
from webtext.components.align.rollout import Rollout, answer_logits, answer_values, sample
from webtext.components.config import AlignConfig
from webtext.components.instruct import reward
from webtext.components.instruct.data import Prompt
from webtext.components.instruct.module import PostTrainingModule
from webtext.components.instruct.sft import SFTExample, collate
from webtext.components.model.gpt import GPT
from webtext.components.train.data import Windows
from webtext.components.train.distributed import seed_of


class PPOModule(PostTrainingModule):
    """The policy (`model`) and the value head (`value`, from the reward model) trained together; the
    reference (the SFT model) frozen; answers scored by `scorer`. A batch is the prompts' ids and the
    prompt records (whose rule a `RuleReward` reads)."""

    def __init__(self, policy: GPT, value: reward.RewardModel, reference: GPT, scorer: Scorer,
                 settings: AlignConfig, max_steps: int, stop: int, pretraining: Windows | None):
        super().__init__(policy, settings, max_steps)
        self.automatic_optimization = False
        self.value, self.reference = value, frozen(reference)
        self.scorer, self.stop, self.pretraining = scorer, stop, pretraining
        self.kl = losses.AdaptiveKL(settings.beta, settings.target_kl)

    @property
    def updates(self) -> int:
        """Optimizer steps per rollout batch."""
        return self.settings.ppo_epochs * self.settings.minibatches

    def backbone(self) -> GPT:
        return self.model

    def transfer_batch_to_device(self, batch, device, dataloader_idx: int):
        return batch  # lists of ids and records: sampling builds its tensors on the device

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["kl_beta"] = self.kl.beta

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.kl.beta = checkpoint["kl_beta"]

    @torch.no_grad()
    def rollout(self, prompts: list[list[int]], records: list[Prompt], batch: int) -> dict[str, torch.Tensor]:
        """Sample answers and what the updates need: old log-probabilities and values, rewards with the
        KL penalty, whitened advantages, returns."""
        s = self.settings
        generator = torch.Generator(self.device).manual_seed(seed_of(s.seed, self.global_rank, batch))
        self.model.eval(), self.value.eval()
        rollout = sample(self.model, prompts, s.max_new_tokens, s.temperature, self.stop, generator)
        tokens, mask = rollout.answer_tokens, rollout.mask.float()
        logprobs = losses.token_logprobs(answer_logits(self.model, rollout), tokens)
        ref_logprobs = losses.token_logprobs(answer_logits(self.reference, rollout), tokens)
        values = answer_values(self.value, rollout)
        scores = self.scorer(rollout, records).to(self.device, torch.float32)
        rewards, kl = losses.token_rewards(scores, logprobs, ref_logprobs, mask, self.kl.beta)
        advantages, returns = losses.gae(rewards, values, mask, s.gamma, s.lam)
        return {"rollout": rollout, "mask": mask, "logprobs": logprobs, "values": values,
                "advantages": losses.whiten(advantages, mask), "returns": returns, "scores": scores,
                "kl": kl.sum(1)}

    def training_step(self, batch, batch_idx: int) -> None:
        prompts, records = batch
        s = self.settings
        index = self.global_step // self.updates  # the rollout batch
        data = self.rollout(prompts, records, index)
        rollout: Rollout = data["rollout"]
        optimizer, schedule = self.optimizers(), self.lr_schedulers()
        order = torch.Generator().manual_seed(seed_of(s.seed, self.global_rank, index, 1))
        stats: dict[str, list[torch.Tensor]] = {}
        update = 0
        for _ in range(s.ppo_epochs):
            for rows in torch.randperm(len(prompts), generator=order).tensor_split(s.minibatches):
                if not len(rows):
                    continue
                part = Rollout(rollout.tokens[rows], rollout.pad[rows], rollout.start, rollout.mask[rows],
                               [rollout.prompts[i] for i in rows.tolist()])
                mask = data["mask"][rows]
                logits = answer_logits(self.model, part)
                logprobs = losses.token_logprobs(logits, part.answer_tokens)
                policy = losses.policy_loss(logprobs, data["logprobs"][rows], data["advantages"][rows], mask,
                                            s.clip_range)
                value = losses.value_loss(answer_values(self.value, part), data["values"][rows],
                                          data["returns"][rows], mask, s.value_clip)
                loss = policy.loss + s.value_coef * value
                if s.ptx_coef and self.pretraining is not None:
                    loss = loss + s.ptx_coef * self._pretraining_loss(index, update)
                update += 1
                optimizer.zero_grad()
                self.manual_backward(loss)
                self.configure_gradient_clipping(optimizer)
                optimizer.step()
                schedule.step()
                for name, value_ in (("policy_loss", policy.loss), ("value_loss", value),
                                     ("clip_fraction", policy.clip_fraction), ("approx_kl", policy.approx_kl),
                                     ("entropy", losses.masked_mean(losses.entropy(logits), mask))):
                    stats.setdefault(name, []).append(value_.detach())
        # every process adapts beta by the mean KL of all of them, so their coefficients stay equal
        kl = float(self.trainer.strategy.reduce(data["kl"].mean(), reduce_op="mean"))
        self.kl.update(kl, len(prompts) * self.trainer.world_size)
        n = len(prompts)
        self.log_dict({f"train/{name}": torch.stack(values).mean() for name, values in stats.items()},
                      batch_size=n)
        self.log_dict({"train/loss": -data["scores"].mean(), "train/reward": data["scores"].mean(),
                       "train/kl": data["kl"].mean(), "train/beta": float(self.kl.beta),
                       "train/answer_tokens": data["mask"].sum(1).mean(),
                       "train/ended": rollout.ended(self.stop).float().mean()}, batch_size=n)

    def _pretraining_loss(self, index: int, update: int) -> torch.Tensor:
        """PPO-ptx's term: the language-model loss on a batch of pretraining windows drawn from (seed,
        rank, rollout batch, update)."""
        rng = np.random.default_rng([self.settings.seed, self.global_rank, index, update, 2])
        x, y = self.pretraining.batch(rng, self.settings.batch_size // self.trainer.world_size)
        self.model.eval()
        return self.model(x.to(self.device), y.to(self.device))[1]


class DPOModule(PostTrainingModule):
    """DPO's loss on each batch's rankings; the reference is the frozen SFT model."""

    def __init__(self, policy: GPT, reference: GPT, settings: AlignConfig, max_steps: int):
        super().__init__(policy, settings, max_steps)
        self.reference = frozen(reference)
        self._differences: list[torch.Tensor] = []

    def backbone(self) -> GPT:
        return self.model

    def rewards(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The implicit reward (N,) of each answer."""
        logprobs = losses.sequence_logprobs(self.model(inputs)[0], targets)
        with torch.no_grad():
            ref_logprobs = losses.sequence_logprobs(self.reference(inputs)[0], targets)
        return losses.implicit_rewards(logprobs, ref_logprobs, self.settings.beta)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        inputs, targets, groups = batch
        self.reseed()
        self.model.eval()  # no dropout: the implicit reward of an unchanged policy is 0
        loss = reward.ranking_loss(self.rewards(inputs, targets), groups)
        self.log("train/loss", loss, batch_size=groups.size(0))
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        inputs, targets, groups = batch
        self._differences.append(reward.pair_differences(self.rewards(inputs, targets), groups).cpu())

    def on_validation_epoch_end(self) -> None:
        differences, self._differences = self._differences, []
        self.log_pairs(differences, prefix="pair_")


def dpo_batch(rankings: list[list[SFTExample]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(inputs, targets, groups) of rankings, each the SFT examples of one prompt's answers, best first:
    every answer of a prompt in the batch, as `reward.collate` puts them."""
    examples = [example for ranking in rankings for example in ranking]
    batch = collate(examples)
    groups = torch.full((len(rankings), max(map(len, rankings))), reward.PAD, dtype=torch.long)
    start = 0
    for row, ranking in enumerate(rankings):
        groups[row, :len(ranking)] = torch.arange(start, start + len(ranking))
        start += len(ranking)
    return batch.input_ids, batch.targets, groups
