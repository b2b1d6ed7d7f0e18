"""Publishing a corpus snapshot: written aside, validated, then renamed into place, never changed.

A snapshot is a directory `snapshots/<id>/` holding `data.parquet` (doc_id, url, title, text, karma;
one row per kept document, ordered by doc_id) and `manifest.json`. Readers see either no directory
or a whole, validated one: `datasets.load_dataset("parquet", data_files=".../data.parquet")` loads it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from components.errors import InputError
from components.files import atomic_path, publish_directory, sha256_file

DATA_FILE = "data.parquet"
MANIFEST_FILE = "manifest.json"
COLUMNS = ("doc_id", "url", "title", "text", "karma")


@dataclass(frozen=True)
class Published:
    directory: Path
    sha256: str  # of data.parquet
    n_documents: int
    n_bytes: int


def validate(data: Path, n_documents: int, n_bytes: int) -> None:
    """Refuse a snapshot file that is not exactly the kept set: counts, columns, no empty text."""
    table = pq.read_table(data)
    where = f"snapshot file {data}"
    if tuple(table.column_names) != COLUMNS:
        raise InputError(f"{where}: columns {table.column_names}, expected {list(COLUMNS)}")
    if table.num_rows != n_documents:
        raise InputError(f"{where}: {table.num_rows} documents, expected {n_documents}")
    if n_documents == 0:
        return
    text = table.column("text")
    if text.null_count or pc.min(pc.utf8_length(pc.utf8_trim_whitespace(text))).as_py() == 0:
        raise InputError(f"{where}: holds an empty text")
    if pc.count_distinct(table.column("doc_id")).as_py() != n_documents:
        raise InputError(f"{where}: a doc_id appears twice")
    size = pc.sum(pc.binary_length(pc.cast(text, "binary"))).as_py()
    if size != n_bytes:
        raise InputError(f"{where}: {size} bytes of text, expected {n_bytes}")


def publish(directory: Path, write: Callable[[Path], None], n_documents: int, n_bytes: int,
            manifest: dict) -> Published:
    """Have `write` fill `data.parquet`, validate it, and publish it with its manifest as `directory`,
    whole or not at all (`components.files.publish_directory`)."""

    def fill(scratch: Path) -> str:
        data = scratch / DATA_FILE
        write(data)
        validate(data, n_documents, n_bytes)
        digest = sha256_file(data)
        full = {**manifest, "n_documents": n_documents, "n_bytes": n_bytes,
                "files": {DATA_FILE: {"sha256": digest}},
                "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
        (scratch / MANIFEST_FILE).write_text(json.dumps(full, indent=1, sort_keys=True) + "\n")
        return digest

    digest = publish_directory(directory, fill)
    return Published(directory, digest, n_documents, n_bytes)


def verify(directory: Path, sha256: str) -> bool:
    """Whether a published snapshot's data file is still the one recorded."""
    data = directory / DATA_FILE
    return data.is_file() and sha256_file(data) == sha256


def read_manifest(directory: Path) -> dict:
    try:
        return json.loads((directory / MANIFEST_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"snapshot {directory}: manifest cannot be read: {exc}") from exc


def export(directory: Path, sha256: str, out: Path) -> list[Path]:
    """Copy a published snapshot's files into `out`, checking the data against its recorded hash
    first; each file lands whole (copied aside, then renamed)."""
    if not verify(directory, sha256):
        raise InputError(
            f"snapshot {directory}: {DATA_FILE} is missing or does not match its recorded sha256"
        )
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in (DATA_FILE, MANIFEST_FILE):
        target = out / name
        with atomic_path(target) as tmp:
            shutil.copyfile(directory / name, tmp)
        written.append(target)
    return written
