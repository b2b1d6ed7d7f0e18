"""SQL of the `source` stage: which dumps are loaded, and loading staged batches in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from webtext.components.crawl.status import UrlStatus
from webtext.components.source.submissions import REJECTIONS
from webtext.warehouse.connection import transaction

# The funnel columns of `source_loads`: lines read, each rejection reason, and selected.
FUNNEL_COUNTS = ("lines", *REJECTIONS, "selected")


@dataclass(frozen=True)
class DumpLoad:
    """One dump file, staged under one source config, ready to load."""

    load_id: str
    path: str
    sha256: str
    size: int
    mtime_ns: int
    config_hash: str
    counts: dict[str, int]
    batches: list[Path]


def known_sha256(con: duckdb.DuckDBPyConnection, path: str, size: int, mtime_ns: int) -> str | None:
    """The hash recorded for a file with this path, size and mtime, sparing a re-read of big dumps."""
    row = con.execute(
        "SELECT sha256 FROM source_loads WHERE path = ? AND size = ? AND mtime_ns = ? LIMIT 1",
        [path, size, mtime_ns],
    ).fetchone()
    return row[0] if row else None


def is_loaded(con: duckdb.DuckDBPyConnection, load_id: str) -> bool:
    return con.execute("SELECT 1 FROM source_loads WHERE load_id = ?", [load_id]).fetchone() is not None


def load(con: duckdb.DuckDBPyConnection, loads: list[DumpLoad]) -> None:
    """Insert every staged batch of `loads` and record the loads, all in one transaction.

    A submission id already present is kept as it is; within the new rows the highest score wins
    for a duplicated id, so loading the same rows twice adds nothing. A URL not yet fetched takes
    the verdict of the latest filter config (a host newly allowed becomes `pending`, a domain newly
    blocked `filtered`); a URL the crawl has judged keeps its status.
    """
    with transaction(con):
        for item in loads:
            files = [str(p) for p in item.batches]
            if files:
                con.execute(
                    """
                    INSERT INTO submissions
                    SELECT id, url, raw_url, score, subreddit, created_utc, $path
                    FROM read_parquet($files)
                    QUALIFY row_number() OVER (PARTITION BY id ORDER BY score DESC) = 1
                    ON CONFLICT (id) DO NOTHING
                    """,
                    {"files": files, "path": item.path},
                )
                con.execute(
                    """
                    INSERT INTO urls (url, host, status, error, added_at, added_by)
                    SELECT url, any_value(host),
                           CASE WHEN any_value(reason) IS NULL THEN $pending ELSE $filtered END,
                           any_value(reason), now(), $load_id
                    FROM read_parquet($files)
                    GROUP BY url
                    ON CONFLICT (url) DO UPDATE SET status = excluded.status, error = excluded.error
                    WHERE urls.status IN ($pending, $filtered)
                    """,
                    {"files": files, "load_id": item.load_id, "pending": UrlStatus.pending,
                     "filtered": UrlStatus.filtered},
                )
            con.execute(
                f"""
                INSERT INTO source_loads (load_id, path, sha256, size, mtime_ns, config_hash,
                                          {", ".join(FUNNEL_COUNTS)}, loaded_at)
                VALUES (?, ?, ?, ?, ?, ?, {", ".join("?" for _ in FUNNEL_COUNTS)}, now())
                """,
                [item.load_id, item.path, item.sha256, item.size, item.mtime_ns, item.config_hash,
                 *(item.counts.get(name, 0) for name in FUNNEL_COUNTS)],
            )


def funnel(con: duckdb.DuckDBPyConnection, load_ids: list[str]) -> list[dict]:
    """Per load: its funnel counts, then the URLs it added: pending, and filtered by reason."""
    loads = con.execute(
        f"""
        SELECT load_id, path, {", ".join(FUNNEL_COUNTS)}
        FROM source_loads WHERE list_contains($ids, load_id) ORDER BY path, load_id
        """,
        {"ids": load_ids},
    ).fetchall()
    added = con.execute(
        """
        SELECT added_by, coalesce(error, status) AS outcome, count(*)
        FROM urls WHERE list_contains($ids, added_by)
        GROUP BY ALL
        """,
        {"ids": load_ids},
    ).fetchall()
    result = []
    for load_id, path, *counts in loads:
        row = {"path": path, **dict(zip(FUNNEL_COUNTS, counts)), "new_urls": 0, "new_pending": 0}
        for owner, outcome, n in added:
            if owner != load_id:
                continue
            row["new_urls"] += n
            key = "new_pending" if outcome == UrlStatus.pending else f"filtered_{outcome}"
            row[key] = row.get(key, 0) + n
        result.append(row)
    return result
