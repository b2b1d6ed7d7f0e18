"""A batch of archived pages to one Parquet shard of main texts, one row per page.

The parent reads WARC records and nothing else; decoding and extraction happen in the pool's
workers, so a page that hangs or crashes its parser costs one row, never the batch. A record that
cannot be read is a row too (`extract_error` naming the WARC file and offset).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from webtext.components.crawl.warc import WarcRef, read_response
from webtext.components.errors import InputError
from webtext.components.extract.pool import STATUSES, ExtractionPool, PageJob, PageResult
from webtext.components.files import atomic_path

PAGES = pa.schema([
    ("doc_id", pa.string()),
    ("url", pa.string()),
    ("final_url", pa.string()),
    ("canonical_url", pa.string()),
    ("title", pa.string()),
    ("text", pa.string()),
    ("status", pa.string()),  # one of pool.STATUSES
    ("error", pa.string()),
    ("html_bytes", pa.int64()),  # the body as archived (before Content-Encoding); null if unread
    ("seconds", pa.float64()),  # decoding + extraction in the worker; null if the record was unread
])


@dataclass(frozen=True)
class PageRef:
    doc_id: str
    url: str  # the URL as submitted
    final_url: str | None  # where redirects ended, when they did
    warc_file: str  # relative to warc_dir, or absolute
    warc_offset: int
    warc_length: int
    charset: str | None  # as the crawl recorded it; None to detect


def extract_pages(
    refs: Sequence[PageRef],
    out: Path,
    *,
    warc_dir: Path,
    extractor: str,
    workers: int,
    timeout_s: float,
    max_bytes: int,
) -> dict[str, int]:
    """Extract every page of `refs` into the Parquet file `out` (replaced atomically); count each status.

    Rows keep the order of `refs`. Every status of `pool.STATUSES` is counted, zeros included.
    """
    repeated = [doc_id for doc_id, n in Counter(ref.doc_id for ref in refs).items() if n > 1]
    if repeated:
        raise InputError(f"doc_id {repeated[0]!r} appears more than once in one extraction batch")
    unread: dict[str, str] = {}
    html_bytes: dict[str, int] = {}
    with ExtractionPool(extractor, workers, timeout_s, max_bytes) as pool:
        results = {r.key: r for r in pool.map(_jobs(refs, Path(warc_dir), unread, html_bytes))}
    rows = [
        _unread_row(ref, unread[ref.doc_id]) if ref.doc_id in unread
        else _row(ref, results[ref.doc_id], html_bytes[ref.doc_id])
        for ref in refs
    ]
    with atomic_path(Path(out)) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=PAGES), tmp)
    counts = dict.fromkeys(STATUSES, 0)
    for row in rows:
        counts[row["status"]] += 1
    return counts


def _jobs(
    refs: Sequence[PageRef], warc_dir: Path, unread: dict[str, str], html_bytes: dict[str, int]
) -> Iterator[PageJob]:
    """The pool's jobs, read one record at a time as workers free up; unreadable ones go to `unread`."""
    for ref in refs:
        try:
            page = read_response(warc_dir, WarcRef(ref.warc_file, ref.warc_offset, ref.warc_length))
        except (InputError, OSError, ValueError) as exc:
            where = f"{ref.warc_file} at offset {ref.warc_offset}"
            unread[ref.doc_id] = f"unreadable WARC record in {where}: {exc}"
            continue
        html_bytes[ref.doc_id] = len(page.body)
        yield PageJob(ref.doc_id, page.url, page.body, page.headers, ref.charset)


def _row(ref: PageRef, result: PageResult, html_bytes: int) -> dict:
    return {
        "doc_id": ref.doc_id, "url": ref.url, "final_url": ref.final_url,
        "canonical_url": result.canonical_url, "title": result.title, "text": result.text,
        "status": result.status, "error": result.error, "html_bytes": html_bytes,
        "seconds": result.seconds,
    }


def _unread_row(ref: PageRef, error: str) -> dict:
    return {
        "doc_id": ref.doc_id, "url": ref.url, "final_url": ref.final_url, "canonical_url": None,
        "title": None, "text": "", "status": "extract_error", "error": error, "html_bytes": None,
        "seconds": None,
    }
