"""Turning one dump file into staged Parquet batches of selected submissions.

A dump is read once, line by line, and cut into batches of `source.batch_lines` lines. Each batch is
written atomically as `batch-NNNNNN.parquet` with its funnel counts in the file's metadata, so a
killed run resumes after the last complete batch. Nothing reaches the warehouse until the whole file
has been read to its end marker and judged sane; the flow then loads every batch in one transaction.
"""

from __future__ import annotations

import shutil
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from webtext.components.config import CrawlConfig, SourceConfig
from webtext.components.errors import InputError
from webtext.components.files import atomic_path, stable_hash
from webtext.components.source.readers import iter_lines
from webtext.components.source.selection import select_chunks

# Bump when selection, normalisation or filtering changes what a dump yields.
CODE_VERSION = 1

SCHEMA = pa.schema([
    ("id", pa.string()),
    ("url", pa.string()),
    ("raw_url", pa.string()),
    ("host", pa.string()),
    ("score", pa.int32()),
    ("subreddit", pa.string()),
    ("created_utc", pa.int64()),
    ("reason", pa.string()),  # URL filter reason; null means the URL is pending a fetch
])
_META_KEY = b"webtext.counts"
CHUNK_LINES = 4096  # ~8 MB of raw lines per hand-off to a worker: amortises it, keeps memory flat


def config_hash(source: SourceConfig, crawl: CrawlConfig) -> str:
    """Everything that changes what a dump yields: the source section and the filter's trusted hosts."""
    relevant = source.model_dump(exclude={"dumps", "batch_lines", "max_malformed_fraction", "workers"})
    return stable_hash({"source": relevant, "allow": crawl.allow, "resolve": sorted(crawl.resolve),
                        "code": CODE_VERSION})


@dataclass
class StagedDump:
    """One dump file read to its end: where its batches are and what the funnel counted."""

    path: Path
    directory: Path
    batches: list[Path]
    counts: Counter = field(default_factory=Counter)


def _batch_path(directory: Path, index: int) -> Path:
    return directory / f"batch-{index:06d}.parquet"


def _write_batch(target: Path, rows: list[tuple], counts: Counter, end_line: int) -> None:
    columns = list(zip(*rows)) if rows else [[] for _ in SCHEMA]
    table = pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, SCHEMA)],
                                 schema=SCHEMA)
    meta = {"counts": dict(counts), "end_line": end_line}
    table = table.replace_schema_metadata({_META_KEY: orjson.dumps(meta)})
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp)


def _read_meta(path: Path) -> dict:
    return orjson.loads(pq.read_schema(path).metadata[_META_KEY])


def aligned_chunks(lines: Iterator[bytes], batch_lines: int) -> Iterator[list[bytes]]:
    """Chunks of at most CHUNK_LINES lines that never straddle a batch boundary."""
    while True:
        left = batch_lines
        while left:
            chunk = list(islice(lines, min(CHUNK_LINES, left)))
            if not chunk:
                return
            yield chunk
            left -= len(chunk)


def stage_dump(path: Path, source: SourceConfig, crawl: CrawlConfig, directory: Path,
               on_batch: Callable[[StagedDump], None] | None = None) -> StagedDump:
    """Read `path` into Parquet batches under `directory`, resuming after complete batches.

    `on_batch` sees the running totals after each batch is written: progress for long dumps.

    Raises InputError naming the file when it cannot be read to its end or is mostly malformed;
    the staged batches are removed then, so a failed file leaves nothing behind.
    """
    directory.mkdir(parents=True, exist_ok=True)
    staged = StagedDump(path=path, directory=directory, batches=[])
    end_line = 0
    while (batch := _batch_path(directory, len(staged.batches))).exists():
        meta = _read_meta(batch)
        staged.counts.update(meta["counts"])
        end_line = meta["end_line"]
        staged.batches.append(batch)

    def flush(rows: list[tuple], counts: Counter) -> None:
        nonlocal end_line
        end_line += counts["lines"]
        staged.batches.append(_batch_path(directory, len(staged.batches)))
        _write_batch(staged.batches[-1], rows, counts, end_line)
        staged.counts.update(counts)
        if on_batch:
            on_batch(staged)

    try:
        lines = iter_lines(path)
        deque(islice(lines, end_line), maxlen=0)  # decompress past what is staged already
        chunks = aligned_chunks(lines, source.batch_lines)
        rows: list[tuple] = []
        counts: Counter = Counter()
        for chunk_rows, chunk_counts in select_chunks(chunks, source, crawl, source.workers):
            rows.extend(chunk_rows)
            counts.update(chunk_counts)
            if counts["lines"] == source.batch_lines:
                flush(rows, counts)
                rows, counts = [], Counter()
        if counts:
            flush(rows, counts)
        malformed, total = staged.counts["malformed"], staged.counts["lines"]
        if malformed and malformed > source.max_malformed_fraction * total:
            raise InputError(
                f"{path}: {malformed:,} of {total:,} lines are not JSON submissions "
                f"(more than source.max_malformed_fraction={source.max_malformed_fraction}); "
                "is this a Reddit submissions dump?"
            )
    except InputError:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return staged
