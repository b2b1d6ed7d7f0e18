"""Turning one dump file into staged Parquet batches of selected submissions.

A dump is read once, line by line, and cut into batches of `source.batch_lines` lines. Each batch is
written atomically as `batch-NNNNNN.parquet` with its funnel counts in the file's metadata, so a
killed run resumes after the last complete batch. Nothing reaches the warehouse until the whole file
has been read to its end marker and judged sane; the flow then loads every batch in one transaction.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from components.config import CrawlConfig, SourceConfig
from components.errors import InputError
from components.files import atomic_path, stable_hash
from components.source.readers import iter_lines
from components.source.submissions import REJECTIONS, Submission, select
from components.source.urls import BadUrl, UrlFilter, normalise

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
COUNTS = ("lines", *REJECTIONS, "selected")
_META_KEY = b"webtext.counts"


def config_hash(source: SourceConfig, crawl: CrawlConfig) -> str:
    """Everything that changes what a dump yields: the source section and the filter's trusted hosts."""
    relevant = source.model_dump(exclude={"dumps", "batch_lines", "max_malformed_fraction"})
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


def _row(sub: Submission, url_filter: UrlFilter) -> tuple:
    try:
        url = normalise(sub.url)
    except BadUrl as bad:
        return (sub.id, sub.url.strip(), sub.url, None, sub.score, sub.subreddit, sub.created_utc,
                bad.reason)
    return (sub.id, url.url, sub.url, url.host, sub.score, sub.subreddit, sub.created_utc,
            url_filter.reason(url))


def stage_dump(path: Path, source: SourceConfig, crawl: CrawlConfig, directory: Path) -> StagedDump:
    """Read `path` into Parquet batches under `directory`, resuming after complete batches.

    Raises InputError naming the file when it cannot be read to its end or is mostly malformed;
    the staged batches are removed then, so a failed file leaves nothing behind.
    """
    directory.mkdir(parents=True, exist_ok=True)
    done: list[Path] = []
    counts: Counter = Counter()
    resume_line = 0
    while _batch_path(directory, len(done)).exists():
        batch = _batch_path(directory, len(done))
        meta = _read_meta(batch)
        counts.update(meta["counts"])
        resume_line = meta["end_line"]
        done.append(batch)

    url_filter = UrlFilter(source, crawl)
    rows: list[tuple] = []
    batch_counts: Counter = Counter()
    line_no = 0
    try:
        for line_no, line in enumerate(iter_lines(path), start=1):
            if line_no <= resume_line:
                continue
            if line.strip():
                batch_counts["lines"] += 1
                verdict = select(line, source)
                if isinstance(verdict, str):
                    batch_counts[verdict] += 1
                else:
                    batch_counts["selected"] += 1
                    rows.append(_row(verdict, url_filter))
            if line_no % source.batch_lines == 0:
                done.append(_batch_path(directory, len(done)))
                _write_batch(done[-1], rows, batch_counts, line_no)
                counts.update(batch_counts)
                rows, batch_counts = [], Counter()
        if line_no > resume_line and (rows or batch_counts):
            done.append(_batch_path(directory, len(done)))
            _write_batch(done[-1], rows, batch_counts, line_no)
            counts.update(batch_counts)
        malformed = counts["malformed"]
        if malformed and malformed > source.max_malformed_fraction * counts["lines"]:
            raise InputError(
                f"{path}: {malformed:,} of {counts['lines']:,} lines are not JSON submissions "
                f"(more than source.max_malformed_fraction={source.max_malformed_fraction}); "
                "is this a Reddit submissions dump?"
            )
    except InputError:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return StagedDump(path=path, directory=directory, batches=done, counts=counts)
