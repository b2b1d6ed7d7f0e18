"""The `crawl` stage: pending URLs -> batches (one task each) -> WARC files + statuses per batch."""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact

from webtext.components.config import WebtextConfig
from webtext.components.crawl.batch import crawl_batch, read_archives, read_urls
from webtext.components.crawl.warc import recover
from webtext.components.files import expand_inputs
from webtext.components.home import Home
from webtext.flows.batches import run_batches
from webtext.flows.stage import Context, Plan, Stage
from webtext.warehouse import crawl as queries


@task(task_run_name="crawl-batch-{index:05d}")
def fetch_batch(index: int, batch: Path, config: WebtextConfig, outcomes: Path, prefix: str) -> dict:
    return dict(crawl_batch(batch, config.crawl, Home.from_env().warc, prefix, outcomes))


@task(task_run_name="read-warc-inputs")
def read_warc_inputs(batches: list[Path], config: WebtextConfig, outcomes: Path) -> dict:
    urls = [url for batch in batches for url in read_urls(batch)]
    inputs = expand_inputs(config.crawl.warc_inputs, "crawl.warc_inputs")
    return dict(read_archives(urls, inputs, config.crawl, outcomes))


class Crawl(Stage):
    """Fetch every pending URL (or read it from WARC archives) into one terminal status."""

    name = "crawl"
    areas = {"warc": 1}

    def plan(self, ctx: Context) -> Plan:
        leftovers = sorted((ctx.home.staging / "crawl").glob("outcomes-*.parquet"))
        if leftovers:
            return Plan(f"{len(leftovers)} fetched batch(es) of a killed run to record")
        pending = queries.pending_count(ctx.con)
        return Plan(f"{pending:,} URLs pending") if pending else Plan(None, "no pending URLs")

    def run(self, ctx: Context, plan: Plan) -> str:
        con, config, home = ctx.con, ctx.config, ctx.home
        repaired = recover(home.warc) if home.warc.exists() else []
        if repaired:
            get_run_logger().info("repaired WARC files left open by a killed crawl: %s", ", ".join(repaired))
        staging = home.staging / "crawl"
        # A killed crawl may have finished batches it never recorded: their WARC files are closed
        # before their outcome file is written, so recording them now is safe and saves a re-fetch.
        leftovers = sorted(staging.glob("outcomes-*.parquet"))
        for leftover in leftovers:
            queries.record_results(con, leftover)
        shutil.rmtree(staging, ignore_errors=True)
        pending = queries.pending_count(con)
        if not pending:
            return f"recorded {len(leftovers)} fetched batch(es) of a killed run; no URLs pending"
        staging.mkdir(parents=True)
        batches = queries.write_pending_batches(con, staging / "batches", config.crawl.batch_urls)
        if config.crawl.fetcher == "warc":
            counts = read_warc_inputs(batches, config, staging / "outcomes-warc.parquet")
            queries.record_results(con, staging / "outcomes-warc.parquet")
        else:
            counts = _fetch(con, config, batches, staging)
        shutil.rmtree(staging)  # every batch is recorded: nothing is left to resume from
        _report(con, counts, pending)
        done = ", ".join(f"{n:,} {status}" for status, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        return f"{sum(counts.values()):,} of {pending:,} pending URLs done ({done})"


def _fetch(con: duckdb.DuckDBPyConnection, config: WebtextConfig, batches: list[Path],
           staging: Path) -> dict[str, int]:
    progress = create_progress_artifact(0.0, key="crawl-progress",
                                        description="Share of this run's crawl batches done.")
    stamp = f"crawl-{datetime.now(UTC):%Y-%m-%d-%H%M}"  # WARC names say which crawl wrote them
    totals: dict[str, int] = {}
    with ExitStack() as stack:
        if config.sample.enabled:
            from webtext.components.sample import build_site, sample_address, serve_sample

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


STAGE = Crawl()
crawl = STAGE.flow
