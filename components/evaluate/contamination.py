"""Test-set contamination: which evaluation examples share an n-gram of words with the training corpus.

GPT-2 (section 4) matched 8-grams through Bloom filters; GPT-3 (appendix C) 13-grams after lowercasing
and dropping punctuation. Here words are lowercased `\\w+` runs, each n-gram is a 64-bit hash (a
polynomial over xxh3 word hashes, computed for a whole document at once with numpy), and the corpus
index is the sorted array of its distinct n-gram hashes: exact up to 64-bit collisions. A Bloom filter
would take a third of the memory but its false positives compound over the dozens of n-grams of one
example; at the rates that keep the per-example error small the saving is gone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import xxhash

from webtext.components.config import EvalTaskConfig, TaskConfig
from webtext.components.files import atomic_path

_WORD = re.compile(r"\w+")
_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd, so the polynomial hash is a bijection per position


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngram_hashes(text: str, n: int, word_hash: dict[str, int] | None = None) -> np.ndarray:
    """The hash of every word n-gram of `text` (empty when it has fewer than n words)."""
    cache = {} if word_hash is None else word_hash
    tokens = words(text)
    if len(tokens) < n:
        return np.empty(0, dtype=np.uint64)
    hashed = np.empty(len(tokens), dtype=np.uint64)
    for i, word in enumerate(tokens):
        h = cache.get(word)
        if h is None:
            h = cache[word] = xxhash.xxh3_64_intdigest(word.encode())
        hashed[i] = h
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64 is the point
        out = hashed[: len(tokens) - n + 1].copy()
        for offset in range(1, n):
            out = out * _BASE + hashed[offset: len(tokens) - n + 1 + offset]
    return out


class NgramIndex:
    """The distinct n-gram hashes of a corpus, sorted; `overlaps(text)` says whether any n-gram of
    `text` occurs in it."""

    def __init__(self, hashes: np.ndarray, n: int):
        self.hashes, self.n = hashes, n

    @classmethod
    def build(cls, texts: Iterable[str], n: int, chunk: int = 1 << 22) -> NgramIndex:
        """Index a stream of documents, deduplicating in chunks so memory follows distinct n-grams."""
        cache: dict[str, int] = {}
        parts, pending, size = [], [], 0
        for text in texts:
            hashes = ngram_hashes(text, n, cache)
            pending.append(hashes)
            size += len(hashes)
            if size >= chunk:
                parts.append(np.unique(np.concatenate(pending)))
                pending, size = [], 0
        parts.append(np.unique(np.concatenate(pending)) if pending else np.empty(0, dtype=np.uint64))
        return cls(np.unique(np.concatenate(parts)), n)

    def overlaps(self, text: str) -> bool:
        hashes = ngram_hashes(text, self.n)
        if not len(hashes) or not len(self.hashes):
            return False
        at = np.searchsorted(self.hashes, hashes)
        return bool((self.hashes[np.minimum(at, len(self.hashes) - 1)] == hashes).any())

    def save(self, path: Path) -> None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, self.hashes)

    @classmethod
    def load(cls, path: Path, n: int) -> NgramIndex:
        return cls(np.load(path), n)

    @classmethod
    def cached(cls, path: Path, texts: Callable[[], Iterable[str]], n: int) -> NgramIndex:
        """The index saved at `path`, or one built from `texts()` and saved there: built once per
        snapshot and n, since a snapshot never changes."""
        if path.is_file():
            return cls.load(path, n)
        index = cls.build(texts(), n)
        index.save(path)
        return index


def contamination(index: NgramIndex, texts: Iterable[str]) -> tuple[float, int]:
    """The share of `texts` with at least one n-gram in the index, and how many texts there were."""
    flags = [index.overlaps(text) for text in texts]
    return (sum(flags) / len(flags) if flags else 0.0), len(flags)


def paragraphs(path: Path) -> list[str]:
    """A text file's paragraphs (blank-line separated): the examples of a text set, so that its
    contamination is a share of passages as a task's is a share of examples."""
    return [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]


def evaluation_sets(tasks: list[EvalTaskConfig], finetune_tasks: list[TaskConfig], texts: list[Path],
                    cache: Path) -> dict[str, list[str]]:
    """The texts of every evaluation set, by the name its scores carry: each zero/few-shot task's
    examples, each fine-tuning task's validation rows (their input fields joined), and the paragraphs
    of each of `evaluate.texts` (`texts/<name>`) and of all of them (`texts`)."""
    from webtext.components.evaluate.tasks import examples
    from webtext.components.task_files import load_split

    sets = {t.name: [e.text for e in examples(t, load_split(t, t.split, cache)[: t.max_examples])]
            for t in tasks}
    for task in finetune_tasks:
        rows = load_split(task, task.validation_split, cache)[: task.max_validation_examples]
        columns = [c for f in task.fields for c in (f if isinstance(f, list) else [f])]
        sets[task.name] = [" ".join(str(row.get(c, "")) for c in columns) for row in rows]
    for path in texts:
        sets[f"texts/{path.name}"] = paragraphs(path)
    if texts:
        sets["texts"] = [p for path in texts for p in sets[f"texts/{path.name}"]]
    return sets
