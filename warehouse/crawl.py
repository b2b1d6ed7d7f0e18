"""SQL of the `crawl` stage: which URLs are pending, and recording each batch's outcomes."""

from __future__ import annotations

from pathlib import Path

import duckdb

from webtext.components.crawl.status import UrlStatus
from webtext.warehouse.connection import transaction

# Terminal statuses, in the order the crawl report lists them.
STATUSES = tuple(status for status in UrlStatus if status.terminal)


def pending_count(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT count(*) FROM urls WHERE status = ?", [UrlStatus.pending]).fetchone()[0]


def write_pending_batches(con: duckdb.DuckDBPyConnection, directory: Path, batch_urls: int) -> list[Path]:
    """Write the pending URLs as Parquet batches of `batch_urls` into the empty `directory`.

    Ordering by a hash of the URL mixes hosts, so one big host does not make one batch slow.
    """
    target = str(directory).replace("'", "''")  # COPY takes no parameter for its target
    con.execute(
        f"""
        COPY (
            SELECT url, (row_number() OVER (ORDER BY hash(url), url) - 1) // {int(batch_urls)} AS batch
            FROM urls WHERE status = '{UrlStatus.pending}'
        ) TO '{target}' (FORMAT parquet, PARTITION_BY (batch), OVERWRITE_OR_IGNORE true)
        """
    )
    return sorted(directory.glob("batch=*/*.parquet"), key=lambda p: int(p.parent.name.split("=")[1]))


def record_results(con: duckdb.DuckDBPyConnection, results: Path) -> int:
    """Apply one batch's outcomes (a Parquet file) to `urls` in one transaction.

    Only rows still `pending` change, so loading a batch twice is harmless.
    """
    with transaction(con):
        changed = con.execute(
            """
            UPDATE urls SET status = r.status, http_status = r.http_status, attempts = r.attempts,
                   error = r.error, fetched_at = r.fetched_at, final_url = r.final_url,
                   content_type = r.content_type, charset = r.charset, warc_file = r.warc_file,
                   warc_offset = r.warc_offset, warc_length = r.warc_length
            FROM read_parquet(?) r
            WHERE urls.url = r.url AND urls.status = ?
            """,
            [str(results), UrlStatus.pending],
        ).fetchone()[0]
    return changed


def status_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return dict(con.execute("SELECT status, count(*) FROM urls GROUP BY status").fetchall())


def failing_hosts(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[dict]:
    """Hosts with the most fetch failures (filtered URLs were never fetched and do not count)."""
    rows = con.execute(
        """
        SELECT host, count(*) AS failures, mode(status) AS commonest, any_value(error) AS example
        FROM urls WHERE status NOT IN (?, ?, ?)
        GROUP BY host ORDER BY failures DESC, host LIMIT ?
        """,
        [UrlStatus.ok, UrlStatus.pending, UrlStatus.filtered, limit],
    ).fetchall()
    return [dict(zip(("host", "failures", "commonest_status", "example_error"), r, strict=True))
            for r in rows]
