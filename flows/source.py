"""The `source` stage: dumps -> staged batches (one task per file) -> one warehouse transaction."""

from __future__ import annotations

import shutil
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from webtext.components.config import WebtextConfig
from webtext.components.files import expand_inputs, sha256_file, stable_hash
from webtext.components.home import Home
from webtext.components.source.ingest import StagedDump, config_hash, stage_dump
from webtext.flows.stage import Context, Plan, Stage
from webtext.warehouse import source as queries


@task(task_run_name="sample-build")
def build_sample(config: WebtextConfig) -> None:
    from webtext.components.sample import build_sample as build

    build(Home.from_env().sample, config.sample)


@task(task_run_name="stage-{path.name}")
def stage(path: Path, config: WebtextConfig, directory: Path) -> StagedDump:
    logger = get_run_logger()

    def progress(staged: StagedDump) -> None:
        logger.info("%s: %s lines read, %s selected", path.name, f"{staged.counts['lines']:,}",
                    f"{staged.counts['selected']:,}")

    return stage_dump(path, config.source, config.crawl, directory, on_batch=progress)


class Source(Stage):
    """Read the dumps into `submissions` and `urls`: WebText's link set, deduplicated and filtered.

    A dump is loaded once per content (its sha256) and source config: the load id hashes both.
    """

    name = "source"

    def prepare(self, config: WebtextConfig, home: Home) -> None:
        if config.sample.enabled:  # the same config rebuilds the same bytes: an unchanged dump
            build_sample(config)
        expand_inputs(config.source.dumps, "source.dumps")  # a missing dump fails before any write

    def plan(self, ctx: Context) -> Plan:
        if ctx.config.sample.enabled and not (ctx.home.sample / "RS_sample.ndjson.zst").exists():
            return Plan("the sample is not built yet")
        paths = expand_inputs(ctx.config.source.dumps, "source.dumps")
        chash = config_hash(ctx.config.source, ctx.config.crawl)
        todo: dict[str, tuple] = {}  # load id -> (path, sha256, stat): a dump under two paths is read once
        for path in paths:
            info = path.stat()
            known = queries.known_sha256(ctx.con, str(path), info.st_size, info.st_mtime_ns)
            sha = known or sha256_file(path)
            load_id = stable_hash([sha, chash])[:16]
            if not queries.is_loaded(ctx.con, load_id):
                todo.setdefault(load_id, (path, sha, info))
        if not todo:
            return Plan(None, f"{len(paths)} dump(s) already loaded")
        return Plan(f"{len(todo)} of {len(paths)} dump(s) not loaded with this source config",
                    work=(chash, todo))

    def run(self, ctx: Context, plan: Plan) -> str:
        chash, todo = plan.work
        staging = ctx.home.staging / "source"
        _remove_stale_staging(staging, keep=set(todo))
        # One file at a time: staging one already keeps every core busy (`source.workers`), and a
        # long-window .zst needs up to 2 GiB of decoder memory while it is read.
        loads = []
        for load_id, (path, sha, info) in todo.items():
            staged = stage(path, ctx.config, staging / load_id)
            loads.append(queries.DumpLoad(
                load_id=load_id, path=str(path), sha256=sha, size=info.st_size,
                mtime_ns=info.st_mtime_ns, config_hash=chash, counts=dict(staged.counts),
                batches=staged.batches))
        queries.load(ctx.con, loads)
        for item in loads:
            shutil.rmtree(staging / item.load_id, ignore_errors=True)

        rows = queries.funnel(ctx.con, [item.load_id for item in loads])
        create_table_artifact(
            key="source-funnel", table=rows,
            description=f"Source funnel per dump file: lines read, rejections, new URLs. Config "
                        f"{chash[:12]}: min_score={ctx.config.source.min_score}, "
                        f"drop_over_18={ctx.config.source.drop_over_18}.",
        )
        lines, selected = sum(r["lines"] for r in rows), sum(r["selected"] for r in rows)
        new_urls, pending = sum(r["new_urls"] for r in rows), sum(r["new_pending"] for r in rows)
        return (f"{lines:,} lines, {selected:,} selected, {new_urls:,} new URLs "
                f"({pending:,} pending, {new_urls - pending:,} filtered) from {len(loads)} dump(s)")


def _remove_stale_staging(staging: Path, keep: set[str]) -> None:
    """Drop batches of loads that finished or were abandoned (a killed run, then a config change)."""
    if staging.exists():
        for directory in staging.iterdir():
            if directory.name not in keep:
                shutil.rmtree(directory, ignore_errors=True)


STAGE = Source()
source = STAGE.flow
