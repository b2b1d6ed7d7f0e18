"""The `source` flow: dumps -> staged batches (one task per file) -> one warehouse transaction."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

import warehouse
from components.config import WebtextConfig
from components.files import expand_inputs, sha256_file, stable_hash
from components.home import Home
from components.source.ingest import StagedDump, config_hash, stage_dump
from flows.exclusive import holds_warehouse
from flows.results import StageResult, run_name
from warehouse import source as queries


@task(task_run_name="sample-build")
def build_sample(config: WebtextConfig) -> None:
    from components.sample import build_sample as build

    build(Home.from_env().sample, config.sample)


@task(task_run_name="stage-{path.name}")
def stage(path: Path, config: WebtextConfig, directory: Path) -> StagedDump:
    logger = get_run_logger()

    def progress(staged: StagedDump) -> None:
        logger.info("%s: %s lines read, %s selected", path.name, f"{staged.counts['lines']:,}",
                    f"{staged.counts['selected']:,}")

    return stage_dump(path, config.source, config.crawl, directory, on_batch=progress)


@flow(name="source", flow_run_name=run_name("source"))
@holds_warehouse
def source(config: WebtextConfig) -> StageResult:
    """Read the dumps into `submissions` and `urls`: WebText's link set, deduplicated and filtered."""
    if config.sample.enabled:
        build_sample(config)
    paths = expand_inputs(config.source.dumps, "source.dumps")
    home = Home.from_env()
    with warehouse.connect(home.warehouse) as con:
        return _load_new_dumps(con, config, paths, home)


def _load_id(con: duckdb.DuckDBPyConnection, path: Path, chash: str):
    """A dump's stat, sha256 (hashed once per size and mtime) and load id under this config."""
    info = path.stat()
    sha = queries.known_sha256(con, str(path), info.st_size, info.st_mtime_ns) or sha256_file(path)
    return info, sha, stable_hash([sha, chash])[:16]


def plan(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home) -> str | None:
    """Why the stage would run now, or None when it is up to date."""
    if config.sample.enabled and not (home.sample / "RS_sample.ndjson.zst").exists():
        return "the sample is not built yet"
    paths = expand_inputs(config.source.dumps, "source.dumps")
    chash = config_hash(config.source, config.crawl)
    new = [p for p in paths if not queries.is_loaded(con, _load_id(con, p, chash)[2])]
    return f"{len(new)} of {len(paths)} dump(s) not loaded with this source config" if new else None


def _load_new_dumps(con: duckdb.DuckDBPyConnection, config: WebtextConfig, paths: list[Path],
                    home: Home) -> StageResult:
    logger = get_run_logger()
    chash = config_hash(config.source, config.crawl)
    todo: dict[str, tuple] = {}
    for path in paths:
        info, sha, load_id = _load_id(con, path, chash)
        if queries.is_loaded(con, load_id):
            logger.info("%s: already loaded with this source config", path)
        elif load_id in todo:
            logger.info("%s: same content as %s, read once", path, todo[load_id][0])
        else:
            todo[load_id] = (path, sha, load_id, info)
    staging = home.staging / "source"
    _remove_stale_staging(staging, keep=set(todo))
    if not todo:
        return StageResult(stage="source", up_to_date=True,
                           summary=f"source: up to date ({len(paths)} dump(s) already loaded)")

    # One file at a time: staging one already keeps every core busy (`source.workers`), and a
    # long-window .zst needs up to 2 GiB of decoder memory while it is read.
    loads = []
    for path, sha, load_id, info in todo.values():
        staged = stage(path, config, staging / load_id)
        loads.append(queries.DumpLoad(
            load_id=load_id, path=str(path), sha256=sha, size=info.st_size,
            mtime_ns=info.st_mtime_ns, config_hash=chash, counts=dict(staged.counts),
            batches=staged.batches))
    queries.load(con, loads)
    for item in loads:
        shutil.rmtree(staging / item.load_id, ignore_errors=True)

    rows = queries.funnel(con, [item.load_id for item in loads])
    create_table_artifact(
        key="source-funnel", table=rows,
        description=f"Source funnel per dump file: lines read, rejections, new URLs. Config "
                    f"{chash[:12]}: min_score={config.source.min_score}, "
                    f"drop_over_18={config.source.drop_over_18}.",
    )
    lines, selected = sum(r["lines"] for r in rows), sum(r["selected"] for r in rows)
    new_urls, pending = sum(r["new_urls"] for r in rows), sum(r["new_pending"] for r in rows)
    return StageResult(
        stage="source", up_to_date=False,
        summary=f"source: {lines:,} lines, {selected:,} selected, {new_urls:,} new URLs "
                f"({pending:,} pending, {new_urls - pending:,} filtered) from {len(loads)} dump(s)",
    )


def _remove_stale_staging(staging: Path, keep: set[str]) -> None:
    """Drop batches of loads that finished or were abandoned (a killed run, then a config change)."""
    if staging.exists():
        for directory in staging.iterdir():
            if directory.name not in keep:
                shutil.rmtree(directory, ignore_errors=True)
