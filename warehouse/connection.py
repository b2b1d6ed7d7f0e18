"""Opening the warehouse: one DuckDB file, one writing process, schema always current.

DuckDB lets one process hold a database file read-write and refuses every other process. webtext
turns that refusal into `WarehouseBusy`, a one-line error that names the holder, so a second command
fails at once instead of waiting or corrupting anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from webtext.components.errors import WebtextError
from webtext.warehouse.migrations import migrate

_HOLDER = re.compile(r"Conflicting lock is held in (?P<exe>.+?) \(PID (?P<pid>\d+)\)")


class WarehouseBusy(WebtextError):
    """Another process holds the warehouse file."""


def _describe_holder(message: str) -> str:
    match = _HOLDER.search(message)
    if not match:
        return "another process"
    pid = match["pid"]
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        cmdline = match["exe"]
    return f"process {pid} ({cmdline})"


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the warehouse at `path` and bring its schema up to date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path))
    except duckdb.IOException as exc:
        if "Could not set lock" in str(exc):
            raise WarehouseBusy(
                f"warehouse {path} is busy: held by {_describe_holder(str(exc))}"
            ) from None
        raise
    migrate(con)
    return con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All statements inside commit together or not at all."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def rows(cursor: duckdb.DuckDBPyConnection) -> list[dict]:
    """A query's result as one dict per row, keyed by column name."""
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def one(cursor: duckdb.DuckDBPyConnection) -> dict | None:
    """The first row of a query's result as a dict, or None when it has none."""
    found = rows(cursor)
    return found[0] if found else None
