"""SQL of the `extract` stage: pages to extract, verdicts, clusters and corpus snapshots.

A URL's *current* document is the extraction of its archived response (the one `urls` points at)
by the configured extractor. Earlier documents of the same URL (an older crawl, another extractor)
stay in `documents` for the snapshots that hold them, marked `superseded`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from webtext.warehouse.connection import one, rows, transaction

_CURRENT = """
    SELECT e.doc_id, e.shard FROM extractions e
    JOIN urls u ON e.url = u.url AND e.warc_file = u.warc_file AND e.warc_offset = u.warc_offset
    WHERE u.status = 'ok' AND e.extractor = $extractor
"""


def _quoted(path: Path) -> str:
    """`path` as a SQL string literal, for COPY, which takes no parameter for its target."""
    return "'" + str(path).replace("'", "''") + "'"


def pending_pages(con: duckdb.DuckDBPyConnection, extractor: str) -> list[tuple]:
    """(url, final_url, warc_file, warc_offset, warc_length, charset) of archived pages that have
    no extraction by `extractor` yet, in URL order so that batches come out the same every time."""
    return con.execute(
        """
        SELECT u.url, u.final_url, u.warc_file, u.warc_offset, u.warc_length, u.charset FROM urls u
        WHERE u.status = 'ok' AND u.warc_file IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM extractions e WHERE e.url = u.url AND e.warc_file = u.warc_file
              AND e.warc_offset = u.warc_offset AND e.extractor = $extractor)
        ORDER BY u.url
        """,
        {"extractor": extractor},
    ).fetchall()


def record_extractions(con: duckdb.DuckDBPyConnection, shard: Path, shard_name: str, extractor: str) -> int:
    """Register one extraction shard's pages; a page registered before is left as it was."""
    with transaction(con):
        return con.execute(
            """
            INSERT INTO extractions
            SELECT s.doc_id, s.url, u.warc_file, u.warc_offset, $extractor, $shard, s.status, s.error,
                   length(s.text), coalesce(s.seconds, 0), now()
            FROM read_parquet($path) s JOIN urls u ON u.url = s.url
            ON CONFLICT DO NOTHING
            """,
            {"extractor": extractor, "shard": shard_name, "path": str(shard)},
        ).fetchone()[0]


def shards_to_judge(con: duckdb.DuckDBPyConnection, extractor: str, judge_key: str) -> list[str]:
    """Shards holding a current document not yet judged under `judge_key`."""
    rows = con.execute(
        f"""
        SELECT DISTINCT c.shard FROM ({_CURRENT}) c LEFT JOIN documents d USING (doc_id)
        WHERE d.judge_key IS DISTINCT FROM $judge_key ORDER BY c.shard
        """,
        {"extractor": extractor, "judge_key": judge_key},
    ).fetchall()
    return [row[0] for row in rows]


def record_verdicts(con: duckdb.DuckDBPyConnection, verdicts: Path, judge_key: str) -> int:
    """Upsert one judged shard into `documents`, with each URL's karma; dedup runs after."""
    with transaction(con):
        return con.execute(
            """
            INSERT INTO documents (doc_id, url, text, kept, reason, cluster_id, final_url, canonical_url,
                                   title, filter_reason, lang, lang_score, n_words, n_bytes, karma,
                                   created_utc, exact_key, bands, judge_key, judged_at)
            SELECT v.doc_id, v.url, v.text, NULL, v.reason, NULL, v.final_url, v.canonical_url, v.title,
                   v.reason, v.lang, v.lang_score, v.n_words, v.n_bytes, k.karma, k.created_utc,
                   v.exact_key, v.bands, $judge_key, now()
            FROM read_parquet($path) v
            LEFT JOIN (SELECT url, max(score) AS karma, min(created_utc) AS created_utc
                       FROM submissions GROUP BY url) k ON k.url = v.url
            ON CONFLICT (doc_id) DO UPDATE SET
                text = excluded.text, kept = NULL, reason = excluded.reason, cluster_id = NULL,
                final_url = excluded.final_url, canonical_url = excluded.canonical_url,
                title = excluded.title, filter_reason = excluded.filter_reason, lang = excluded.lang,
                lang_score = excluded.lang_score, n_words = excluded.n_words, n_bytes = excluded.n_bytes,
                karma = excluded.karma, created_utc = excluded.created_utc,
                exact_key = excluded.exact_key, bands = excluded.bands,
                judge_key = excluded.judge_key, judged_at = excluded.judged_at
            """,
            {"path": str(verdicts), "judge_key": judge_key},
        ).fetchone()[0]


def unresolved(con: duckdb.DuckDBPyConnection, extractor: str) -> int:
    """Current documents judged but not yet deduplicated (a new verdict, or a killed run)."""
    return con.execute(
        f"SELECT count(*) FROM ({_CURRENT}) c JOIN documents d USING (doc_id) WHERE d.kept IS NULL",
        {"extractor": extractor},
    ).fetchone()[0]


def dedup_candidates(con: duckdb.DuckDBPyConnection, extractor: str) -> pa.Table:
    """doc_id, karma, created_utc, exact_key, bands of the current documents every filter passed."""
    return con.sql(
        f"""
        SELECT d.doc_id, coalesce(d.karma, 0) AS karma, coalesce(d.created_utc, 0) AS created_utc,
               d.exact_key, d.bands
        FROM ({_CURRENT}) c JOIN documents d USING (doc_id)
        WHERE d.filter_reason IS NULL ORDER BY d.doc_id
        """,
        params={"extractor": extractor},
    ).to_arrow_table()


