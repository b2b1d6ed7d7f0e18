"""SQL of the `finetune` stage: each fine-tuned checkpoint's scores in `evaluations`."""

from __future__ import annotations

import duckdb

from webtext.warehouse.connection import rows, transaction


def upsert_scores(con: duckdb.DuckDBPyConnection, checkpoint_id: str,
                  results: list[tuple[str, str, float, int]]) -> None:
    """(task, metric, value, n_examples) rows of one checkpoint, inside the caller's transaction; a
    score the checkpoint already had for a task and metric is replaced, never duplicated."""
    for task, metric, value, n_examples in results:
        con.execute(
            "INSERT OR REPLACE INTO evaluations "
            "(checkpoint_id, task, metric, value, n_examples, created_at) VALUES (?, ?, ?, ?, ?, now())",
            [checkpoint_id, task, metric, value, n_examples],
        )


def record_scores(con: duckdb.DuckDBPyConnection, checkpoint_id: str, task: str, scores: dict[str, float],
                  n_examples: int) -> None:
    """One row per metric of a fine-tuned task, in one transaction."""
    with transaction(con):
        upsert_scores(con, checkpoint_id, [(task, metric, v, n_examples) for metric, v in scores.items()])


def scores(con: duckdb.DuckDBPyConnection, checkpoint_ids: list[str]) -> list[dict]:
    """task, metric, value, n_examples, checkpoint_id of the given checkpoints, by task then metric."""
    return rows(con.execute(
        "SELECT task, metric, value, n_examples, checkpoint_id FROM evaluations "
        "WHERE list_contains(?, checkpoint_id) ORDER BY task, metric", [checkpoint_ids]))
