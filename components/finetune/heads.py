"""A pretrained GPT with one linear head, GPT-1 style: the head reads the final state of each sequence
(its `extract` token); the language-model loss on the same inputs is kept as an auxiliary objective
(GPT-1, equation 5: L3 = L2 + lambda * L1).

Examples of a batch may become different numbers of sequences (multiple choice with 2 or 5 answers):
all sequences are padded to one length and run together, and `groups` says which sequences belong to
which example, -1 marking a missing choice, whose score is -inf so softmax gives it nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

from webtext.components.model.gpt import GPT

PAD = -1  # in `groups`: no sequence; in LM targets: no loss


@dataclass
class Batch:
    tokens: torch.Tensor  # (N, T) every sequence of the batch, right-padded
    lengths: torch.Tensor  # (N,) real tokens per sequence; the last one is `extract`
    groups: torch.Tensor  # (B, K) sequence indices per example, PAD for a missing one
    labels: torch.Tensor  # (B,) class or choice index (long), or a score (float) for regression

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(getattr(self, f.name).to(device) for f in fields(self)))


def collate(examples: list[tuple[list[list[int]], float | int]], pad_id: int = 0, regression: bool = False
            ) -> Batch:
    """A batch from (sequences, label) examples."""
    sequences = [s for seqs, _ in examples for s in seqs]
    width = max(map(len, sequences))
    tokens = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    for i, s in enumerate(sequences):
        tokens[i, :len(s)] = torch.tensor(s)
    k = max(len(seqs) for seqs, _ in examples)
    groups = torch.full((len(examples), k), PAD, dtype=torch.long)
    start = 0
    for b, (seqs, _) in enumerate(examples):
        groups[b, :len(seqs)] = torch.arange(start, start + len(seqs))
        start += len(seqs)
    labels = torch.tensor([label for _, label in examples], dtype=torch.float if regression else torch.long)
    return Batch(tokens, torch.tensor([len(s) for s in sequences]), groups, labels)


class TaskModel(nn.Module):
    """`task`: classification and entailment give `outputs` class scores from one sequence; similarity
    adds the final states of its two orderings first; multiple choice gives one score per choice."""

    def __init__(self, gpt: GPT, task: str, outputs: int, dropout: float = 0.1):
        super().__init__()
        self.gpt, self.task = gpt, task
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(gpt.config.n_embd, 1 if task == "multiple_choice" else outputs)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Task scores (B, outputs), or (B, K) for multiple choice; and the mean LM loss."""
        hidden = self.gpt.hidden_states(batch.tokens)
        return self.head_scores(hidden, batch), self.lm_loss(hidden, batch)

    def scores(self, batch: Batch) -> torch.Tensor:
        """The task scores alone: what a prediction needs, without the LM loss's vocabulary logits."""
        return self.head_scores(self.gpt.hidden_states(batch.tokens), batch)

    def head_scores(self, hidden: torch.Tensor, batch: Batch) -> torch.Tensor:
        """The head on each sequence's final state (its `extract` token)."""
        final = hidden[torch.arange(len(hidden), device=hidden.device), batch.lengths - 1]
        present = batch.groups != PAD
        picked = final[batch.groups.clamp(min=0)] * present[..., None]  # (B, K, C)
        if self.task == "multiple_choice":
            scores = self.head(self.dropout(picked)).squeeze(-1)
            return scores.masked_fill(~present, float("-inf"))
        return self.head(self.dropout(picked.sum(dim=1)))  # similarity sums its two orderings

    def lm_loss(self, hidden: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Next-token loss on every real position of every sequence (padding excluded)."""
        logits = self.gpt.logits(hidden[:, :-1]).float()
        targets = batch.tokens[:, 1:].clone()
        positions = torch.arange(targets.size(1), device=targets.device)
        targets[positions[None, :] >= (batch.lengths[:, None] - 1)] = PAD
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=PAD)


def task_loss(scores: torch.Tensor, labels: torch.Tensor, regression: bool) -> torch.Tensor:
    if regression:
        return F.mse_loss(scores.squeeze(-1).float(), labels)
    return F.cross_entropy(scores.float(), labels)
