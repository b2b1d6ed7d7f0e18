"""Supervised fine-tuning examples (InstructGPT's step 1, Ouyang et al. 2022): a conversation as the
model's inputs and targets, with the loss on the assistant's answers only.

A target of -1 is ignored by `GPT.forward`'s cross-entropy, so the prompt, the user turns and the
format's markers are read but never predicted. A conversation longer than the context loses its oldest
tokens; an earlier answer that this cuts into is no longer trained (what it answered is gone), and a
conversation whose last answer does not fit after at least one prompt token is dropped, since its
answer would be learned with no question before it.

Held-out response loss is reported in bits per byte, the nats summed over the trained tokens over ln 2
and the UTF-8 bytes those tokens spell (an answer's leading space and text; `<|endoftext|>` spells
none, its nats counted as the cost of knowing where to stop), comparable across tokenizers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from webtext.components.evaluate.bpb import Bits
from webtext.components.instruct.chat import Turn, encode_chat
from webtext.components.instruct.data import Conversation

IGNORE = -1  # GPT.forward's ignore_index


@dataclass(frozen=True)
class SFTExample:
    input_ids: list[int]
    targets: list[int]  # the next id where it is trained, IGNORE elsewhere
    response_bytes: int  # UTF-8 bytes that the trained targets spell


@dataclass(frozen=True)
class Batch:
    input_ids: torch.Tensor  # (B, T) right-padded
    targets: torch.Tensor  # (B, T) IGNORE on padding
    response_bytes: int


def _answer_spans(mask: list[bool]) -> list[tuple[int, int]]:
    """The [start, end) runs of trained ids: one per assistant turn, in order (markers separate them)."""
    spans, start = [], None
    for i, trained in enumerate([*mask, False]):
        if trained and start is None:
            start = i
        elif not trained and start is not None:
            spans.append((start, i))
            start = None
    return spans


def sft_example(turns: Sequence[Turn], encode: Callable[[str], list[int]], eot_id: int, block_size: int
                ) -> SFTExample | None:
    """The conversation (ending in an assistant answer) as at most `block_size` inputs and their
    targets; None when its last answer does not fit the context after a prompt token."""
    if not turns or turns[-1].role != "assistant":
        raise ValueError("a demonstration ends with an assistant answer")
    ids, mask = encode_chat(encode, eot_id, turns)
    spans = _answer_spans(mask)
    answers = [t for t in turns if t.role == "assistant"]
    cut = max(0, len(ids) - (block_size + 1))  # the first id kept
    if spans[-1][0] <= cut:
        return None
    targets = [IGNORE] * len(ids)
    n_bytes = 0
    for (start, end), answer in zip(spans, answers):
        if start > cut:  # whole, and predicted from a kept id
            targets[start:end] = ids[start:end]
            n_bytes += len(f" {answer.content}".encode("utf-8", "replace"))
    return SFTExample(ids[cut:-1], targets[cut + 1:], n_bytes)


def sft_examples(conversations: Sequence[Conversation], encode: Callable[[str], list[int]], eot_id: int,
                 block_size: int) -> tuple[list[SFTExample], list[str]]:
    """The examples of the conversations that fit, and where the dropped ones came from."""
    kept, dropped = [], []
    for conversation in conversations:
        example = sft_example(conversation.turns, encode, eot_id, block_size)
        if example is None:
            dropped.append(conversation.where)
        else:
            kept.append(example)
    return kept, dropped


def collate(examples: Sequence[SFTExample], pad_id: int = 0) -> Batch:
    """Examples right-padded to the longest: a causal model never looks right, so padding changes
    nothing before it, and its targets are ignored (`pad_id`'s value never matters)."""
    width = max(len(e.input_ids) for e in examples)
    inputs = torch.full((len(examples), width), pad_id, dtype=torch.long)
    targets = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for row, example in enumerate(examples):
        inputs[row, :len(example.input_ids)] = torch.tensor(example.input_ids)
        targets[row, :len(example.targets)] = torch.tensor(example.targets)
    return Batch(inputs, targets, sum(e.response_bytes for e in examples))


def response_nats(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The summed cross-entropy (nats) of a batch's trained targets, and how many there are."""
    nats = F.cross_entropy(logits.float().flatten(0, 1), targets.reshape(-1), ignore_index=IGNORE,
                           reduction="sum")
    return nats, int((targets != IGNORE).sum())


@torch.inference_mode()
def response_bits(model, examples: Sequence[SFTExample], *, batch_size: int, device: str) -> Bits:
    """Held-out response loss of `model` (a GPT) on `examples`: nats, trained tokens and their bytes."""
    model = model.to(device).eval()
    total = Bits(0.0, 0, 0)
    for first in range(0, len(examples), batch_size):
        batch = collate(examples[first:first + batch_size])
        logits, _ = model(batch.input_ids.to(device))
        nats, n_tokens = response_nats(logits, batch.targets.to(device))
        total = total + Bits(float(nats), n_tokens, batch.response_bytes)
    return total
