"""The records one stage hands the next: a snapshot, a token set, a checkpoint, typed, with their files.

A stage finds its input as the previous stage's verified output (`Stage.current`); these are what it
gets, instead of warehouse rows with paths to join by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from webtext.components.files import sha256_file

# The files a training run hands on: the weights, and the shape that rebuilds the model around them.
WEIGHTS, CONFIG = "model.safetensors", "config.json"


@dataclass(frozen=True)
class Snapshot:
    """A published corpus snapshot: the kept documents of one extract config, in one Parquet file."""

    snapshot_id: str
    data: Path
    n_documents: int
    n_bytes: int


@dataclass(frozen=True)
class Split:
    """One split of a token set, as encoded."""

    name: str
    n_documents: int
    n_tokens: int
    n_bytes: int
    n_shards: int

    @property
    def tokens_per_byte(self) -> float:
        """Turns a loss in nats per token into bits per byte (`loss * tokens_per_byte / ln 2`)."""
        return self.n_tokens / max(self.n_bytes, 1)


@dataclass(frozen=True)
class TokenSet:
    """A snapshot encoded with a tokenizer: shards under `directory`, the tokenizer beside them."""

    token_set_id: str
    tokenizer_id: str
    snapshot_id: str
    directory: Path
    tokenizer_path: Path
    vocab_size: int
    splits: dict[str, Split]


@dataclass(frozen=True)
class Checkpoint:
    """Registered weights (`model.safetensors` + `config.json` in `directory`) and what made them."""

    checkpoint_id: str
    kind: str
    parent_id: str | None
    tokenizer_id: str
    snapshot_id: str
    token_set_id: str
    sha256: str
    step: int
    config: dict
    directory: Path
    tokenizer_path: Path

    @property
    def weights(self) -> Path:
        return self.directory / WEIGHTS

    @property
    def shape(self) -> dict:
        """The model's `config.json`: the shape a child model starts from."""
        return json.loads((self.directory / CONFIG).read_text())


class Result(NamedTuple):
    """One score of a checkpoint and what it was measured on.

    `data_sha256` hashes the examples or text files and every setting that chooses or frames them
    (never their paths): two checkpoints' scores are compared only when it is equal, so a changed
    task file or evaluation setting cannot pass for progress.
    """

    task: str
    metric: str
    value: float
    n_examples: int  # tokens, for bits per byte
    data_sha256: str


def weights_verify(directory: Path, sha256: str | None) -> bool:
    """Whether `directory` holds weights whose sha256 is the one recorded for them."""
    weights = directory / WEIGHTS
    return sha256 is not None and weights.is_file() and sha256_file(weights) == sha256
