"""A token set of random ids in the `tokenize` stage's format (train and val shards + manifest), cached in
`benchmarks/.work/`: what the training benchmarks feed the stage's data loader when only speed counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORK = Path(__file__).resolve().parent / ".work"


def random_token_set(name: str, vocab: int, train_tokens: int, val_tokens: int = 100_000) -> Path:
    from webtext.components.tokenize.shards import SplitStats, write_manifest

    directory = WORK / name
    if (directory / "manifest.json").exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    stats = {}
    for split, n in (("train", train_tokens), ("val", val_tokens)):
        rng.integers(1, vocab, n, dtype=np.uint16).tofile(directory / f"{split}-00000.bin")
        stats[split] = SplitStats(1, n, n * 4, [{"file": f"{split}-00000.bin", "n_tokens": n, "sha256": ""}])
    write_manifest(directory, stats, dtype="uint16")
    return directory
