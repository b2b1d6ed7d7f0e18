"""A snapshot's texts, streamed in order, for training a tokenizer on more text than fits in memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from webtext.components.extract.snapshot import open_snapshot

_BATCH = 1024  # documents read at a time


class SnapshotTexts:
    """Iterates the `text` column of a snapshot file, stopping at the first document that would take
    the total past `max_bytes` UTF-8 bytes (None: every document); counts what it handed out."""

    def __init__(self, data: Path, max_bytes: int | None = None):
        self.data, self.max_bytes = data, max_bytes
        self.n_documents = self.n_bytes = 0

    def __iter__(self) -> Iterator[str]:
        self.n_documents = self.n_bytes = 0
        for batch in open_snapshot(self.data).iter_batches(columns=["text"], batch_size=_BATCH):
            for text in batch.column(0).to_pylist():
                size = len(text.encode())
                if self.max_bytes is not None and self.n_bytes + size > self.max_bytes:
                    return
                self.n_documents, self.n_bytes = self.n_documents + 1, self.n_bytes + size
                yield text
