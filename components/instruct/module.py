"""SFT and the reward model as LightningModules, and their records as resumable batches.

Both train with GPT-2's recipe (`components.train.optim`) on whatever parameters are trainable (all of
them, or LoRA's adapters and a head). Batches are drawn by step, not by a sampler's state: optimizer
step s takes the s-th batch of a fixed order of epochs (`StepBatches`), so a run resumed at step s goes
on with exactly the batches it would have seen, as pretraining's windows do. Of several processes, each
takes its share of every batch, and of the held-out records; held-out scores are summed (SFT) or
gathered (the reward model's pairs) over all of them, so they equal one process's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from webtext.components.config import PostTraining
from webtext.components.instruct import reward, sft
from webtext.components.model.gpt import GPT
from webtext.components.train.distributed import gathered, seed_of, shard
from webtext.components.train.optim import adamw_warmup_cosine


class StepBatches(IterableDataset):
    """Endless batches from optimizer step `start` on: epoch e is a permutation of the records drawn
    from (seed, e), cut into `len // batch_size` whole batches (the rest fall in other epochs' batches);
    of `world` processes, rank r collates every world-th record of each batch."""

    def __init__(self, records: Sequence, collate: Callable[[list], tuple], batch_size: int, seed: int,
                 rank: int, world: int, start: int):
        self.records, self.collate, self.batch_size = records, collate, batch_size
        self.seed, self.rank, self.world, self.start = seed, rank, world, start

    def __iter__(self) -> Iterator[tuple]:
        per_epoch = len(self.records) // self.batch_size
        step = self.start
        while True:
            epoch, index = divmod(step, per_epoch)
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.records))
            chosen = order[index * self.batch_size:(index + 1) * self.batch_size][self.rank::self.world]
            yield self.collate([self.records[i] for i in chosen])
            step += 1


class RecordData(L.LightningDataModule):
    """Training records as `StepBatches`, held-out records in order, every world-th to each process.
    A batch that takes `steps_per_batch` optimizer steps (PPO's rollout batch) is drawn once for them."""

    def __init__(self, train: Sequence, validation: Sequence, collate: Callable[[list], tuple],
                 batch_size: int, seed: int, steps_per_batch: int = 1):
        super().__init__()
        self.train, self.validation, self.collate = train, validation, collate
        self.batch_size, self.seed, self.steps_per_batch = batch_size, seed, steps_per_batch

    def train_dataloader(self) -> DataLoader:
        # Called after a checkpoint is restored, so global_step is where the run left off.
        trainer = self.trainer
        batches = StepBatches(self.train, self.collate, self.batch_size, self.seed, trainer.global_rank,
                              trainer.world_size, trainer.global_step // self.steps_per_batch)
        return DataLoader(batches, batch_size=None)

    def val_dataloader(self) -> DataLoader:
        world, rank = self.trainer.world_size, self.trainer.global_rank
        share = list(self.validation[rank::world])
        return DataLoader(share, batch_size=max(1, self.batch_size // world), collate_fn=self.collate)


def sft_batch(examples: list[sft.SFTExample]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(inputs, targets, the UTF-8 bytes the targets spell) of SFT examples."""
    batch = sft.collate(examples)
    return batch.input_ids, batch.targets, torch.tensor(batch.response_bytes)


def reward_batch(rankings: list[list[list[int]]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(tokens, lengths, groups) of rankings: every answer of each prompt in the batch (`reward.collate`)."""
    batch = reward.collate(rankings)
    return batch.tokens, batch.lengths, batch.groups


class PostTrainingModule(L.LightningModule):
    """What SFT and reward-model training share: the optimizer, dropout seeded by (seed, rank, step), a
    gradient clip that also holds for sharded parameters, and FSDP's sharding of the blocks."""

    def __init__(self, model: torch.nn.Module, settings: PostTraining, max_steps: int):
        super().__init__()
        self.model, self.settings, self.max_steps = model, settings, max_steps
        self.scored_in_training: int | None = None  # the step of the last held-out scoring while fitting
        self._configured = False

    def backbone(self) -> GPT:
        raise NotImplementedError

    def on_validation_end(self) -> None:
        if self.trainer.state.fn == "fit":
            self.scored_in_training = self.global_step

    def configure_model(self) -> None:
        if self.device_mesh is not None and not self._configured:
            shard(self.model, self.backbone().transformer.h, self.device_mesh["data_parallel"])
        self._configured = True

    def reseed(self) -> None:
        torch.manual_seed(seed_of(self.settings.seed, self.global_rank, self.global_step))

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        if self.settings.grad_clip:
            torch.nn.utils.clip_grad_norm_([p for p in self.parameters() if p.requires_grad],
                                           self.settings.grad_clip)

    def log_pairs(self, differences: list[torch.Tensor], prefix: str = "") -> None:
        """Log the held-out ranked pairs' accuracy and margin (named with `prefix`) and pairwise loss,
        gathered from every process: the same on each, so syncing averages equal values."""
        every = torch.cat(gathered(self.trainer, differences) or [torch.zeros(0)])
        if not every.numel():
            return
        metrics = reward.pair_metrics(every)
        self.log(f"val/{prefix}accuracy", metrics.accuracy, sync_dist=True)
        self.log(f"val/{prefix}margin", metrics.margin, sync_dist=True)
        self.log("val/loss", float(reward.pairwise_loss(every, torch.zeros_like(every))), sync_dist=True)

    def configure_optimizers(self):
        s = self.settings
        # every trainable parameter: a frozen reference or reward model is left out
        return adamw_warmup_cosine(self.parameters(), learning_rate=s.learning_rate,
                                   weight_decay=s.weight_decay, max_steps=self.max_steps,
                                   warmup_steps=round(s.warmup_fraction * self.max_steps),
                                   min_lr_ratio=s.min_lr_ratio)


class SFTModule(PostTrainingModule):
    """The language-model loss on the answers' tokens only; held out: the answers' loss per token and
    in bits per UTF-8 byte."""

    def __init__(self, model: GPT, settings: PostTraining, max_steps: int):
        super().__init__(model, settings, max_steps)
        self._sums: list[torch.Tensor] = []

    def backbone(self) -> GPT:
        return self.model

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y, _ = batch
        self.reseed()
        _, loss = self.model(x, y)
        self.log("train/loss", loss, batch_size=x.size(0))
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y, n_bytes = batch
        logits, _ = self.model(x)
        nats, n_tokens = sft.response_nats(logits, y)
        counts = torch.tensor([float(n_tokens), float(n_bytes)], dtype=torch.double, device=nats.device)
        self._sums.append(torch.cat([nats.detach().double().reshape(1), counts]))

    def on_validation_epoch_end(self) -> None:
        local = torch.stack(self._sums).sum(0) if self._sums else torch.zeros(3, dtype=torch.double,
                                                                               device=self.device)
        self._sums = []
        nats, n_tokens, n_bytes = self.trainer.strategy.reduce(local, reduce_op="sum").tolist()
        self.log("val/loss", nats / max(n_tokens, 1), sync_dist=True)  # equal on every process
        self.log("val/bpb", nats / math.log(2) / max(n_bytes, 1), sync_dist=True)


class RewardModule(PostTrainingModule):
    """InstructGPT's ranking loss over each prompt's answers; held out: the share of pairs ranked as the
    labeller did, the mean margin r(better) - r(worse), and the pairwise loss."""

    def __init__(self, model: reward.RewardModel, settings: PostTraining, max_steps: int):
        super().__init__(model, settings, max_steps)
        self._differences: list[torch.Tensor] = []

    def backbone(self) -> GPT:
        return self.model.gpt

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        tokens, lengths, groups = batch
        self.reseed()
        loss = reward.ranking_loss(self.model(tokens, lengths), groups)
        self.log("train/loss", loss, batch_size=groups.size(0))
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        tokens, lengths, groups = batch
        self._differences.append(reward.pair_differences(self.model(tokens, lengths), groups).detach().cpu())

    def on_validation_epoch_end(self) -> None:
        differences, self._differences = self._differences, []
        self.log_pairs(differences)
