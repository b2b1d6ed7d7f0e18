"""`webtext gc [--warc] [--dry-run]`: remove files under WEBTEXT_HOME that nothing references.

Snapshots, tokenizers, token sets, training runs, registry versions, extracted-text shards and n-gram
indexes that no warehouse row names go, and so does the scratch of killed processes. Raw WARC files are
the crawl's only copy of the web, so they stay unless `--warc` is given (and then only those no URL or
extraction names). Staging batches stay: they are what a killed run resumes from. A training run
that no checkpoint row names goes too, resumable state and all: finish or rerun a stage first.
"""

from __future__ import annotations

import argparse

from webtext.components.home import Home


def add_command(commands: argparse._SubParsersAction) -> None:
    gc = commands.add_parser("gc", help="remove files under WEBTEXT_HOME that nothing references")
    gc.add_argument("--warc", action="store_true", help="remove unreferenced raw WARC files too")
    gc.add_argument("--dry-run", action="store_true", help="list what would go, remove nothing")


def staged_warc_files(home: Home) -> set[str]:
    import pyarrow.parquet as pq

    return {name for outcomes in (home.staging / "crawl").glob("outcomes-*.parquet")
            for name in pq.read_table(outcomes, columns=["warc_file"]).column(0).to_pylist() if name}


def run(args: argparse.Namespace, home: Home) -> int:
    from webtext.components.gc import remove, size, unreferenced
    from webtext.flows.exclusive import command_holds_warehouse
    from webtext.flows.pipeline import STAGES
    from webtext.warehouse.gc import referenced

    areas = {area: depth for stage in STAGES.values() for area, depth in stage.areas.items()}
    with command_holds_warehouse(home) as con:
        refs = referenced(con)
        doomed = []
        # A killed crawl's fetched batches name their WARC files in staging until the next crawl
        # records them: those files are referenced too.
        refs["warc"] |= staged_warc_files(home)
        for area, depth in areas.items():
            if area == "warc" and not args.warc:
                continue
            names = refs[area]
            if area == "evaluate/ngrams":
                def keep(rel: str, names=names) -> bool:
                    return rel.rsplit("-", 1)[0] in names
            else:
                def keep(rel: str, names=names) -> bool:
                    return rel in names
            doomed += [(area, path) for path in unreferenced(home.root / area, keep, depth)]
        freed = 0
        for area, path in doomed:
            freed += size(path)
            print(f"{'would remove' if args.dry_run else 'removed'} {path.relative_to(home.root)}")
            if not args.dry_run:
                remove(path)
    verb = "would free" if args.dry_run else "freed"
    amount = f"{freed / 1e6:,.1f} MB" if freed >= 100_000 else f"{freed:,} bytes"
    print(f"gc: {len(doomed)} unreferenced entries, {verb} {amount}"
          + ("" if args.warc else " (WARC files kept; --warc removes unreferenced ones)"))
    return 0
