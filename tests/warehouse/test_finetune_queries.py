"""The finetune stage's SQL against a real migrated warehouse: each checkpoint's scores."""

import pytest

from webtext import warehouse
from webtext.components.records import Result
from webtext.warehouse import finetune as queries


@pytest.fixture
def con(tmp_path):
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        yield con


def test_a_score_recorded_again_replaces_the_old_value(con):
    queries.record_scores(con, "ft1", "inference", {"acc": 0.5, "mcc": 0.1}, 32, "v1")
    queries.record_scores(con, "ft1", "inference", {"acc": 0.75}, 40, "v2")
    assert queries.scores(con, ["ft1"]) == [
        {"task": "inference", "metric": "acc", "value": 0.75, "n_examples": 40, "data_sha256": "v2",
         "checkpoint_id": "ft1"},
        {"task": "inference", "metric": "mcc", "value": 0.1, "n_examples": 32, "data_sha256": "v1",
         "checkpoint_id": "ft1"}]


def test_scores_of_the_given_checkpoints_only_by_task_then_metric(con):
    queries.record_scores(con, "ft2", "story", {"acc": 0.4}, 32, "d")
    queries.record_scores(con, "ft1", "sentiment", {"acc": 0.6}, 32, "d")
    queries.record_scores(con, "ft3", "paraphrase", {"pearson": 0.2, "spearman": 0.3}, 32, "d")
    found = queries.scores(con, ["ft1", "ft2"])
    assert [(s["checkpoint_id"], s["task"], s["metric"]) for s in found] == \
        [("ft1", "sentiment", "acc"), ("ft2", "story", "acc")]
    assert queries.scores(con, []) == []


def test_upsert_inside_a_transaction_is_undone_with_it(con):
    with pytest.raises(RuntimeError), warehouse.transaction(con):
        queries.upsert_scores(con, "ft1", [Result("sentiment", "acc", 0.6, 32, "d")])
        raise RuntimeError("the run was never recorded")
    assert queries.scores(con, ["ft1"]) == []
