"""Bits per byte: a language model's loss in units that do not depend on its tokenizer, so models with
different vocabularies compare (GPT-2, section 3.1, reported its language-modelling results this way).

bits/byte = (nats over the tokens / ln 2) / UTF-8 bytes of the text they encode.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from webtext.components.errors import InputError
from webtext.components.evaluate.scoring import stream_nats


@dataclass(frozen=True)
class Bits:
    """Nats over `n_tokens` scored tokens standing for `n_bytes` bytes of text."""

    nats: float
    n_tokens: int
    n_bytes: float

    @property
    def bpb(self) -> float:
        return self.nats / math.log(2) / self.n_bytes

    def __add__(self, other: Bits) -> Bits:
        return Bits(self.nats + other.nats, self.n_tokens + other.n_tokens, self.n_bytes + other.n_bytes)


def text_bits(model, encode, eot: int, path: Path, *, batch_size: int, device: str) -> Bits:
    """A text file as one document: its tokens after an end-of-text, every one scored."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"evaluate.texts: {path} cannot be read as UTF-8 text: {exc}") from exc
    if not text.strip():
        raise InputError(f"evaluate.texts: {path} is empty")
    tokens = np.asarray([eot, *encode(text)], dtype=np.int64)
    nats, n = stream_nats(model, tokens, batch_size=batch_size, device=device)
    return Bits(nats, n, len(text.encode()))


def stream_bits(model, shards: Iterator[np.ndarray], tokens_per_byte: float, max_tokens: int | None, *,
                batch_size: int, device: str) -> Bits:
    """A token split as one stream (documents separated by end-of-text, as it was trained), cut at
    `max_tokens`; its bytes are estimated from the split's tokens per byte."""
    parts, total = [], 0
    for shard in shards:
        take = shard if max_tokens is None else shard[: max_tokens - total]
        parts.append(np.asarray(take, dtype=np.int64))
        total += len(take)
        if max_tokens is not None and total >= max_tokens:
            break
    tokens = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    if len(tokens) < 2:
        raise InputError("the validation split holds fewer than two tokens: nothing to score")
    nats, n = stream_nats(model, tokens, batch_size=batch_size, device=device)
    return Bits(nats, n, n / tokens_per_byte)
