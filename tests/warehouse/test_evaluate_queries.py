"""The evaluate stage's SQL against a real migrated warehouse: evaluation runs and their scores."""

import pytest

from webtext import warehouse
from webtext.components.records import Result
from webtext.warehouse import evaluate as queries
from webtext.warehouse.finetune import record_scores
from webtext.warehouse.pretrain import record_checkpoint


@pytest.fixture
def con(tmp_path):
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        yield con


FIRST = [Result("texts", "bpb", 1.9, 100, "t1"), Result("lastword", "acc", 0.25, 32, "l1")]


def checkpoint(con, checkpoint_id: str, kind: str = "pretrain", parent_id: str | None = None) -> None:
    record_checkpoint(con, checkpoint_id=checkpoint_id, kind=kind, parent_id=parent_id, tokenizer_id="tok1",
                      snapshot_id="snap1", token_set_id="set1", path=checkpoint_id, sha256="aa", step=30,
                      config_json="{}", val_loss=4.0, val_bpb=2.0)


def test_a_run_records_its_report_and_scores(con):
    assert queries.evaluation_run(con, "run1") is None and queries.latest_report(con, "c1") is None
    queries.record_run(con, run_id="run1", checkpoint_id="c1", config_json='{"val_tokens": 2048}',
                       report="# c1", results=FIRST, along={})
    run = queries.evaluation_run(con, "run1")
    assert (run["checkpoint_id"], run["config"], run["report"]) == ("c1", '{"val_tokens": 2048}', "# c1")
    assert queries.scores(con, "c1") == [
        {"task": "lastword", "metric": "acc", "value": 0.25, "n_examples": 32, "data_sha256": "l1"},
        {"task": "texts", "metric": "bpb", "value": 1.9, "n_examples": 100, "data_sha256": "t1"}]
    assert queries.scores_by_key(con, "c1")[("texts", "bpb")] == Result("texts", "bpb", 1.9, 100, "t1")
    assert queries.scores(con, "c2") == []


def test_a_second_run_replaces_shared_scores_and_its_report_is_the_latest(con):
    queries.record_run(con, run_id="run1", checkpoint_id="c1", config_json="{}", report="first",
                       results=FIRST, along={10: [Result("texts", "bpb", 2.5, 100, "t1")]})
    queries.record_run(con, run_id="run2", checkpoint_id="c1", config_json="{}", report="second",
                       results=[Result("texts", "bpb", 1.7, 120, "t2")],
                       along={10: [Result("texts", "bpb", 2.4, 120, "t2")], 20: FIRST})
    assert queries.step_scores(con, "c1") == {  # the weights kept along training: replaced, never doubled
        10: [{"task": "texts", "metric": "bpb", "value": 2.4, "n_examples": 120, "data_sha256": "t2"}],
        20: [{"task": "lastword", "metric": "acc", "value": 0.25, "n_examples": 32, "data_sha256": "l1"},
             {"task": "texts", "metric": "bpb", "value": 1.9, "n_examples": 100, "data_sha256": "t1"}]}
    assert queries.step_scores(con, "other") == {}
    assert queries.scores(con, "c1") == [
        {"task": "lastword", "metric": "acc", "value": 0.25, "n_examples": 32, "data_sha256": "l1"},
        {"task": "texts", "metric": "bpb", "value": 1.7, "n_examples": 120, "data_sha256": "t2"}]
    assert queries.latest_report(con, "c1") == "second"
    assert queries.evaluation_run(con, "run1")["report"] == "first"


def test_finetuned_scores_are_those_of_the_children_of_a_checkpoint(con):
    checkpoint(con, "base")
    checkpoint(con, "ft-a", "finetune", "base")
    checkpoint(con, "ft-b", "finetune", "base")
    checkpoint(con, "ft-other", "finetune", "elsewhere")
    record_scores(con, "ft-a", "sentiment", {"acc": 0.6}, 32, "d")
    record_scores(con, "ft-b", "inference", {"acc": 0.5, "mcc": 0.1}, 32, "d")
    record_scores(con, "ft-other", "sentiment", {"acc": 0.9}, 32, "d")
    record_scores(con, "base", "texts", {"bpb": 2.0}, 100, "d")
    assert [(s["checkpoint_id"], s["task"], s["metric"], s["value"])
            for s in queries.finetuned_scores(con, "base")] == [
        ("ft-b", "inference", "acc", 0.5), ("ft-b", "inference", "mcc", 0.1),
        ("ft-a", "sentiment", "acc", 0.6)]
    assert queries.finetuned_scores(con, "ft-a") == []
