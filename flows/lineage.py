"""`webtext lineage REF`: what a registered model learned from, back to the Reddit submissions.

The walk is the warehouse's lineage views (migration 011): version -> its checkpoint and every checkpoint
it descends from (parent, teacher, reward model) -> their token sets, tokenizers and snapshots -> the
snapshots' documents -> their URLs -> the submissions that linked them.
"""

from __future__ import annotations

import argparse
import json

import duckdb

from webtext.components.home import Home


def add_command(commands: argparse._SubParsersAction) -> None:
    lineage = commands.add_parser(
        "lineage", help="what a registered model learned from: its checkpoints, snapshots, and the "
                        "documents' domains, subreddits, karma and months")
    lineage.add_argument("ref", help="NAME, NAME:VERSION, NAME@ALIAS or a checkpoint id")
    lineage.add_argument("--format", choices=("markdown", "json"), default="markdown")
    lineage.add_argument("--submissions", action="store_true",
                         help="also list the id of every submission whose document trained it")


def lineage(con: duckdb.DuckDBPyConnection, version: dict, with_submissions: bool = False) -> dict:
    """The walk from one `model_versions` row, as one JSON-ready record."""
    from webtext.warehouse import lineage as queries

    checkpoints = queries.ancestors(con, version["checkpoint_id"])
    snapshot_ids = sorted({c["snapshot_id"] for c in checkpoints})
    snapshots = [row | {"created_at": f"{row['created_at']:%Y-%m-%d %H:%M:%S} UTC",
                        "config": json.loads(row["config"] or "{}"),
                        "funnel": queries.funnel(con, row["judge_key"])}
                 for row in queries.snapshots(con, snapshot_ids)]
    record = {"version": {k: version[k] for k in ("name", "version", "checkpoint_id")},
              "checkpoints": checkpoints, "snapshots": snapshots,
              "composition": queries.composition(con, snapshot_ids)}
    if with_submissions:
        record["submissions"] = queries.submissions(con, snapshot_ids)
    return record


def run(args: argparse.Namespace, home: Home) -> int:
    from webtext import warehouse
    from webtext.components.lineage import markdown
    from webtext.flows.models import resolve_version

    with warehouse.connect(home.warehouse) as con:
        record = lineage(con, resolve_version(con, args.ref), args.submissions)
    text = json.dumps(record, indent=1, default=str) if args.format == "json" else markdown(record)
    print(text.rstrip("\n"))
    return 0