def record_clusters(con: duckdb.DuckDBPyConnection, clusters: pa.Table, extractor: str) -> None:
    """Final verdicts in one transaction: filter reason, else `duplicate`, else kept; documents no
    longer current become `superseded`. `clusters` has doc_id, cluster_id and duplicate."""
    con.register("new_clusters", clusters)
    try:
        with transaction(con):
            con.execute(
                f"""
                UPDATE documents SET kept = filter_reason IS NULL, reason = filter_reason, cluster_id = NULL
                WHERE doc_id IN (SELECT doc_id FROM ({_CURRENT}))
                """,
                {"extractor": extractor},
            )
            con.execute(
                """
                UPDATE documents SET cluster_id = c.cluster_id, kept = NOT c.duplicate,
                       reason = CASE WHEN c.duplicate THEN 'duplicate' END
                FROM new_clusters c WHERE documents.doc_id = c.doc_id AND c.cluster_id IS NOT NULL
                """
            )
            con.execute(
                f"""
                UPDATE documents SET kept = false, reason = 'superseded', cluster_id = NULL
                WHERE doc_id NOT IN (SELECT doc_id FROM ({_CURRENT}))
                  AND reason IS DISTINCT FROM 'superseded'
                """,
                {"extractor": extractor},
            )
    finally:
        con.unregister("new_clusters")


@dataclass(frozen=True)
class KeptSet:
    """What a snapshot of the kept documents would hold."""

    n_documents: int
    n_bytes: int
    digest: str  # sha256 over the sorted kept doc ids


def kept_set(con: duckdb.DuckDBPyConnection) -> KeptSet:
    n, size, digest = con.execute(
        """
        SELECT count(*), coalesce(sum(n_bytes), 0),
               sha256(coalesce(string_agg(doc_id, ',' ORDER BY doc_id), ''))
        FROM documents WHERE kept
        """
    ).fetchone()
    return KeptSet(n, int(size), digest)


def export_kept(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    """Write the kept documents, ordered by doc_id, as one Parquet file at `out`."""
    con.execute(
        f"""
        COPY (SELECT doc_id, url, title, text, karma FROM documents WHERE kept ORDER BY doc_id)
        TO {_quoted(out)} (FORMAT parquet, COMPRESSION zstd)
        """
    )


def snapshot_row(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> dict | None:
    return one(con.execute("SELECT * FROM snapshots WHERE snapshot_id = ?", [snapshot_id]))


def record_snapshot(con: duckdb.DuckDBPyConnection, snapshot_id: str, data: Path, n_bytes: int,
                    judge_key: str, path: str, sha256: str, config_json: str) -> None:
    """Register a published snapshot and its documents (read back from its own file) at once."""
    with transaction(con):
        n = con.execute(
            "INSERT INTO snapshot_documents SELECT $id, doc_id FROM read_parquet($data) "
            "ON CONFLICT DO NOTHING",
            {"id": snapshot_id, "data": str(data)},
        ).fetchone()[0]
        con.execute(
            """
            INSERT INTO snapshots (snapshot_id, created_at, n_documents, n_bytes, judge_key, path, sha256,
                                   config)
            VALUES ($id, now(), $n, $bytes, $judge_key, $path, $sha256, $config)
            ON CONFLICT DO NOTHING
            """,
            {"id": snapshot_id, "n": n, "bytes": n_bytes, "judge_key": judge_key, "path": path,
             "sha256": sha256, "config": config_json},
        )


def find_snapshots(con: duckdb.DuckDBPyConnection, prefix: str) -> list[dict]:
    """Snapshots whose id starts with `prefix` (a whole id matches itself only)."""
    return rows(con.execute("SELECT * FROM snapshots WHERE starts_with(snapshot_id, ?) ORDER BY snapshot_id",
                            [prefix]))


def list_snapshots(con: duckdb.DuckDBPyConnection) -> list[dict]:
    return rows(con.execute(
        "SELECT snapshot_id, created_at, n_documents, n_bytes, path FROM snapshots ORDER BY created_at"))


def funnel(con: duckdb.DuckDBPyConnection, extractor: str) -> list[dict]:
    """Current documents per final reason (NULL: kept), with their bytes, largest first."""
    rows = con.execute(
        f"""
        SELECT coalesce(d.reason, 'kept') AS verdict, count(*) AS documents,
               coalesce(sum(d.n_bytes), 0) AS bytes
        FROM ({_CURRENT}) c JOIN documents d USING (doc_id)
        GROUP BY verdict ORDER BY documents DESC, verdict
        """,
        {"extractor": extractor},
    ).fetchall()
    return [{"verdict": v, "documents": n, "bytes": int(b)} for v, n, b in rows]


def examples(con: duckdb.DuckDBPyConnection, extractor: str, per_verdict: int = 2,
             chars: int = 300) -> list[dict]:
    """A few current documents per verdict (the first by doc_id, so the list is stable)."""
    rows = con.execute(
        f"""
        SELECT verdict, url, excerpt FROM (
            SELECT coalesce(d.reason, 'kept') AS verdict, d.url, left(d.text, $chars) AS excerpt,
                   row_number() OVER (PARTITION BY coalesce(d.reason, 'kept') ORDER BY d.doc_id) AS n
            FROM ({_CURRENT}) c JOIN documents d USING (doc_id))
        WHERE n <= $per ORDER BY verdict, url
        """,
        {"extractor": extractor, "per": per_verdict, "chars": chars},
    ).fetchall()
    return [{"verdict": v, "url": u, "excerpt": e or ""} for v, u, e in rows]
