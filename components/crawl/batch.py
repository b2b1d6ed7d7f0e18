"""One crawl batch: a Parquet list of URLs in, WARC files and a Parquet file of outcomes out.

A batch never touches the warehouse (DuckDB admits one writer): the flow loads each batch's
outcome file in one transaction, so a killed crawl leaves its unfinished batches `pending`.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import brotli
import pyarrow as pa
import pyarrow.parquet as pq

from webtext.components.config import CrawlConfig
from webtext.components.crawl.decoding import (
    BoundedDecoder,
    TooLarge,
    UnsupportedEncoding,
    classify,
    media_type,
)
from webtext.components.crawl.fetcher import Fetcher, FetchResult
from webtext.components.crawl.status import UrlStatus
from webtext.components.crawl.warc import WarcWriter, iter_responses
from webtext.components.files import atomic_path
from webtext.components.source.urls import BadUrl, normalise

OUTCOMES = pa.schema([
    ("url", pa.string()),
    ("status", pa.string()),
    ("http_status", pa.int32()),
    ("attempts", pa.int32()),
    ("error", pa.string()),
    ("fetched_at", pa.timestamp("us", tz="UTC")),
    ("final_url", pa.string()),
    ("content_type", pa.string()),
    ("charset", pa.string()),
    ("warc_file", pa.string()),
    ("warc_offset", pa.int64()),
    ("warc_length", pa.int64()),
])


def read_urls(batch: Path) -> list[str]:
    return pq.read_table(batch, columns=["url"]).column("url").to_pylist()


def _row(result: FetchResult, warc_file: str | None = None) -> dict:
    ref = result.warc
    return {
        "url": result.url, "status": result.status, "http_status": result.http_status,
        "attempts": result.attempts, "error": result.error, "fetched_at": result.fetched_at,
        "final_url": result.final_url, "content_type": result.content_type,
        "charset": result.charset, "warc_file": warc_file or (ref.file if ref else None),
        "warc_offset": ref.offset if ref else None, "warc_length": ref.length if ref else None,
    }


def _write_outcomes(rows: list[dict], target: Path) -> Counter:
    with atomic_path(target) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=OUTCOMES), tmp)
    return Counter(row["status"] for row in rows)


async def _fetch_all(urls: list[str], config: CrawlConfig, writer: WarcWriter) -> list[dict]:
    # DNS lookups run in the loop's default executor; its stock size (cores + 4) would let a few
    # hung resolvers stall every other host's lookups.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=min(config.concurrency, 128), thread_name_prefix="dns"))
    async with Fetcher(config, writer) as fetcher:
        return [_row(result) async for result in fetcher.crawl(urls)]


def crawl_batch(batch: Path, config: CrawlConfig, warc_dir: Path, prefix: str, outcomes: Path) -> Counter:
    """Fetch every URL of `batch` over HTTP; returns the count of each terminal status."""
    with WarcWriter(warc_dir, prefix, config.warc_max_bytes) as writer:
        rows = asyncio.run(_fetch_all(read_urls(batch), config, writer))
    return _write_outcomes(rows, outcomes)


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


def _decoded(headers: list[tuple[str, str]], body: bytes, limit: int) -> bytes | None:
    """The archived (still content-encoded) body decoded as the fetcher would; None past `limit`."""
    decoder = BoundedDecoder(_header(headers, "content-encoding"), limit)
    try:
        decoder.feed(body)
    except TooLarge:
        return None
    return decoder.body()


def read_archives(urls: Iterable[str], inputs: list[Path], config: CrawlConfig, outcomes: Path) -> Counter:
    """Statuses for `urls` from existing WARC files instead of the network.

    Each HTTP response record whose target URI normalises to one of `urls` is judged as a fetch
    would be (HTTP status, size cap, HTML or not, charset); redirect records are skipped, so a URL
    archived only as a redirect stays pending. The first matching record of a URL wins. Rows
    point at the input files by absolute path.
    """
    wanted = set(urls)
    rows: dict[str, dict] = {}
    for path in inputs:
        for page in iter_responses([path]):
            if 300 <= page.status < 400:
                continue
            try:
                url = normalise(page.url).url
            except BadUrl:
                continue
            if url not in wanted or url in rows:
                continue
            content_type = _header(page.headers, "content-type")
            try:
                body = None if page.truncated else _decoded(page.headers, page.body, config.max_bytes)
            except (UnsupportedEncoding, zlib.error, brotli.error):
                continue
            if body is None:
                status, charset = UrlStatus.too_large, None
            else:
                status, charset = classify(page.status, content_type, body)
            error = None if status == UrlStatus.ok else f"archived as {status}, HTTP {page.status}"
            rows[url] = _row(
                FetchResult(url, status, http_status=page.status, attempts=0, final_url=page.url,
                            warc=page.ref, content_type=media_type(content_type) or None,
                            charset=charset, fetched_at=page.fetched_at,
                            error=error),
                warc_file=str(path.resolve()),
            )
    return _write_outcomes(list(rows.values()), outcomes)
