"""The tokenize stage's SQL against a real migrated warehouse: tokenizers, token sets and their splits."""

import duckdb
import pytest

from webtext import warehouse
from webtext.warehouse import tokenize as queries


@pytest.fixture
def con(tmp_path):
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        yield con


def split(n_documents: int, n_tokens: int, n_bytes: int, shards: int) -> dict:
    """A split as the manifest lists it."""
    return {"n_documents": n_documents, "n_tokens": n_tokens, "n_bytes": n_bytes,
            "shards": [{"file": f"shard-{i:05d}.bin"} for i in range(shards)]}


def test_a_retrained_tokenizer_replaces_its_row(con):
    assert queries.tokenizer_row(con, "tok1") is None
    queries.record_tokenizer(con, tokenizer_id="tok1", snapshot_id="snap1", vocab_size=512, path="tok1",
                             sha256="aa", config_json='{"vocab_size": 512}', trained_bytes=1000)
    row = queries.tokenizer_row(con, "tok1")
    columns = ("snapshot_id", "vocab_size", "path", "sha256", "config", "trained_bytes")
    assert {k: row[k] for k in columns} == {"snapshot_id": "snap1", "vocab_size": 512, "path": "tok1",
                                            "sha256": "aa", "config": '{"vocab_size": 512}',
                                            "trained_bytes": 1000}
    queries.record_tokenizer(con, tokenizer_id="tok1", snapshot_id="snap1", vocab_size=512, path="tok1",
                             sha256="bb", config_json="{}", trained_bytes=1000)
    assert queries.tokenizer_row(con, "tok1")["sha256"] == "bb"
    assert con.execute("SELECT count(*) FROM tokenizers").fetchone() == (1,)


def test_a_token_set_and_its_splits_round_trip(con):
    assert queries.token_set_row(con, "set1") is None
    queries.record_token_set(con, token_set_id="set1", tokenizer_id="tok1", snapshot_id="snap1", path="set1",
                             dtype="uint16", manifest_sha256="cc",
                             splits={"val": split(2, 300, 900, 1), "train": split(20, 4000, 12000, 3)})
    row = queries.token_set_row(con, "set1")
    assert (row["tokenizer_id"], row["snapshot_id"], row["path"], row["dtype"], row["manifest_sha256"]) == \
        ("tok1", "snap1", "set1", "uint16", "cc")
    assert queries.token_splits(con, "set1") == [
        {"split": "train", "n_documents": 20, "n_tokens": 4000, "n_bytes": 12000, "n_shards": 3},
        {"split": "val", "n_documents": 2, "n_tokens": 300, "n_bytes": 900, "n_shards": 1}]
    assert queries.token_splits(con, "set2") == []


def test_a_rebuilt_token_set_replaces_its_splits(con):
    first = {"train": split(20, 4000, 12000, 3), "val": split(2, 300, 900, 1)}
    queries.record_token_set(con, token_set_id="set1", tokenizer_id="tok1", snapshot_id="snap1", path="set1",
                             dtype="uint16", manifest_sha256="cc", splits=first)
    queries.record_token_set(con, token_set_id="set1", tokenizer_id="tok1", snapshot_id="snap1", path="set1",
                             dtype="uint16", manifest_sha256="dd",
                             splits={"train": split(22, 4300, 12900, 4)})
    assert queries.token_set_row(con, "set1")["manifest_sha256"] == "dd"
    assert queries.token_splits(con, "set1") == [
        {"split": "train", "n_documents": 22, "n_tokens": 4300, "n_bytes": 12900, "n_shards": 4}]


def test_a_failing_token_set_records_nothing(con):
    with pytest.raises(duckdb.ConstraintException):  # the schema knows train and val only
        queries.record_token_set(con, token_set_id="set1", tokenizer_id="tok1", snapshot_id="snap1",
                                 path="set1", dtype="uint16", manifest_sha256="cc",
                                 splits={"train": split(1, 1, 1, 1), "test": split(1, 1, 1, 1)})
    assert queries.token_set_row(con, "set1") is None and queries.token_splits(con, "set1") == []
