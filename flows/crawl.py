"""The `crawl` flow: pending URLs -> batches (one task each) -> WARC files + statuses per batch."""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact

import warehouse
from components.config import WebtextConfig
from components.crawl.batch import crawl_batch, read_archives, read_urls
from components.crawl.warc import recover
from components.files import expand_inputs
from components.home import Home
from flows.batches import run_batches
from flows.exclusive import holds_warehouse
from flows.results import StageResult, run_name
from warehouse import crawl as queries


@task(task_run_name="crawl-batch-{index:05d}")
def fetch_batch(index: int, batch: Path, config: WebtextConfig, outcomes: Path, prefix: str) -> dict:
    return dict(crawl_batch(batch, config.crawl, Home.from_env().warc, prefix, outcomes))


@task(task_run_name="read-warc-inputs")
def read_warc_inputs(batches: list[Path], config: WebtextConfig, outcomes: Path) -> dict:
    urls = [url for batch in batches for url in read_urls(batch)]
    inputs = expand_inputs(config.crawl.warc_inputs, "crawl.warc_inputs")
    return dict(read_archives(urls, inputs, config.crawl, outcomes))


def plan(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home) -> str | None:
    """Why the stage would run now, or None when it is up to date."""
    pending = queries.pending_count(con)
    leftovers = list((home.staging / "crawl").glob("outcomes-*.parquet"))
    if leftovers:
        return f"{len(leftovers)} fetched batch(es) of a killed run to record"
    return f"{pending:,} URLs pending" if pending else None


@flow(name="crawl", flow_run_name=run_name("crawl"))
@holds_warehouse
def crawl(config: WebtextConfig) -> StageResult:
    """Fetch every pending URL (or read it from WARC archives) into one terminal status."""
    home = Home.from_env()
    repaired = recover(home.warc) if home.warc.exists() else []
    if repaired:
        get_run_logger().info("repaired WARC files left open by a killed crawl: %s", ", ".join(repaired))
    with warehouse.connect(home.warehouse) as con:
        staging = home.staging / "crawl"
        # A killed crawl may have finished batches it never recorded: their WARC files are closed
        # before their outcome file is written, so recording them now is safe and saves a re-fetch.
        for leftover in sorted(staging.glob("outcomes-*.parquet")):
            queries.record_results(con, leftover)
        pending = queries.pending_count(con)
        if not pending:
            shutil.rmtree(staging, ignore_errors=True)
            return StageResult(stage="crawl", up_to_date=True, summary="crawl: up to date (no pending URLs)")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        batches = queries.write_pending_batches(con, staging / "batches", config.crawl.batch_urls)
        if config.crawl.fetcher == "warc":
            counts = read_warc_inputs(batches, config, staging / "outcomes-warc.parquet")
            queries.record_results(con, staging / "outcomes-warc.parquet")
        else:
            counts = _fetch(con, config, batches, staging)
        _report(con, counts, pending)
    fetched = sum(counts.values())
    summary = ", ".join(f"{n:,} {status}" for status, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return StageResult(stage="crawl", up_to_date=False,
                       summary=f"crawl: {fetched:,} of {pending:,} pending URLs done ({summary})")


def _fetch(con: duckdb.DuckDBPyConnection, config: WebtextConfig, batches: list[Path],
           staging: Path) -> dict[str, int]:
    progress = create_progress_artifact(0.0, key="crawl-progress",
                                        description="Share of this run's crawl batches done.")
    stamp = f"crawl-{datetime.now(UTC):%Y-%m-%d-%H%M}"  # WARC names say which crawl wrote them
    totals: dict[str, int] = {}
    with ExitStack() as stack:
        if config.sample.enabled:
            from components.sample import build_site, sample_address, serve_sample

            ip, port = sample_address(config.crawl.resolve)
            stack.enter_context(serve_sample(build_site(config.sample), ip, port))
        calls = [{"index": index, "batch": batch, "config": config,
                  "outcomes": staging / f"outcomes-{index:05d}.parquet", "prefix": f"{stamp}-{index:05d}"}
                 for index, batch in enumerate(batches)]
        for done, (call, counts) in enumerate(run_batches(config.cluster, fetch_batch, calls), start=1):
            queries.record_results(con, call["outcomes"])
            for status, n in counts.items():
                totals[status] = totals.get(status, 0) + n
            update_progress_artifact(progress, 100.0 * done / len(batches))
    return totals


def _report(con: duckdb.DuckDBPyConnection, counts: dict[str, int], pending: int) -> None:
    statuses = queries.status_counts(con)
    rows = [{"status": s, "this_run": counts.get(s, 0), "all_urls": statuses.get(s, 0)}
            for s in (*queries.STATUSES, "pending")]
    create_table_artifact(key="crawl-status", table=rows,
                          description=f"Terminal statuses: this run ({pending:,} pending at its start) "
                                      "and the whole warehouse.")
    create_table_artifact(key="crawl-failing-hosts", table=queries.failing_hosts(con) or [{"host": "none"}],
                          description="Hosts with the most fetch failures.")
