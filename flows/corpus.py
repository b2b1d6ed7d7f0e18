"""`webtext corpus list | show | export`: published snapshots, read from the warehouse and their files."""

from __future__ import annotations

import argparse
from pathlib import Path

from webtext.components.errors import InputError
from webtext.components.home import Home


def add_commands(commands: argparse._SubParsersAction) -> None:
    corpus = commands.add_parser("corpus", help="list, show and export published corpus snapshots")
    actions = corpus.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every snapshot, oldest first")
    show = actions.add_parser("show", help="one snapshot's counts, config and files")
    show.add_argument("snapshot", help="a snapshot id, or a unique prefix of one")
    out = actions.add_parser("export", help="copy a snapshot's Parquet file and manifest into a directory, "
                             "with its dataset card (README.md, Hugging Face format)")
    out.add_argument("snapshot", help="a snapshot id, or a unique prefix of one")
    out.add_argument("--out", type=Path, required=True, help="the directory to write into")


def _one(con, prefix: str) -> dict:
    from webtext.warehouse import extract as queries

    found = queries.find_snapshots(con, prefix)
    if not found:
        raise InputError(f"no snapshot {prefix!r}; `webtext corpus list` shows them")
    if len(found) > 1:
        ids = ", ".join(r["snapshot_id"] for r in found)
        raise InputError(f"snapshot prefix {prefix!r} is ambiguous: {ids}")
    return found[0]


def run(args: argparse.Namespace, home: Home) -> int:
    from webtext import warehouse
    from webtext.components.extract.snapshot import export, read_manifest, verify
    from webtext.warehouse import extract as queries

    with warehouse.connect(home.warehouse) as con:
        if args.action == "list":
            rows = queries.list_snapshots(con)
            print(f"{'snapshot':<18}{'created (UTC)':<22}{'documents':>11}{'bytes':>15}")
            for row in rows:
                print(f"{row['snapshot_id']:<18}{row['created_at']:%Y-%m-%d %H:%M:%S}   "
                      f"{row['n_documents']:>11,}{row['n_bytes']:>15,}")
            if not rows:
                print("(no snapshots yet: `webtext stage extract` publishes one)")
            return 0
        row = _one(con, args.snapshot)
        directory = home.snapshots / row["path"]
        if args.action == "export":
            from webtext.components.extract.card import dataset_card
            from webtext.warehouse import lineage

            card = dataset_card(row, read_manifest(directory), lineage.composition(con, [row["snapshot_id"]]),
                                lineage.funnel(con, row["judge_key"]))
            for path in export(directory, row["sha256"], args.out, card):
                print(path)
            return 0
    manifest = read_manifest(directory)
    print(f"snapshot     {row['snapshot_id']}")
    print(f"created      {row['created_at']:%Y-%m-%d %H:%M:%S} UTC")
    print(f"documents    {row['n_documents']:,}")
    print(f"bytes        {row['n_bytes']:,}")
    print(f"extractor    {manifest.get('extractor')}")
    print(f"filters      {row['judge_key']}")
    print(f"file         {directory / 'data.parquet'}")
    print(f"sha256       {row['sha256']} ({'verified' if verify(directory, row['sha256']) else 'MISMATCH'})")
    return 0
