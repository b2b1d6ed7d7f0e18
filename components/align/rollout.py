"""Answers sampled from a policy to a batch of prompts, and what PPO and the evaluation read off them.

A batch of prompts is left-padded and sampled at once with the KV cache (`GPT.generate`), every row
until its `<|endoftext|>` or `max_new_tokens`. The sampled block stays as it is, padding on the left and,
after an answer ended, the stop token repeated: the log-probabilities of the answers under any model
(the policy, the SFT reference) and the value head's estimates come from one forward pass over it with
the padding masked, at the positions that predicted each answer token (`answer_logits`). An answer's
tokens are those up to and including its `<|endoftext|>` (`mask`); one cut at `max_new_tokens` has none.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from webtext.components.instruct.reward import RewardModel, right_pad
from webtext.components.model.gpt import GPT, before_stop, left_pad


@dataclass
class Rollout:
    tokens: torch.Tensor  # (B, W + R): left-padded prompts, then the answers
    pad: torch.Tensor  # (B,) each row's left padding
    start: int  # W: where the answers start
    mask: torch.Tensor  # (B, R) the answer tokens, its `<|endoftext|>` included
    prompts: list[list[int]]  # the prompts' ids, unpadded

    @property
    def answer_tokens(self) -> torch.Tensor:
        return self.tokens[:, self.start:]

    def answers(self, stop: int) -> list[list[int]]:
        """Each answer's ids before its `<|endoftext|>`."""
        return [before_stop(row, stop) for row in self.answer_tokens.tolist()]

    def ended(self, stop: int) -> torch.Tensor:
        """(B,) whether each answer ended with `stop` rather than being cut."""
        return (self.answer_tokens == stop).any(1)


@torch.no_grad()
def sample(policy: GPT, prompts: list[list[int]], max_new_tokens: int, temperature: float, stop: int,
           generator: torch.Generator | None) -> Rollout:
    """One answer to each prompt, drawn at `temperature`."""
    device = next(policy.parameters()).device
    idx, pad = left_pad(prompts, stop, device)
    tokens = policy.generate(idx, max_new_tokens, temperature=temperature, generator=generator, stop=stop,
                             pad=pad)
    answers = tokens[:, idx.size(1):]
    is_stop = (answers == stop).long()
    before_first_stop = is_stop.cumsum(1) - is_stop == 0
    return Rollout(tokens, pad, idx.size(1), before_first_stop, prompts)


def answer_logits(model: GPT, rollout: Rollout) -> torch.Tensor:
    """The logits (B, R, vocab) that predicted each answer token."""
    logits, _ = model(rollout.tokens, pad=rollout.pad)
    return logits[:, rollout.start - 1:-1]


def answer_values(value: RewardModel, rollout: Rollout) -> torch.Tensor:
    """The value head's estimate (B, R) of the return from each answer token on, read at the position
    before it: the state the token is chosen in."""
    hidden = value.gpt.hidden_states(rollout.tokens, pad=rollout.pad)
    values = value.head(hidden[:, rollout.start - 1:-1]).squeeze(-1).float()
    return values - value.offset


def scored_sequences(rollout: Rollout, stop: int, block_size: int) -> list[list[int]]:
    """Each prompt + answer + `<|endoftext|>` as a reward model reads it (`reward.answer_tokens`), the
    newest `block_size` tokens when longer."""
    return [(prompt + answer + [stop])[-block_size:]
            for prompt, answer in zip(rollout.prompts, rollout.answers(stop), strict=True)]


@torch.no_grad()
def model_scores(scorer: RewardModel, rollout: Rollout, stop: int) -> torch.Tensor:
    """The reward model's score (B,) of each prompt and answer."""
    device = scorer.offset.device
    tokens, lengths = right_pad(scored_sequences(rollout, stop, scorer.gpt.config.block_size), stop)
    return scorer(tokens.to(device), lengths.to(device))
