"""SQL of the `pretrain` stage: trained checkpoints and what they were trained from."""

from __future__ import annotations

import duckdb

from webtext.warehouse.connection import one, rows, transaction


def checkpoint_row(con: duckdb.DuckDBPyConnection, checkpoint_id: str) -> dict | None:
    return one(con.execute("SELECT * FROM checkpoints WHERE checkpoint_id = ?", [checkpoint_id]))


def find_checkpoints(con: duckdb.DuckDBPyConnection, prefix: str) -> list[dict]:
    """Checkpoints whose id starts with `prefix`."""
    return rows(con.execute(
        "SELECT * FROM checkpoints WHERE starts_with(checkpoint_id, ?) ORDER BY checkpoint_id", [prefix]))


def record_checkpoint(con: duckdb.DuckDBPyConnection, *, checkpoint_id: str, kind: str, parent_id: str | None,
                      tokenizer_id: str, snapshot_id: str, token_set_id: str, path: str, sha256: str,
                      step: int, config_json: str, val_loss: float, val_bpb: float) -> None:
    """Register a finished run's weights; a row for the same id (retrained after damage) is replaced."""
    with transaction(con):
        con.execute(
            """
            INSERT OR REPLACE INTO checkpoints
                (checkpoint_id, kind, parent_id, tokenizer_id, snapshot_id, path, sha256, step, created_at,
                 token_set_id, config, val_loss, val_bpb)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, now(), ?, ?, ?, ?)
            """,
            [checkpoint_id, kind, parent_id, tokenizer_id, snapshot_id, path, sha256, step, token_set_id,
             config_json, val_loss, val_bpb],
        )
