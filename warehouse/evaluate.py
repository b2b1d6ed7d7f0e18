"""SQL of the `evaluate` stage: evaluation runs and the scores they wrote."""

from __future__ import annotations

import duckdb

from webtext.components.records import Result
from webtext.warehouse.connection import one, rows, transaction
from webtext.warehouse.finetune import upsert_scores


def evaluation_run(con: duckdb.DuckDBPyConnection, run_id: str) -> dict | None:
    return one(con.execute("SELECT * FROM evaluation_runs WHERE run_id = ?", [run_id]))


def latest_report(con: duckdb.DuckDBPyConnection, checkpoint_id: str) -> str | None:
    row = con.execute("SELECT report FROM evaluation_runs WHERE checkpoint_id = ? ORDER BY created_at DESC "
                      "LIMIT 1", [checkpoint_id]).fetchone()
    return row[0] if row else None


def record_run(con: duckdb.DuckDBPyConnection, *, run_id: str, checkpoint_id: str, config_json: str,
               report: str, results: list[Result], along: dict[int, list[Result]]) -> None:
    """The run, its scores and those of the weights kept `along` training (step -> scores) in one
    transaction; a score the same checkpoint (at the same step) already had for a task and metric is
    replaced, never duplicated."""
    with transaction(con):
        upsert_scores(con, checkpoint_id, results)
        for step, found in along.items():
            con.executemany(
                "INSERT OR REPLACE INTO step_evaluations VALUES (?, ?, ?, ?, ?, ?, ?)",
                [[checkpoint_id, step, r.task, r.metric, r.value, r.n_examples, r.data_sha256]
                 for r in found])
        con.execute(
            "INSERT OR REPLACE INTO evaluation_runs (run_id, checkpoint_id, config, report, created_at) "
            "VALUES (?, ?, ?, ?, now())",
            [run_id, checkpoint_id, config_json, report],
        )


def scores(con: duckdb.DuckDBPyConnection, checkpoint_id: str) -> list[dict]:
    """task, metric, value, n_examples, data_sha256 of one checkpoint, by task then metric."""
    return rows(con.execute(
        "SELECT task, metric, value, n_examples, data_sha256 FROM evaluations WHERE checkpoint_id = ? "
        "ORDER BY task, metric", [checkpoint_id]))


def scores_by_key(con: duckdb.DuckDBPyConnection, checkpoint_id: str) -> dict[tuple[str, str], Result]:
    """One checkpoint's scores by (task, metric)."""
    return {(r["task"], r["metric"]): Result(**r) for r in scores(con, checkpoint_id)}


def finetuned_scores(con: duckdb.DuckDBPyConnection, parent_id: str) -> list[dict]:
    """The scores of the checkpoints fine-tuned from `parent_id`, with their ids."""
    return rows(con.execute(
        """
        SELECT c.checkpoint_id, e.task, e.metric, e.value, e.n_examples, e.data_sha256
        FROM checkpoints c JOIN evaluations e USING (checkpoint_id)
        WHERE c.parent_id = ? AND c.kind = 'finetune'
        ORDER BY e.task, e.metric, c.created_at
        """, [parent_id]))


def step_scores(con: duckdb.DuckDBPyConnection, checkpoint_id: str) -> dict[int, list[dict]]:
    """step -> task, metric, value, n_examples, data_sha256 of the weights kept along a run."""
    found: dict[int, list[dict]] = {}
    for row in rows(con.execute(
            "SELECT step, task, metric, value, n_examples, data_sha256 FROM step_evaluations "
            "WHERE checkpoint_id = ? ORDER BY step, task, metric", [checkpoint_id])):
        found.setdefault(row.pop("step"), []).append(row)
    return found
