"""SQL of the `finetune` stage: each fine-tuned checkpoint's scores in `evaluations`."""

from __future__ import annotations

import duckdb

from warehouse.connection import transaction


def record_scores(con: duckdb.DuckDBPyConnection, checkpoint_id: str, task: str, scores: dict[str, float],
                  n_examples: int) -> None:
    """One row per metric; a rerun of the same checkpoint and task replaces its rows, never adds."""
    with transaction(con):
        for metric, value in scores.items():
            con.execute(
                "INSERT OR REPLACE INTO evaluations "
                "(checkpoint_id, task, metric, value, n_examples, created_at) VALUES (?, ?, ?, ?, ?, now())",
                [checkpoint_id, task, metric, value, n_examples],
            )


def scores(con: duckdb.DuckDBPyConnection, checkpoint_ids: list[str]) -> list[dict]:
    """task, metric, value, n_examples, checkpoint_id of the given checkpoints, by task then metric."""
    cursor = con.execute(
        "SELECT task, metric, value, n_examples, checkpoint_id FROM evaluations "
        "WHERE list_contains(?, checkpoint_id) ORDER BY task, metric",
        [checkpoint_ids],
    )
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
