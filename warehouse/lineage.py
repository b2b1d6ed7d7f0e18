"""SQL of `webtext lineage` and of the dataset card: the lineage views (migration 011) read back as the
checkpoints a version descends from, and what the snapshots behind them are made of."""

from __future__ import annotations

import duckdb

from webtext.warehouse.connection import rows

_DOCUMENTS = """
    SELECT DISTINCT doc_id, host, n_bytes, karma FROM snapshot_sources WHERE list_contains($ids, snapshot_id)
"""


def ancestors(con: duckdb.DuckDBPyConnection, checkpoint_id: str) -> list[dict]:
    """The checkpoint and every checkpoint it descends from, nearest first, each once (by its shortest
    path: an aligned model reaches its SFT model as its parent and as its reward model's parent)."""
    return rows(con.execute(
        """
        SELECT ancestor_id AS checkpoint_id, kind, relation, path, depth, step, snapshot_id, token_set_id,
               tokenizer_id
        FROM checkpoint_ancestors WHERE checkpoint_id = ?
        QUALIFY row_number() OVER (PARTITION BY ancestor_id ORDER BY depth, path) = 1
        ORDER BY depth, path, ancestor_id
        """, [checkpoint_id]))


def snapshots(con: duckdb.DuckDBPyConnection, snapshot_ids: list[str]) -> list[dict]:
    """The snapshots, oldest first, each with the tokenizers and token sets made from it."""
    return rows(con.execute(
        """
        SELECT s.snapshot_id, s.created_at, s.n_documents, s.n_bytes, s.judge_key, s.config
        FROM snapshots s WHERE list_contains($ids, s.snapshot_id) ORDER BY s.created_at, s.snapshot_id
        """, {"ids": snapshot_ids}))


def funnel(con: duckdb.DuckDBPyConnection, judge_key: str) -> list[dict]:
    """Documents and bytes per verdict of the filter and dedup config that chose a snapshot (`kept`, or
    the first reason a document was dropped), largest first; documents judged again since under another
    config are counted there instead."""
    return rows(con.execute(
        """
        SELECT coalesce(reason, 'kept') AS verdict, count(*) AS documents, coalesce(sum(n_bytes), 0) AS bytes
        FROM documents WHERE judge_key = ? GROUP BY verdict ORDER BY documents DESC, verdict
        """, [judge_key]))


def submissions(con: duckdb.DuckDBPyConnection, snapshot_ids: list[str]) -> list[str]:
    """Every submission whose linked document is in one of the snapshots, by id."""
    return [row[0] for row in con.execute(
        "SELECT DISTINCT submission_id FROM snapshot_sources "
        "WHERE list_contains($ids, snapshot_id) AND submission_id IS NOT NULL ORDER BY submission_id",
        {"ids": snapshot_ids}).fetchall()]


def composition(con: duckdb.DuckDBPyConnection, snapshot_ids: list[str]) -> dict:
    """What the snapshots' documents are, each counted once: totals, documents and bytes per domain and
    per subreddit (a document linked from two subreddits counts in both), the karma distribution and
    the months its submissions were posted in."""
    ids = {"ids": snapshot_ids}
    documents, size, linked = con.execute(
        f"""
        SELECT count(*), coalesce(sum(n_bytes), 0),
               (SELECT count(DISTINCT submission_id) FROM snapshot_sources
                WHERE list_contains($ids, snapshot_id))
        FROM ({_DOCUMENTS})
        """, ids).fetchone()
    domains = rows(con.execute(
        f"SELECT coalesce(host, '(unknown)') AS domain, count(*) AS documents, sum(n_bytes) AS bytes "
        f"FROM ({_DOCUMENTS}) GROUP BY domain ORDER BY bytes DESC, domain", ids))
    subreddits = rows(con.execute(
        """
        SELECT coalesce(subreddit, '(none)') AS subreddit, count(DISTINCT doc_id) AS documents,
               sum(n_bytes) AS bytes, sum(posts) AS submissions
        FROM (SELECT subreddit, doc_id, any_value(n_bytes) AS n_bytes, count(submission_id) AS posts
              FROM snapshot_sources WHERE list_contains($ids, snapshot_id) GROUP BY subreddit, doc_id)
        GROUP BY subreddit ORDER BY bytes DESC, subreddit
        """, ids))
    months = rows(con.execute(
        """
        SELECT strftime(make_timestamp(created_utc * 1000000), '%Y-%m') AS month,
               count(DISTINCT doc_id) AS documents, count(DISTINCT submission_id) AS submissions
        FROM snapshot_sources WHERE list_contains($ids, snapshot_id) AND created_utc IS NOT NULL
        GROUP BY month ORDER BY month
        """, ids))
    karma = rows(con.execute(
        f"""
        SELECT CASE WHEN karma IS NULL THEN 'unknown' WHEN karma < 10 THEN '< 10' WHEN karma < 100
                    THEN '10-99' WHEN karma < 1000 THEN '100-999' ELSE '1000+' END AS karma,
               count(*) AS documents, sum(n_bytes) AS bytes, min(karma) AS low
        FROM ({_DOCUMENTS}) GROUP BY 1 ORDER BY low NULLS LAST
        """, ids))
    quantiles = con.execute(
        f"SELECT quantile_disc(karma, [0.0, 0.25, 0.5, 0.75, 1.0]) FROM ({_DOCUMENTS})", ids).fetchone()[0]
    return {"documents": documents, "bytes": int(size), "submissions": linked, "domains": domains,
            "subreddits": subreddits, "months": months,
            "karma": {"quantiles": dict(zip(("min", "p25", "median", "p75", "max"), quantiles or [])),
                      "buckets": [{k: v for k, v in row.items() if k != "low"} for row in karma]}}
