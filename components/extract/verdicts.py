"""Judging extracted documents: every filter in order, then the keys dedup needs.

A judged shard is a Parquet file beside nothing but its input shard: workers never open the
warehouse (DuckDB has one writer), and judging the same shard twice writes the same file.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from webtext.components.config import ExtractConfig
from webtext.components.errors import InputError
from webtext.components.extract.dedup import MinHasher, exact_key
from webtext.components.extract.filters import Doc, build_filters, judge
from webtext.components.files import atomic_path
from webtext.components.lifetime import exit_with_parent

VERDICT_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("url", pa.string()), ("final_url", pa.string()),
    ("canonical_url", pa.string()), ("title", pa.string()), ("text", pa.string()),
    ("reason", pa.string()),  # the extraction failure or first failing filter; null when every one passed
    ("lang", pa.string()), ("lang_score", pa.float64()), ("n_words", pa.int64()), ("n_bytes", pa.int64()),
    ("exact_key", pa.int64()), ("bands", pa.list_(pa.int64())),
])
_SHARD_COLUMNS = ["doc_id", "url", "final_url", "canonical_url", "title", "text", "status"]


def judge_shard(shard: Path, out: Path, config: ExtractConfig) -> dict[str, int]:
    """Judge every document of one extraction shard into `out`; return counts per reason."""
    try:
        table = pq.read_table(shard, columns=_SHARD_COLUMNS)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"extraction shard {shard} cannot be read: {exc}") from exc
    filters, hasher = build_filters(config.filters), MinHasher(config.dedup)
    rows: dict[str, list] = {name: [] for name in VERDICT_SCHEMA.names}
    counts: Counter[str] = Counter()
    for record in table.to_pylist():
        doc = Doc(text=record["text"] or "", url=record["url"], final_url=record["final_url"],
                  canonical_url=record["canonical_url"])
        reason = record["status"] if record["status"] != "ok" else judge(doc, filters)
        passed = reason is None
        for name in ("doc_id", "url", "final_url", "canonical_url", "title"):
            rows[name].append(record[name])
        rows["text"].append(doc.text)
        rows["reason"].append(reason)
        rows["lang"].append(doc.lang)
        rows["lang_score"].append(doc.lang_score)
        rows["n_words"].append(len(doc.text.split()))
        rows["n_bytes"].append(len(doc.text.encode()))
        # Only documents that passed every filter take part in dedup: hashing the rest is waste.
        rows["exact_key"].append(exact_key(doc.text) if passed else None)
        rows["bands"].append(hasher.band_keys(doc.text).tolist() if passed else None)
        counts[reason or "passed"] += 1
    with atomic_path(out) as tmp:
        pq.write_table(pa.table(rows, schema=VERDICT_SCHEMA), tmp, compression="zstd")
    return dict(counts)


def judge_shards(jobs: Sequence[tuple[Path, Path]], config: ExtractConfig,
                 workers: int) -> Iterator[tuple[Path, dict[str, int]]]:
    """Judge (shard, out) pairs on `workers` processes; yield each out path as it is written."""
    if workers == 1 or len(jobs) == 1:
        for shard, out in jobs:
            yield out, judge_shard(shard, out, config)
        return
    # spawn, not fork: the caller (a Prefect flow) runs threads, and a forked lock stays locked.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context,
                             initializer=exit_with_parent) as pool:
        futures = {pool.submit(judge_shard, shard, out, config): out for shard, out in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()
