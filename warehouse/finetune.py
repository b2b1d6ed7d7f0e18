"""SQL of the `finetune` stage: each fine-tuned checkpoint's scores in `evaluations`."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from webtext.components.records import Result
from webtext.warehouse.connection import rows, transaction


def upsert_scores(con: duckdb.DuckDBPyConnection, checkpoint_id: str, results: Iterable[Result]) -> None:
    """Scores of one checkpoint, inside the caller's transaction; a score the checkpoint already had for
    a task and metric is replaced, never duplicated."""
    for r in results:
        con.execute(
            "INSERT OR REPLACE INTO evaluations "
            "(checkpoint_id, task, metric, value, n_examples, data_sha256, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, now())",
            [checkpoint_id, r.task, r.metric, r.value, r.n_examples, r.data_sha256],
        )


def record_scores(con: duckdb.DuckDBPyConnection, checkpoint_id: str, task: str, scores: dict[str, float],
                  n_examples: int, data_sha256: str) -> None:
    """One row per metric of a fine-tuned task, in one transaction."""
    with transaction(con):
        upsert_scores(con, checkpoint_id, [Result(task, metric, v, n_examples, data_sha256)
                                           for metric, v in scores.items()])


def scores(con: duckdb.DuckDBPyConnection, checkpoint_ids: list[str]) -> list[dict]:
    """task, metric, value, n_examples, data_sha256, checkpoint_id of the given checkpoints, by task then
    metric."""
    return rows(con.execute(
        "SELECT task, metric, value, n_examples, data_sha256, checkpoint_id FROM evaluations "
        "WHERE list_contains(?, checkpoint_id) ORDER BY task, metric", [checkpoint_ids]))
