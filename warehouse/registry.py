"""SQL of the `register` stage and `webtext models`: model versions, aliases and promotions."""

from __future__ import annotations

import duckdb

from webtext.warehouse.connection import one, rows, transaction

_VERSION = """
    SELECT v.name, v.version, v.checkpoint_id, v.path, v.lineage_sha256, v.created_at, v.parent_name,
           v.parent_version,
           coalesce((SELECT list(a.alias ORDER BY a.alias) FROM model_aliases a
                     WHERE a.name = v.name AND a.version = v.version), []) AS aliases
    FROM model_versions v
"""




def versions(con: duckdb.DuckDBPyConnection) -> list[dict]:
    return rows(con.execute(_VERSION + " ORDER BY v.name, v.version"))


def version(con: duckdb.DuckDBPyConnection, name: str, number: int) -> dict | None:
    return one(con.execute(_VERSION + " WHERE v.name = ? AND v.version = ?", [name, number]))


def latest(con: duckdb.DuckDBPyConnection, name: str) -> dict | None:
    return one(con.execute(_VERSION + " WHERE v.name = ? ORDER BY v.version DESC LIMIT 1", [name]))


def holder(con: duckdb.DuckDBPyConnection, name: str, alias: str) -> dict | None:
    """The version an alias points at, if any."""
    return one(con.execute(
        _VERSION + " JOIN model_aliases h ON h.name = v.name AND h.version = v.version "
        "WHERE h.name = ? AND h.alias = ?", [name, alias]))


def version_of_checkpoint(con: duckdb.DuckDBPyConnection, name: str, checkpoint_id: str) -> dict | None:
    return one(con.execute(_VERSION + " WHERE v.name = ? AND v.checkpoint_id = ?", [name, checkpoint_id]))


def children(con: duckdb.DuckDBPyConnection, name: str, number: int) -> list[dict]:
    """The versions fine-tuned from version `number` of `name`, by name."""
    return rows(con.execute(_VERSION + " WHERE v.parent_name = ? AND v.parent_version = ? ORDER BY v.name",
                            [name, number]))


def next_version(con: duckdb.DuckDBPyConnection, name: str) -> int:
    return con.execute("SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE name = ?",
                       [name]).fetchone()[0]


def record_version(con: duckdb.DuckDBPyConnection, *, name: str, number: int, checkpoint_id: str, path: str,
                   lineage_sha256: str, parent: tuple[str, int] | None = None) -> None:
    """A new version; `parent` (name, version) for one fine-tuned from a registered version."""
    parent_name, parent_version = parent or (None, None)
    with transaction(con):
        con.execute(
            "INSERT INTO model_versions (name, version, checkpoint_id, created_at, path, lineage_sha256, "
            "parent_name, parent_version) VALUES (?, ?, ?, now(), ?, ?, ?, ?)",
            [name, number, checkpoint_id, path, lineage_sha256, parent_name, parent_version],
        )


def record_promotion(con: duckdb.DuckDBPyConnection, *, name: str, number: int, alias: str, accepted: bool,
                     reason: str | None) -> None:
    """Log a promotion asked for; when granted, point the alias at the version in the same transaction."""
    with transaction(con):
        if accepted:
            con.execute("INSERT OR REPLACE INTO model_aliases (name, alias, version) VALUES (?, ?, ?)",
                        [name, alias, number])
        con.execute(
            "INSERT INTO model_promotions (name, version, alias, accepted, reason, created_at) "
            "VALUES (?, ?, ?, ?, ?, now())",
            [name, number, alias, accepted, reason],
        )


def promotions(con: duckdb.DuckDBPyConnection, name: str, number: int) -> list[dict]:
    return rows(con.execute(
        "SELECT alias, accepted, reason, created_at FROM model_promotions WHERE name = ? AND version = ? "
        "ORDER BY created_at", [name, number]))
