"""PPO's and DPO's objectives on numbers worked by hand, and DPO's loss equal to TRL's trainer on the same
sequences."""

from __future__ import annotations

import math

import pytest
import torch

from webtext.components.align import losses
from webtext.components.instruct.reward import ranking_loss
from webtext.components.model.gpt import GPT, GPTConfig


def test_gae_runs_right_to_left_and_stops_at_the_end_of_each_answer():
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    values = torch.tensor([[0.5, 0.4, 0.3], [0.5, 0.4, 9.0]])  # 9.0: past the second answer's end
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    advantages, returns = losses.gae(rewards, values, mask, gamma=1.0, lam=0.5)
    # row 0: deltas 0.7, -0.1, -0.1 -> A2 = 0.7, A1 = -0.1 + 0.5 * 0.7, A0 = -0.1 + 0.5 * 0.25
    # row 1: the value past the end counts 0: A1 = 1 - 0.4, A0 = -0.1 + 0.5 * 0.6
    assert torch.allclose(advantages, torch.tensor([[0.025, 0.25, 0.7], [0.2, 0.6, 0.0]]))
    assert torch.allclose(returns, torch.tensor([[0.525, 0.65, 1.0], [0.7, 1.0, 0.0]]))


def test_gae_discounts_with_gamma():
    advantages, _ = losses.gae(torch.tensor([[0.0, 1.0]]), torch.zeros(1, 2), torch.ones(1, 2), 0.9, 1.0)
    assert torch.allclose(advantages, torch.tensor([[0.9, 1.0]]))


def test_token_rewards_penalise_every_answer_token_and_score_the_last():
    logprobs, ref = torch.tensor([[-1.0, -2.0, -3.0]]), torch.tensor([[-1.5, -2.0, -1.0]])
    rewards, kl = losses.token_rewards(torch.tensor([2.0]), logprobs, ref, torch.tensor([[1.0, 1.0, 0.0]]),
                                       beta=0.5)
    assert torch.allclose(kl, torch.tensor([[0.5, 0.0, 0.0]]))
    assert torch.allclose(rewards, torch.tensor([[-0.25, 2.0, 0.0]]))


@pytest.mark.parametrize("advantage, loss, clipped", [(1.0, -0.85, 0.5), (-1.0, 1.15, 0.5)])
def test_the_clipped_surrogate_takes_the_pessimistic_term(advantage, loss, clipped):
    # ratios 1.5 and 0.5 against the old policy, epsilon 0.2: for A > 0 the gain of 1.5 is clipped to 1.2
    # while 0.5 stays; for A < 0 the loss of 0.5 is clipped to 0.8 while 1.5 stays
    old = torch.zeros(1, 2)
    new = torch.log(torch.tensor([[1.5, 0.5]]))
    result = losses.policy_loss(new, old, torch.full((1, 2), advantage), torch.ones(1, 2), clip_range=0.2)
    assert result.loss.item() == pytest.approx(loss)
    assert result.clip_fraction.item() == pytest.approx(clipped)
    assert result.approx_kl.item() == pytest.approx(-(math.log(1.5) + math.log(0.5)) / 2)


def test_the_policy_loss_ignores_tokens_off_the_mask():
    new, old = torch.tensor([[0.3, 5.0]]), torch.zeros(1, 2)
    masked = losses.policy_loss(new, old, torch.ones(1, 2), torch.tensor([[1.0, 0.0]]), 0.2)
    alone = losses.policy_loss(new[:, :1], old[:, :1], torch.ones(1, 1), torch.ones(1, 1), 0.2)
    assert masked.loss.item() == pytest.approx(alone.loss.item())


def test_the_value_loss_takes_the_larger_of_the_clipped_and_unclipped_errors():
    values, old, returns = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.5]]), torch.tensor([[2.0, 0.0]])
    # clipped values 0.7 and 0.3: errors max(1.0, 1.69) and max(0.0, 0.09)
    assert losses.value_loss(values, old, returns, torch.ones(1, 2), 0.2).item() == pytest.approx(0.445)


