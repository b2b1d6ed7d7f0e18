"""Token shards as training batches: random windows, the same on every run, resumable mid-epoch.

Micro-batch i of rank r is drawn from a generator seeded with (seed, r, i) and nothing else, so
after a restart at optimizer step s the stream simply starts again at i = s * accumulation: the
run continues with exactly the batches it would have seen (no sampler state to save, no skipping).
A window never crosses a shard boundary; a shard is picked in proportion to the windows it holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from webtext.components.tokenize.shards import read_split


class Windows:
    """Random (input, target) windows of `block_size` tokens over one split's shards."""

    def __init__(self, directory: Path, split: str, block_size: int):
        self.shards = [shard for shard in read_split(directory, split) if len(shard) > block_size]
        if not self.shards:
            raise ValueError(f"token set {directory}: no {split} shard holds {block_size + 1} tokens "
                             f"(one window); use a smaller block_size or a larger corpus")
        self.block_size = block_size
        starts = np.array([len(shard) - block_size for shard in self.shards], dtype=np.int64)
        self._cumulative = np.cumsum(starts)

    def batch(self, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        picks = rng.integers(0, self._cumulative[-1], size=size)
        shard_of = np.searchsorted(self._cumulative, picks, side="right")
        offsets = picks - np.concatenate(([0], self._cumulative[:-1]))[shard_of]
        rows = np.stack([self.shards[s][o:o + self.block_size + 1] for s, o in zip(shard_of, offsets)])
        rows = torch.from_numpy(rows.astype(np.int64))
        return rows[:, :-1], rows[:, 1:]


class TrainStream(IterableDataset):
    """Endless micro-batches from `start` on: the training loop ends at `max_steps`, not here."""

    def __init__(self, windows: Windows, batch_size: int, seed: int, rank: int, start: int):
        self.windows, self.batch_size = windows, batch_size
        self.seed, self.rank, self.start = seed, rank, start

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        i = self.start
        while True:
            x, y = self.windows.batch(np.random.default_rng([self.seed, self.rank, i]), self.batch_size)
            yield x, y, i
            i += 1


class FixedBatches(IterableDataset):
    """The same `count` batches every time: validation losses are comparable across steps and runs.
    Of `world` processes, rank r takes batches r, r + world, ...: together they score each batch once."""

    def __init__(self, windows: Windows, batch_size: int, count: int, seed: int, rank: int = 0,
                 world: int = 1):
        self.windows, self.batch_size, self.count, self.seed = windows, batch_size, count, seed
        self.rank, self.world = rank, world

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        for i in range(self.rank, self.count, self.world):
            x, y = self.windows.batch(np.random.default_rng([self.seed, 2**31, i]), self.batch_size)
            yield x, y, i


class TokenData(L.LightningDataModule):
    def __init__(self, directory: Path, block_size: int, batch_size: int, accumulation: int, seed: int,
                 val_batches: int):
        super().__init__()
        self.directory, self.block_size, self.batch_size = Path(directory), block_size, batch_size
        self.accumulation, self.seed, self.val_batches = accumulation, seed, val_batches

    def train_dataloader(self) -> DataLoader:
        # Called after a checkpoint is restored, so global_step is where the run left off.
        start = self.trainer.global_step * self.accumulation
        stream = TrainStream(Windows(self.directory, "train", self.block_size), self.batch_size, self.seed,
                             self.trainer.global_rank, start)
        return DataLoader(stream, batch_size=None)

    def val_dataloader(self) -> DataLoader:
        batches = FixedBatches(Windows(self.directory, "val", self.block_size), self.batch_size,
                               self.val_batches, self.seed, self.trainer.global_rank, self.trainer.world_size)
        return DataLoader(batches, batch_size=None)
