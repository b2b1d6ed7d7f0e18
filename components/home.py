"""WEBTEXT_HOME: the one directory a run writes to. Two homes never share state."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".webtext"


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def from_env(cls) -> Home:
        return cls(Path(os.environ.get("WEBTEXT_HOME", DEFAULT_HOME)).expanduser().resolve())

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def staging(self) -> Path:
        """Intermediate batches a killed run resumes from; removed once loaded."""
        return self.root / "staging"

    @property
    def sample(self) -> Path:
        return self.root / "sample"

    @property
    def warc(self) -> Path:
        """Raw responses, kept so that extraction never needs a re-crawl."""
        return self.root / "warc"

    @property
    def extract(self) -> Path:
        """Extracted text, one immutable Parquet shard per batch: re-filtering reads it, not WARC."""
        return self.root / "extract"

    @property
    def snapshots(self) -> Path:
        """Published corpus snapshots, one directory each, never changed once published."""
        return self.root / "snapshots"

    @property
    def tokenizers(self) -> Path:
        """Trained tokenizers, one directory each (`tokenizer.json`, loadable by transformers)."""
        return self.root / "tokenizers"

    @property
    def tokens(self) -> Path:
        """Token sets: a snapshot's train/val shards and their manifest, one directory each."""
        return self.root / "tokens"

    @property
    def measurements(self) -> Path:
        """What each kind of machine was measured to do (`precision: auto`), one file per kind."""
        return self.root / "measurements"

    @property
    def runs(self) -> Path:
        """Training runs, one directory per checkpoint id: resumable state, logs, the weights handed on."""
        return self.root / "runs"

    @property
    def evaluate(self) -> Path:
        """What evaluation derives once per input and reuses: the n-gram index of each snapshot."""
        return self.root / "evaluate"

    @property
    def reports(self) -> Path:
        """The claims reports, `<report_id>/report.md`, `report.html` and `figures/`, one per state of the
        warehouse they were drawn from."""
        return self.root / "reports"

    @property
    def registry(self) -> Path:
        """Registered model versions, `<name>/<version>/`, never changed once written."""
        return self.root / "registry"

    @property
    def prefect(self) -> Path:
        return self.root / "prefect"
