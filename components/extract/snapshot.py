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

from webtext.components.errors import InputError
from webtext.components.files import atomic_path, publish_directory, sha256_file

DATA_FILE = "data.parquet"
MANIFEST_FILE = "manifest.json"
CARD_FILE = "README.md"  # the dataset card an export carries (components.extract.card)
COLUMNS = ("doc_id", "url", "title", "text", "karma")


@dataclass(frozen=True)
class Published:
    directory: Path
    sha256: str  # of data.parquet
    n_documents: int
    n_bytes: int


def open_snapshot(data: Path) -> pq.ParquetFile:
    """A snapshot file opened for reading in batches in constant memory; a bad file is named.

    Without `pre_buffer=False` pyarrow reads ahead every column chunk it will need (memory grew with
    the file: +165 MB over a 150 MB snapshot), and without `buffer_size` a row group's column is read
    whole (DuckDB writes row groups of 122,880 rows, some 250 MB of web text).
    """
    try:
        return pq.ParquetFile(data, pre_buffer=False, buffer_size=1 << 20)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"snapshot file {data} cannot be read: {exc}") from exc


def validate(data: Path, n_documents: int, n_bytes: int) -> None:
    """Refuse a snapshot file that is not exactly the kept set: columns, counts, bytes, no empty
    text, doc ids strictly ascending (so none repeats). Streams: a corpus need not fit in memory."""
    where = f"snapshot file {data}"
    snapshot = open_snapshot(data)
    if tuple(snapshot.schema_arrow.names) != COLUMNS:
        raise InputError(f"{where}: columns {snapshot.schema_arrow.names}, expected {list(COLUMNS)}")
    rows, size, last = 0, 0, None
    for batch in snapshot.iter_batches(columns=["doc_id", "text"], batch_size=8192):
        ids, text = batch.column("doc_id"), batch.column("text")
        if text.null_count or pc.min(pc.utf8_length(pc.utf8_trim_whitespace(text))).as_py() == 0:
            raise InputError(f"{where}: holds an empty text")
        ordered = pc.all(pc.less(ids[:-1], ids[1:])).as_py() is not False
        if ids.null_count or not ordered or (last is not None and ids[0].as_py() <= last):
            raise InputError(f"{where}: a doc_id is repeated or out of order")
        rows, size, last = rows + len(batch), size + pc.sum(pc.binary_length(text)).as_py(), ids[-1].as_py()
    if rows != n_documents:
        raise InputError(f"{where}: {rows} documents, expected {n_documents}")
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


def export(directory: Path, sha256: str, out: Path, card: str) -> list[Path]:
    """Copy a published snapshot's files into `out` with its dataset card, checking the data against its
    recorded hash first; each file lands whole (written aside, then renamed)."""
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
    with atomic_path(out / CARD_FILE) as tmp:
        tmp.write_text(card)
    return [*written, out / CARD_FILE]
