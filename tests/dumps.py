"""Writing small Reddit dumps in every format the source stage reads, for tests."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from pathlib import Path

import zstandard


def submission(id: str, url: str | None = "http://example.com/a", score=10, **fields) -> dict:
    record = {"id": id, "is_self": False, "over_18": False, "score": score,
              "subreddit": "news", "created_utc": 1120181161, "title": f"title {id}"}
    if url is not None:
        record["url"] = url
    record.update(fields)
    return record


def encode(records: list) -> bytes:
    """NDJSON; a `str` item is written as a raw line (for malformed input)."""
    return b"".join(
        (r if isinstance(r, str) else json.dumps(r)).encode() + b"\n" for r in records
    )


def compress(data: bytes, suffix: str) -> bytes:
    if suffix == ".zst":
        params = zstandard.ZstdCompressionParameters.from_level(3, window_log=27)
        return zstandard.ZstdCompressor(compression_params=params).compress(data)
    if suffix == ".xz":
        return lzma.compress(data)
    if suffix == ".bz2":
        return bz2.compress(data)
    if suffix == ".gz":
        return gzip.compress(data)
    return data


def write_dump(path: Path, records: list) -> Path:
    path.write_bytes(compress(encode(records), path.suffix))
    return path
