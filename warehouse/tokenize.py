"""SQL of the `tokenize` stage: trained tokenizers and the token sets encoded with them."""

from __future__ import annotations

import duckdb

from webtext.warehouse.connection import one, rows, transaction


def tokenizer_row(con: duckdb.DuckDBPyConnection, tokenizer_id: str) -> dict | None:
    return one(con.execute("SELECT * FROM tokenizers WHERE tokenizer_id = ?", [tokenizer_id]))


def record_tokenizer(con: duckdb.DuckDBPyConnection, *, tokenizer_id: str, snapshot_id: str, vocab_size: int,
                     path: str, sha256: str, config_json: str, trained_bytes: int) -> None:
    """Register a trained tokenizer; a row for the same id (a file retrained after damage) is replaced."""
    with transaction(con):
        con.execute(
            """
            INSERT OR REPLACE INTO tokenizers
                (tokenizer_id, snapshot_id, vocab_size, path, sha256, config, trained_bytes, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, now())
            """,
            [tokenizer_id, snapshot_id, vocab_size, path, sha256, config_json, trained_bytes],
        )


def token_set_row(con: duckdb.DuckDBPyConnection, token_set_id: str) -> dict | None:
    return one(con.execute("SELECT * FROM token_sets WHERE token_set_id = ?", [token_set_id]))


def record_token_set(con: duckdb.DuckDBPyConnection, *, token_set_id: str, tokenizer_id: str,
                     snapshot_id: str, path: str, dtype: str, manifest_sha256: str,
                     splits: dict[str, dict]) -> None:
    """Register a published token set and its per-split counts in one transaction.

    `splits` maps a split name to its manifest entry (n_documents, n_tokens, n_bytes, shards).
    """
    with transaction(con):
        con.execute("DELETE FROM token_splits WHERE token_set_id = ?", [token_set_id])
        con.execute(
            """
            INSERT OR REPLACE INTO token_sets
                (token_set_id, tokenizer_id, snapshot_id, path, dtype, manifest_sha256, created_at)
            VALUES (?, ?, ?, ?, ?, ?, now())
            """,
            [token_set_id, tokenizer_id, snapshot_id, path, dtype, manifest_sha256],
        )
        for split, stats in splits.items():
            con.execute(
                "INSERT INTO token_splits VALUES (?, ?, ?, ?, ?, ?)",
                [token_set_id, split, stats["n_documents"], stats["n_tokens"], stats["n_bytes"],
                 len(stats["shards"])],
            )


def token_splits(con: duckdb.DuckDBPyConnection, token_set_id: str) -> list[dict]:
    return rows(con.execute(
        "SELECT split, n_documents, n_tokens, n_bytes, n_shards FROM token_splits WHERE token_set_id = ? "
        "ORDER BY split", [token_set_id]))
