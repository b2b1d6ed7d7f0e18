"""Log-likelihoods of token continuations under a GPT: the one primitive every evaluation here uses.

A request is a token sequence and how many of its last tokens are scored (each predicted from all the
tokens before it). Requests run in batches, longest first, padded on the right; a causal model never
looks right, so padding changes nothing. Only the scored positions go through the output layer, which
for small models and large vocabularies is most of the work a full forward would spend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Score:
    """The summed log-probability (nats) of a request's scored tokens, and whether greedy decoding
    (the argmax at every scored position) would have produced exactly them."""

    logprob: float
    greedy: bool
    n_tokens: int


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def continuation(context: Sequence[int], target: Sequence[int], block_size: int) -> tuple[list[int], int]:
    """The request scoring `target` after `context`: the context is cut from the left to fit the
    model's window, as GPT-2 and lm-evaluation-harness do."""
    if not target:
        raise ValueError("nothing to score: the continuation has no tokens")
    if len(target) > block_size:
        raise ValueError(f"a continuation of {len(target)} tokens does not fit a context of {block_size}")
    sequence = [*context, *target][-(block_size + 1):]
    return sequence, len(target)


def windows(n_tokens: int, block_size: int, stride: int) -> list[tuple[int, int, int]]:
    """(start, end, n_scored) windows over a token stream that score every token after the first
    exactly once: the first window scores all it holds, each next one moves `stride` tokens and scores
    only those, so every scored token sees at least `block_size - stride` tokens of context."""
    if not 0 < stride <= block_size:
        raise ValueError(f"stride {stride} must be in 1..{block_size}")
    out, end = [], 1
    while end < n_tokens:
        new_end = min(end + (block_size if end == 1 else stride), n_tokens)
        out.append((max(0, new_end - block_size - 1), new_end, new_end - end))
        end = new_end
    return out


def score(model, requests: Sequence[tuple[Sequence[int], int]], *, batch_size: int, device: str
          ) -> list[Score]:
    """The Score of each (sequence, n_scored) request, in the order given."""
    import torch

    block = model.config.block_size
    for sequence, n_scored in requests:
        if len(sequence) > block + 1 or not 0 < n_scored < len(sequence):
            raise ValueError(f"a request of {len(sequence)} tokens scoring {n_scored} does not fit a "
                             f"context of {block}")
    order = sorted(range(len(requests)), key=lambda i: -len(requests[i][0]))
    out: list[Score | None] = [None] * len(requests)
    model = model.to(device).eval()
    with torch.inference_mode():
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            width = len(requests[batch[0]][0]) - 1
            inputs = torch.zeros((len(batch), width), dtype=torch.long)
            rows, columns, targets = [], [], []
            for row, i in enumerate(batch):
                sequence, n_scored = requests[i]
                tokens = torch.as_tensor(np.asarray(sequence, dtype=np.int64))
                inputs[row, :len(tokens) - 1] = tokens[:-1]
                rows += [row] * n_scored
                columns += range(len(tokens) - 1 - n_scored, len(tokens) - 1)
                targets.append(tokens[-n_scored:])
            hidden = model.hidden_states(inputs.to(device))[rows, columns]
            logprobs = torch.log_softmax(model.logits(hidden).float(), dim=-1)
            target = torch.cat(targets).to(device)
            picked = logprobs.gather(1, target[:, None])[:, 0].double().cpu()
            hits = (logprobs.argmax(dim=-1) == target).cpu()
            at = 0
            for i in batch:
                n = requests[i][1]
                out[i] = Score(float(picked[at:at + n].sum()), bool(hits[at:at + n].all()), n)
                at += n
    return out


def stream_nats(model, tokens: np.ndarray, *, batch_size: int, device: str, stride: int | None = None
                ) -> tuple[float, int]:
    """Total nats and number of tokens scored over a token stream (every token after the first),
    by sliding windows (`windows`); the stride defaults to half the context."""
    block = model.config.block_size
    spans = windows(len(tokens), block, stride or max(1, block // 2))
    requests = [(tokens[start:end], n) for start, end, n in spans]
    scores = score(model, requests, batch_size=batch_size, device=device)
    return -math.fsum(s.logprob for s in scores), sum(s.n_tokens for s in scores)
