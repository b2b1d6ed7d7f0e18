"""The reward model of InstructGPT's step 2 (Ouyang et al. 2022, section 3.5): the SFT (or pretrained)
transformer with a scalar head on the final token of prompt + answer, trained on human comparisons.

A labeller ranks K answers to one prompt (K = 2 is a chosen/rejected pair). InstructGPT's loss is
-1/C(K,2) * sum over the ranking's pairs of log sigmoid(r(better) - r(worse)); the C(K,2) pairs of one
prompt are highly correlated, so treating them as separate examples over-fits in one epoch. Instead
each prompt's K answers are run once and all its pairs form one batch element: `collate` puts every
answer of a prompt in the same batch, `ranking_loss` averages over each prompt's pairs, then over
prompts. The reward is shift-invariant, so an `offset` is fixed after training to give the SFT
demonstrations a mean reward of 0 (InstructGPT normalises its RM the same way before RL).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

import torch
from torch import nn
from torch.nn import functional as F

from webtext.components.instruct.chat import Turn, encode_chat
from webtext.components.model.gpt import GPT

PAD = -1  # in `groups`: no answer


@dataclass
class RewardBatch:
    tokens: torch.Tensor  # (N, T) every answer of the batch (prompt + answer), right-padded
    lengths: torch.Tensor  # (N,) real tokens per sequence; the head reads the last one
    groups: torch.Tensor  # (B, K) each prompt's answers, best first, PAD after a shorter ranking


def collate(rankings: list[list[list[int]]], pad_id: int = 0) -> RewardBatch:
    """A batch from rankings, each the token sequences (prompt + answer) of one prompt's answers, best
    first: every answer of a prompt is in this batch, once."""
    sequences = [s for ranking in rankings for s in ranking]
    if any(len(ranking) < 2 for ranking in rankings):
        raise ValueError("each ranking needs at least two answers")
    tokens, lengths = right_pad(sequences, pad_id)
    groups = torch.full((len(rankings), max(map(len, rankings))), PAD, dtype=torch.long)
    start = 0
    for b, ranking in enumerate(rankings):
        groups[b, :len(ranking)] = torch.arange(start, start + len(ranking))
        start += len(ranking)
    return RewardBatch(tokens, lengths, groups)


def right_pad(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences as one (N, T) tensor padded on the right, and their lengths."""
    if not all(sequences):
        raise ValueError("an empty sequence has no final token to score")
    tokens = torch.full((len(sequences), max(map(len, sequences))), pad_id, dtype=torch.long)
    for i, s in enumerate(sequences):
        tokens[i, :len(s)] = torch.tensor(s)
    return tokens, torch.tensor([len(s) for s in sequences])


class RewardModel(nn.Module):
    """A GPT with a scalar head on each sequence's final real token, minus a normalising `offset`."""

    def __init__(self, gpt: GPT):
        super().__init__()
        self.gpt = gpt
        self.head = nn.Linear(gpt.config.n_embd, 1)
        nn.init.normal_(self.head.weight, std=0.02)  # as the GPT's own layers
        nn.init.zeros_(self.head.bias)
        self.register_buffer("offset", torch.zeros(()))  # saved with the weights: part of the reward

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The reward (N,) of each right-padded sequence: causal attention keeps the padding after a
        sequence's last real token from reaching it."""
        hidden = self.gpt.hidden_states(tokens)
        final = hidden[torch.arange(len(hidden), device=hidden.device), lengths - 1]
        return self.head(final).squeeze(-1).float() - self.offset


def answer_tokens(encode: Callable[[str], list[int]], eot_id: int, prompt: Sequence[Turn], answer: str,
                  block_size: int) -> list[int]:
    """The ids a reward model reads for one answer: the prompt's turns and the answer in the chat
    format, ending in the answer's `<|endoftext|>` (whose hidden state the head reads: the whole answer
    is before it), the newest `block_size` of them when longer."""
    ids, _ = encode_chat(encode, eot_id, [*prompt, Turn("assistant", answer)])
    return ids[-block_size:]


def ranking_pairs(k: int) -> list[tuple[int, int]]:
    """The C(k,2) (better, worse) index pairs of a ranking of k answers, best first."""
    return list(combinations(range(k), 2))


def pairwise_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Mean -log sigmoid(r_chosen - r_rejected): the Bradley-Terry likelihood of the human's choice
    (`logsigmoid` stays finite where sigmoid underflows)."""
    return -F.logsigmoid(r_chosen - r_rejected).mean()


def pair_matrix(rewards: torch.Tensor, groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """r(better) - r(worse) for every pair of every prompt (B, C(K,2)), and which pairs exist (a
    prompt with fewer answers than the batch's widest has fewer pairs)."""
    better, worse = (torch.tensor(side, dtype=torch.long, device=groups.device)
                     for side in zip(*ranking_pairs(groups.size(1))))
    picked = rewards[groups.clamp(min=0)]
    return picked[:, better] - picked[:, worse], groups[:, worse] != PAD  # better < worse: present too


def ranking_loss(rewards: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """InstructGPT's loss: -log sigmoid over each prompt's pairs, averaged over its C(K,2) pairs, then
    over prompts (so a prompt weighs the same whatever its K)."""
    differences, present = pair_matrix(rewards, groups)
    per_pair = -F.logsigmoid(differences) * present
    return (per_pair.sum(dim=1) / present.sum(dim=1)).mean()


def pair_differences(rewards: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """r(better) - r(worse) of every pair of the batch, flat: what `pair_metrics` reads, gathered over
    the batches of a held-out set."""
    differences, present = pair_matrix(rewards, groups)
    return differences[present]


@dataclass(frozen=True)
class PairMetrics:
    accuracy: float  # share of pairs ranked as the labeller did (r(better) > r(worse); a tie is wrong)
    margin: float  # mean r(better) - r(worse)
    pairs: int


def pair_metrics(differences: torch.Tensor) -> PairMetrics:
    """Pairwise accuracy and mean margin over the pairs' reward differences."""
    if differences.numel() == 0:
        raise ValueError("no pairs to score")
    return PairMetrics(float((differences > 0).float().mean()), float(differences.float().mean()),
                       differences.numel())


@torch.no_grad()
def score(model: RewardModel, sequences: list[list[int]], pad_id: int = 0, batch_size: int = 32
          ) -> torch.Tensor:
    """The rewards of token sequences (prompt + answer), in batches; leaves the model in eval mode (no
    dropout), so a training loop that scores mid-run calls `train()` again."""
    model.eval()
    device = model.offset.device
    rewards = []
    for start in range(0, len(sequences), batch_size):
        tokens, lengths = right_pad(sequences[start:start + batch_size], pad_id)
        rewards.append(model(tokens.to(device), lengths.to(device)))
    return torch.cat(rewards)


def normalise(model: RewardModel, demonstration_rewards: torch.Tensor) -> None:
    """Shift the model's rewards so that the SFT demonstrations, which scored `demonstration_rewards`
    under the current offset (`score`), average 0."""
    if demonstration_rewards.numel() == 0:
        raise ValueError("no demonstrations to normalise on")
    model.offset += demonstration_rewards.detach().double().mean().to(model.offset.dtype)
