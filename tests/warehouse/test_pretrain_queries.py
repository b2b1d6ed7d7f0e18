"""The pretrain stage's SQL against a real migrated warehouse: checkpoint rows."""

import pytest

from webtext import warehouse
from webtext.warehouse import pretrain as queries


@pytest.fixture
def con(tmp_path):
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        yield con


def record(con, checkpoint_id: str, **changes) -> None:
    fields = dict(checkpoint_id=checkpoint_id, kind="pretrain", parent_id=None, tokenizer_id="tok1",
                  snapshot_id="snap1", token_set_id="set1", path=checkpoint_id, sha256="aa", step=30,
                  config_json='{"model": "cpu-tiny"}', val_loss=4.5, val_bpb=2.1)
    queries.record_checkpoint(con, **{**fields, **changes})


def test_a_checkpoint_row_holds_what_it_was_trained_from(con):
    assert queries.checkpoint_row(con, "c0ffee01") is None
    record(con, "c0ffee01")
    row = queries.checkpoint_row(con, "c0ffee01")
    assert {k: row[k] for k in ("kind", "parent_id", "tokenizer_id", "snapshot_id", "token_set_id", "path",
                                "sha256", "step", "config", "val_loss", "val_bpb")} == {
        "kind": "pretrain", "parent_id": None, "tokenizer_id": "tok1", "snapshot_id": "snap1",
        "token_set_id": "set1", "path": "c0ffee01", "sha256": "aa", "step": 30,
        "config": '{"model": "cpu-tiny"}', "val_loss": 4.5, "val_bpb": 2.1}
    assert row["created_at"] is not None


def test_a_retrained_checkpoint_replaces_its_row(con):
    record(con, "c0ffee01")
    record(con, "c0ffee01", sha256="bb", val_loss=4.0)
    assert con.execute("SELECT checkpoint_id, sha256, val_loss FROM checkpoints").fetchall() == \
        [("c0ffee01", "bb", 4.0)]


def test_checkpoints_are_found_by_prefix(con):
    record(con, "c0ffee01")
    record(con, "c0ffee02", kind="finetune", parent_id="c0ffee01")
    record(con, "beef0001")
    assert [r["checkpoint_id"] for r in queries.find_checkpoints(con, "c0ffee")] == ["c0ffee01", "c0ffee02"]
    assert [r["parent_id"] for r in queries.find_checkpoints(con, "c0ffee02")] == ["c0ffee01"]
    assert queries.find_checkpoints(con, "dead") == []
