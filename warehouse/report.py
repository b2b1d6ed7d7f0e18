"""SQL of the report stage: what the claims report's figures read, and the reports written."""

from __future__ import annotations

import json

import duckdb

from webtext.warehouse.connection import one, rows, transaction


def pretrained_versions(con: duckdb.DuckDBPyConnection, name: str) -> list[dict]:
    """Every version of a pretrained model, oldest first, with its registry path and its checkpoint's
    step, snapshot and creation time."""
    return rows(con.execute(
        """
        SELECT v.name, v.version, v.checkpoint_id, v.path, c.step, c.snapshot_id, c.created_at
        FROM model_versions v JOIN checkpoints c USING (checkpoint_id)
        WHERE v.name = ? AND c.kind = 'pretrain' ORDER BY v.version
        """, [name]))


def finetune_runs(con: duckdb.DuckDBPyConnection, parent_id: str) -> list[dict]:
    """The fine-tuning runs from a pretrained checkpoint, and those from scratch in its shape, with their
    scores: `scratch` tells them apart."""
    found = rows(con.execute(
        """
        SELECT checkpoint_id, created_at, parent_id IS NULL AS scratch, config
        FROM checkpoints WHERE kind = 'finetune'
          AND (parent_id = $id OR (parent_id IS NULL AND json_extract_string(config, '$.shape_of') = $id))
        ORDER BY created_at, checkpoint_id
        """, {"id": parent_id}))
    for run in found:
        run["config"] = json.loads(run["config"])
        run["scores"] = rows(con.execute(
            "SELECT metric, value, n_examples, data_sha256 FROM evaluations WHERE checkpoint_id = ? "
            "ORDER BY task, metric", [run["checkpoint_id"]]))
    return found


def evaluation_config(con: duckdb.DuckDBPyConnection, checkpoint_id: str) -> dict | None:
    """The evaluate config of a checkpoint's latest evaluation run."""
    found = one(con.execute("SELECT config FROM evaluation_runs WHERE checkpoint_id = ? "
                            "ORDER BY created_at DESC LIMIT 1", [checkpoint_id]))
    return json.loads(found["config"]) if found else None


def report_row(con: duckdb.DuckDBPyConnection, report_id: str) -> dict | None:
    return one(con.execute("SELECT * FROM reports WHERE report_id = ?", [report_id]))


def record_report(con: duckdb.DuckDBPyConnection, report_id: str, name: str, path: str, figures: list[str],
                  missing: list[str]) -> None:
    with transaction(con):
        con.execute("INSERT INTO reports VALUES (?, ?, ?, ?, ?, now()) ON CONFLICT DO NOTHING",
                    [report_id, name, path, figures, missing])
