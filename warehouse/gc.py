"""SQL of `webtext gc`: every path under WEBTEXT_HOME that a warehouse row refers to."""

from __future__ import annotations

import duckdb

# area (a directory under WEBTEXT_HOME) -> the query of the paths in it that rows refer to
_REFERENCED = {
    "snapshots": "SELECT path FROM snapshots",
    "tokenizers": "SELECT path FROM tokenizers",
    "tokens": "SELECT path FROM token_sets",
    "runs": "SELECT path FROM checkpoints",
    "registry": "SELECT path FROM model_versions WHERE path IS NOT NULL",
    "extract": "SELECT DISTINCT shard FROM extractions",
    "warc": "SELECT warc_file FROM urls WHERE warc_file IS NOT NULL UNION SELECT warc_file FROM extractions",
    "evaluate/ngrams": "SELECT snapshot_id FROM snapshots",
    "reports": "SELECT path FROM reports",
}


def referenced(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Area -> the relative paths (or, for n-gram indexes, the snapshot ids) rows refer to."""
    return {area: {row[0] for row in con.execute(sql).fetchall()} for area, sql in _REFERENCED.items()}
