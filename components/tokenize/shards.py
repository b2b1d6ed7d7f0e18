"""A snapshot encoded into flat token shards: what pretraining reads, and nothing else.

Layout of a token set directory (published whole, `components.files.publish_directory`):

    manifest.json          tokenizer, snapshot, dtype, per split: documents, tokens, bytes, shard files
    train-00000.bin ...    raw little-endian uint16 (uint32 past 65,536 ids), as nanoGPT's memmaps
    val-00000.bin ...

Each document is its tokens followed by `<|endoftext|>`, GPT-2's document separator. A document goes
to `val` when the hash of its doc_id falls under `val_fraction`, so the split does not depend on
the snapshot's order or size and a document stays in its split in every snapshot that holds it.

Bits per byte: a loss in nats per token over a split converts as `loss * n_tokens / (n_bytes * ln 2)`,
with `n_tokens` counting the separators and `n_bytes` the documents' UTF-8 bytes; both are recorded
per split, so every later loss is comparable across tokenizers.

Memory is constant: the snapshot is read `batch_documents` at a time and shards are written as they
fill; the only corpus-sized pass first reads doc ids, to find the split.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from webtext.components.errors import InputError
from webtext.components.extract.snapshot import open_snapshot
from webtext.components.files import sha256_file
from webtext.components.tokenize.bpe import encode_document

MANIFEST_FILE = "manifest.json"
SPLITS = ("train", "val")


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 holds every id below 65,536 (GPT-2's 50,257 included) at half of uint32's bytes."""
    return np.dtype("<u2") if vocab_size <= 2**16 else np.dtype("<u4")


def _unit(doc_id: str) -> float:
    """The doc_id hashed to [0, 1): the same value in every process and on every run."""
    return int.from_bytes(hashlib.sha256(doc_id.encode()).digest()[:8], "big") / 2**64


def validation_ids(data: Path, val_fraction: float) -> frozenset[str]:
    """The doc ids that go to `val`: those hashed under `val_fraction`; when none is, but the fraction
    is above zero and the snapshot has two documents or more, the one hashed lowest (a tiny corpus
    still gets a validation split)."""
    if val_fraction <= 0:
        return frozenset()
    chosen: set[str] = set()
    lowest, n = (2.0, None), 0
    for batch in open_snapshot(data).iter_batches(columns=["doc_id"], batch_size=65_536):
        for doc_id in batch.column(0).to_pylist():
            unit, n = _unit(doc_id), n + 1
            if unit < val_fraction:
                chosen.add(doc_id)
            lowest = min(lowest, (unit, doc_id))
    if not chosen and n >= 2:
        chosen.add(lowest[1])
    return frozenset(chosen)


@dataclass
class SplitStats:
    n_documents: int = 0
    n_tokens: int = 0  # separators included
    n_bytes: int = 0  # UTF-8 bytes of the documents' text
    shards: list[dict] = field(default_factory=list)  # {"file", "n_tokens", "sha256"}


class _ShardWriter:
    """Appends token arrays to `<split>-NNNNN.bin` files of at most `shard_tokens` tokens each."""

    def __init__(self, directory: Path, split: str, dtype: np.dtype, shard_tokens: int):
        self.directory, self.split, self.dtype, self.shard_tokens = directory, split, dtype, shard_tokens
        self.shards: list[dict] = []
        self._file = None
        self._hash = hashlib.sha256()
        self._count = 0

    def write(self, tokens: np.ndarray) -> None:
        tokens = tokens.astype(self.dtype, copy=False)
        while len(tokens):
            if self._file is None:
                name = f"{self.split}-{len(self.shards):05d}.bin"
                self._file, self._hash, self._count = open(self.directory / name, "wb"), hashlib.sha256(), 0
                self.shards.append({"file": name})
            room = self.shard_tokens - self._count
            head, tokens = tokens[:room], tokens[room:]
            data = head.tobytes()
            self._file.write(data)
            self._hash.update(data)
            self._count += len(head)
            if self._count == self.shard_tokens:
                self._finish()

    def _finish(self) -> None:
        self._file.close()
        self._file = None
        self.shards[-1].update(n_tokens=self._count, sha256=self._hash.hexdigest())

    def close(self) -> list[dict]:
        if self._file is not None:
            self._finish()
        return self.shards


def encode_snapshot(data: Path, out: Path, encoding, *, eot: int, vocab_size: int, val_fraction: float,
                    shard_tokens: int, batch_documents: int, threads: int) -> dict[str, SplitStats]:
    """Encode the snapshot file `data` (doc_id, text, ...) into shards in the directory `out`.

    `encoding` is the `tiktoken.Encoding` of the tokenizer (`bpe.tiktoken_encoding`); each document is
    encoded on one of `threads` threads (tiktoken releases the GIL), `batch_documents` at a time.
    """
    dtype = token_dtype(vocab_size)
    val = validation_ids(data, val_fraction)
    writers = {split: _ShardWriter(out, split, dtype, shard_tokens) for split in SPLITS}
    stats = {split: SplitStats() for split in SPLITS}
    separator = np.array([eot], dtype=np.uint32)

    snapshot = open_snapshot(data)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for batch in snapshot.iter_batches(columns=["doc_id", "text"], batch_size=batch_documents):
            texts = batch.column("text")
            n_bytes = pc.binary_length(texts).to_numpy(zero_copy_only=False)
            encoded = list(pool.map(partial(encode_document, encoding), texts.to_pylist()))
            in_val = np.array([doc_id in val for doc_id in batch.column("doc_id").to_pylist()], dtype=bool)
            for split, mask in (("train", ~in_val), ("val", in_val)):
                picked = np.flatnonzero(mask)
                if not len(picked):
                    continue
                parts = [piece for i in picked for piece in (encoded[i], separator)]
                tokens = np.concatenate(parts)
                writers[split].write(tokens)
                s = stats[split]
                s.n_documents += len(picked)
                s.n_tokens += len(tokens)
                s.n_bytes += int(n_bytes[mask].sum())
    for split in SPLITS:
        stats[split].shards = writers[split].close()
    return stats


def write_manifest(out: Path, stats: dict[str, SplitStats], **identity) -> dict:
    """Write `manifest.json` beside the shards: `identity` (ids, dtype, config) plus the split stats."""
    manifest = {**identity, "splits": {split: asdict(s) for split, s in stats.items()}}
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def read_manifest(directory: Path) -> dict:
    try:
        return json.loads((directory / MANIFEST_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"token set {directory}: manifest cannot be read: {exc}") from exc


def verify(directory: Path, manifest_sha256: str, deep: bool = False) -> bool:
    """Whether a published token set is whole: its manifest is the recorded one and every shard has
    the size it lists (with `deep`, the sha256 it lists too)."""
    path = directory / MANIFEST_FILE
    if not path.is_file() or sha256_file(path) != manifest_sha256:
        return False
    manifest = read_manifest(directory)
    itemsize = np.dtype(manifest["dtype"]).itemsize
    for split in manifest["splits"].values():
        for shard in split["shards"]:
            file = directory / shard["file"]
            if not file.is_file() or file.stat().st_size != shard["n_tokens"] * itemsize:
                return False
            if deep and sha256_file(file) != shard["sha256"]:
                return False
    return True


def read_split(directory: Path, split: str) -> Iterator[np.ndarray]:
    """The shards of one split as read-only memory maps, in order."""
    manifest = read_manifest(directory)
    for shard in manifest["splits"][split]["shards"]:
        yield np.memmap(directory / shard["file"], dtype=np.dtype(manifest["dtype"]), mode="r")
