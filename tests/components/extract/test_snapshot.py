"""Snapshots are validated before they are published, published whole, and never changed after."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webtext.components.errors import InputError
from webtext.components.extract.snapshot import (
    CARD_FILE,
    DATA_FILE,
    MANIFEST_FILE,
    export,
    publish,
    validate,
    verify,
)
from webtext.components.files import sha256_file

ROWS = [
    {"doc_id": "a1", "url": "http://a.test/1", "title": "One", "text": "First text.", "karma": 5},
    {"doc_id": "b2", "url": "http://b.test/2", "title": None, "text": "Zweiter Text, ü.", "karma": 3},
]


def n_bytes(rows) -> int:
    return sum(len(r["text"].encode()) for r in rows)


def writer(rows):
    return lambda path: pq.write_table(pa.Table.from_pylist(rows), path)


def test_a_published_snapshot_holds_its_rows_and_a_manifest(tmp_path):
    target = tmp_path / "snapshots" / "s1"
    target.parent.mkdir()
    published = publish(target, writer(ROWS), len(ROWS), n_bytes(ROWS), {"snapshot_id": "s1"})
    assert pq.read_table(target / DATA_FILE).to_pylist() == ROWS
    manifest = json.loads((target / MANIFEST_FILE).read_text())
    assert manifest["snapshot_id"] == "s1" and manifest["n_documents"] == 2
    assert manifest["files"][DATA_FILE]["sha256"] == published.sha256 == sha256_file(target / DATA_FILE)
    assert sorted(p.name for p in target.parent.iterdir()) == ["s1"]  # no scratch left
    assert verify(target, published.sha256)


@pytest.mark.parametrize("rows, n, size, message", [
    (ROWS, 3, n_bytes(ROWS), "2 documents, expected 3"),
    (ROWS, 2, n_bytes(ROWS) + 1, "bytes of text"),
    ([ROWS[0], {**ROWS[1], "text": "  \n"}], 2, len(ROWS[0]["text"]) + 3, "empty text"),
    ([ROWS[0], {**ROWS[1], "doc_id": "a1"}], 2, n_bytes(ROWS), "repeated or out of order"),
    (ROWS[::-1], 2, n_bytes(ROWS), "repeated or out of order"),
    ([{k: v for k, v in r.items() if k != "karma"} for r in ROWS], 2, n_bytes(ROWS), "columns"),
])
def test_an_invalid_snapshot_is_refused_and_nothing_is_published(tmp_path, rows, n, size, message):
    target = tmp_path / "s1"
    with pytest.raises(InputError, match=message):
        publish(target, writer(rows), n, size, {})
    assert not target.exists()


def test_a_crashed_publish_leaves_nothing_that_a_retry_trips_on(tmp_path):
    target = tmp_path / "s1"

    def crash(path):
        path.write_bytes(b"half a parquet file")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        publish(target, crash, len(ROWS), n_bytes(ROWS), {})
    assert not target.exists()
    publish(target, writer(ROWS), len(ROWS), n_bytes(ROWS), {})
    assert [p.name for p in tmp_path.iterdir()] == ["s1"]


def test_export_copies_a_verified_snapshot_and_refuses_a_changed_one(tmp_path):
    target = tmp_path / "s1"
    published = publish(target, writer(ROWS), len(ROWS), n_bytes(ROWS), {})
    out = tmp_path / "out"
    written = export(target, published.sha256, out, "# card\n")
    assert [p.name for p in written] == [DATA_FILE, MANIFEST_FILE, CARD_FILE]
    assert (out / CARD_FILE).read_text() == "# card\n"
    assert sha256_file(out / DATA_FILE) == published.sha256
    pq.write_table(pa.Table.from_pylist(ROWS[:1]), target / DATA_FILE)  # changed behind our back
    assert not verify(target, published.sha256)
    with pytest.raises(InputError, match="does not match its recorded sha256"):
        export(target, published.sha256, tmp_path / "again", "# card\n")


def test_an_empty_kept_set_is_a_valid_snapshot(tmp_path):
    schema = pa.schema([("doc_id", pa.string()), ("url", pa.string()), ("title", pa.string()),
                        ("text", pa.string()), ("karma", pa.int64())])
    publish(tmp_path / "s0", lambda p: pq.write_table(schema.empty_table(), p), 0, 0, {})
    validate(tmp_path / "s0" / DATA_FILE, 0, 0)