def test_the_adaptive_kl_coefficient_moves_toward_its_target_by_at_most_a_fifth_per_horizon():
    controller = losses.AdaptiveKL(0.1, target=6.0, horizon=10_000)
    controller.update(kl=12.0, n_samples=1000)  # twice the target: the error is clipped to +0.2
    assert controller.beta == pytest.approx(0.1 * 1.02)
    controller.update(kl=4.5, n_samples=1000)  # error -0.25, clipped to -0.2
    assert controller.beta == pytest.approx(0.1 * 1.02 * 0.98)
    fixed = losses.AdaptiveKL(0.1, target=None)
    fixed.update(kl=100.0, n_samples=1000)
    assert fixed.beta == 0.1


def test_whitened_advantages_have_zero_mean_and_unit_variance_on_the_mask():
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 100.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    whitened = losses.whiten(values, mask)
    kept = whitened[mask.bool()]
    assert kept.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert (kept ** 2).mean().item() == pytest.approx(1.0, abs=1e-4)
    assert whitened[1, 1:].abs().sum() == 0


def test_dpo_loss_equals_trls_on_the_same_sequences(tmp_path):
    """TRL's DPOTrainer and our loss on the same prompt and answer ids, through a transformers copy of
    the same GPT (and of its reference): the sequence log-probabilities over the answers, the implicit
    rewards and the sigmoid loss all have to agree."""
    transformers = pytest.importorskip("transformers")
    trl = pytest.importorskip("trl")
    from datasets import Dataset

    from tests.components.instruct.tokenizer import train_tokenizer
    from webtext.components.align.module import dpo_batch
    from webtext.components.instruct.sft import SFTExample
    from webtext.components.model.hf import hf_config, to_hf_state_dict
    from webtext.components.tokenize.bpe import tiktoken_encoding

    train_tokenizer(tmp_path)
    vocab = tiktoken_encoding(tmp_path / "tokenizer.json").n_vocab
    torch.manual_seed(0)
    config = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=64, vocab_size=vocab, dropout=0.0)
    policy, reference = GPT(config).eval(), GPT(config).eval()

    def hf(model: GPT):
        theirs = transformers.GPT2LMHeadModel(transformers.GPT2Config(**hf_config(config, 0),
                                                                      attn_implementation="eager"))
        theirs.load_state_dict(to_hf_state_dict(model), strict=False)
        return theirs.eval()

    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path)
    tokenizer.pad_token = tokenizer.eos_token
    beta = 0.3
    trainer = trl.DPOTrainer(
        model=hf(policy), ref_model=hf(reference), processing_class=tokenizer,
        train_dataset=Dataset.from_list([{"prompt": "a", "chosen": "b", "rejected": "c"}]),
        args=trl.DPOConfig(output_dir=str(tmp_path / "trl"), beta=beta, report_to=[], use_cpu=True,
                           per_device_train_batch_size=3, max_length=None,
                           bf16=False))  # TRL trains in bf16 by default; both sides in float32 here
    rng = torch.Generator().manual_seed(1)
    pairs = [[torch.randint(1, vocab, (n,), generator=rng).tolist() for n in lengths]
             for lengths in ((5, 3, 4), (2, 6, 1), (7, 2, 2))]  # prompt, chosen, rejected
    batch = trainer.data_collator([{"prompt_ids": p, "chosen_ids": c, "rejected_ids": r}
                                   for p, c, r in pairs])
    theirs = trainer.compute_loss(trainer.model, batch)

    def example(prompt: list[int], answer: list[int]) -> SFTExample:
        ids = prompt + answer
        return SFTExample(ids[:-1], [-1] * (len(prompt) - 1) + answer, 0)

    inputs, targets, groups = dpo_batch([[example(p, c), example(p, r)] for p, c, r in pairs])
    with torch.no_grad():
        mine = losses.sequence_logprobs(policy(inputs)[0], targets)
        ref = losses.sequence_logprobs(reference(inputs)[0], targets)
    ours = ranking_loss(losses.implicit_rewards(mine, ref, beta), groups)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
    assert ours.item() != pytest.approx(math.log(2), rel=1e-3)  # the two models differ: not the loss at 0
