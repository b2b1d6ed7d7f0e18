"""The `extract` stage: archived pages -> text shards -> verdicts -> clusters -> a published snapshot.

Each step is keyed by its inputs, so a rerun extracts only pages never extracted, re-judges only when
the filter config changed, and publishes a snapshot only when the kept set is new.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from webtext.components.config import WebtextConfig
from webtext.components.extract import keys
from webtext.components.extract.snapshot import DATA_FILE, MANIFEST_FILE, publish, read_manifest, verify
from webtext.components.files import stable_hash
from webtext.components.home import Home
from webtext.components.records import Snapshot
from webtext.flows.batches import run_batches
from webtext.flows.stage import Context, Plan, Stage
from webtext.warehouse import extract as queries


@task(task_run_name="extract-batch-{index:05d}")
def extract_batch(index: int, rows: list[tuple], out: Path, config: WebtextConfig) -> dict[str, int]:
    from webtext.components.extract.pages import PageRef, extract_pages

    extractor = keys.extractor_key(config.extract)
    refs = [PageRef(doc_id=keys.document_id(url, warc_file, offset, extractor), url=url, final_url=final,
                    warc_file=warc_file, warc_offset=offset, warc_length=length, charset=charset)
            for url, final, warc_file, offset, length, charset in rows]
    return extract_pages(refs, out, warc_dir=Home.from_env().warc, extractor=config.extract.extractor,
                         workers=config.extract.workers, timeout_s=config.extract.timeout_s,
                         max_bytes=config.crawl.max_bytes)


@task(task_run_name="judge-{count}-shards")
def judge(jobs: list[tuple[Path, Path]], count: int, config: WebtextConfig) -> list[tuple[Path, dict]]:
    from webtext.components.extract.verdicts import judge_shards

    done = []
    for out, counts in judge_shards(jobs, config.extract, config.extract.workers):
        done.append((out, counts))
        get_run_logger().info("judged %d of %d shards", len(done), count)
    return done


def _dedup(con: duckdb.DuckDBPyConnection, config: WebtextConfig) -> None:
    """Cluster the documents every filter passed and record every current document's final verdict."""
    from webtext.components.extract.dedup import cluster_table

    extractor = keys.extractor_key(config.extract)
    table = cluster_table(queries.dedup_candidates(con, extractor), config.extract.dedup.bands)
    queries.record_clusters(con, table, extractor)


def _snapshot(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home) -> tuple[str, bool]:
    """Publish the kept set as a snapshot unless one with its id exists; (id, published now)."""
    judge_key = keys.judge_key(config.extract)
    kept = queries.kept_set(con)
    snapshot_id = keys.snapshot_id(kept.digest, judge_key)
    if verified_snapshot(queries.snapshot_row(con, snapshot_id), home) is not None:
        return snapshot_id, False
    directory = home.snapshots / snapshot_id
    if directory.exists():  # published by a run killed before recording it, or damaged since
        manifest = read_manifest(directory) if (directory / MANIFEST_FILE).exists() else {}
        digest = manifest.get("files", {}).get(DATA_FILE, {}).get("sha256", "")
        if not verify(directory, digest) or manifest.get("n_documents") != kept.n_documents:
            shutil.rmtree(directory)
    if not directory.exists():
        manifest = {"snapshot_id": snapshot_id, "judge_key": judge_key,
                    "extractor": keys.extractor_key(config.extract),
                    "config": config.extract.model_dump(mode="json")}
        publish(directory, lambda out: queries.export_kept(con, out), kept.n_documents, kept.n_bytes,
                manifest)
    digest = read_manifest(directory)["files"][DATA_FILE]["sha256"]
    queries.record_snapshot(con, snapshot_id, directory / DATA_FILE, kept.n_bytes, judge_key,
                            snapshot_id, digest, json.dumps(config.extract.model_dump(mode="json")))
    return snapshot_id, True


def verified_snapshot(row: dict | None, home: Home) -> Snapshot | None:
    """A `snapshots` row as the record later stages read, if its file is whole; else None."""
    if row is None or not verify(home.snapshots / row["path"], row["sha256"]):
        return None
    return Snapshot(snapshot_id=row["snapshot_id"], data=home.snapshots / row["path"] / DATA_FILE,
                    n_documents=row["n_documents"], n_bytes=row["n_bytes"])


class Extract(Stage):
    """Extract new archived pages, judge them, dedup, and publish the kept set as a snapshot."""

    name = "extract"
    areas = {"extract": 1, "snapshots": 1}

    def plan(self, ctx: Context) -> Plan:
        con, config = ctx.con, ctx.config
        extractor, judge_key = keys.extractor_key(config.extract), keys.judge_key(config.extract)
        if pending := queries.pending_pages(con, extractor):
            return Plan(f"{len(pending):,} archived pages not extracted with this extractor")
        if shards := queries.shards_to_judge(con, extractor, judge_key):
            return Plan(f"{len(shards):,} text shard(s) to judge under this filter config")
        if queries.unresolved(con, extractor):
            return Plan("documents judged but not deduplicated")
        if not queries.funnel(con, extractor):  # a snapshot of nothing would only mislead the stages after
            return Plan(None, "no archived pages yet: run the crawl stage")
        snapshot_id = keys.snapshot_id(queries.kept_set(con).digest, judge_key)
        snapshot = verified_snapshot(queries.snapshot_row(con, snapshot_id), ctx.home)
        if snapshot is None:
            return Plan(f"snapshot {snapshot_id} of the kept set is not published")
        return Plan(None, f"snapshot {snapshot_id}", output=snapshot)

    def run(self, ctx: Context, plan: Plan) -> str:
        staging = ctx.home.staging / "extract"  # judged shards wait here until they are loaded
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            return _extract(ctx.con, ctx.config, ctx.home, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _extract(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home, staging: Path) -> str:
    extractor, judge_key = keys.extractor_key(config.extract), keys.judge_key(config.extract)
    extracted = _extract_new(con, config, home)
    shards = queries.shards_to_judge(con, extractor, judge_key)
    judged: dict[str, int] = {}
    if shards:
        jobs = [(home.extract / name, staging / f"verdicts-{name}") for name in shards]
        for out, counts in judge(jobs, len(jobs), config):
            queries.record_verdicts(con, out, judge_key)
            for reason, n in counts.items():
                judged[reason] = judged.get(reason, 0) + n
    if shards or queries.unresolved(con, extractor):
        _dedup(con, config)
    rows = queries.funnel(con, extractor)
    if not rows:
        return f"{sum(extracted.values()):,} pages extracted, none readable: no snapshot"
    snapshot_id, published = _snapshot(con, config, home)
    _report(con, config, extracted, rows, snapshot_id)
    kept = next((r for r in rows if r["verdict"] == "kept"), {"documents": 0, "bytes": 0})
    total = sum(r["documents"] for r in rows)
    return (f"{sum(extracted.values()):,} pages extracted, {sum(judged.values()):,} judged; "
            f"{kept['documents']:,} of {total:,} documents kept ({kept['bytes']:,} bytes); "
            f"snapshot {snapshot_id}" + ("" if published else " (already published)"))


def _extract_new(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home) -> dict[str, int]:
    """Extract pages not extracted before, one shard per batch; a shard left by a killed run is
    named by its pages, so it is recognised and recorded without extracting again."""
    extractor = keys.extractor_key(config.extract)
    pending = queries.pending_pages(con, extractor)
    size = config.extract.batch_records
    totals: dict[str, int] = {}
    calls = []
    for index, start in enumerate(range(0, len(pending), size)):
        rows = pending[start:start + size]
        out = home.extract / f"{extractor}-{stable_hash([r[:4] for r in rows])[:16]}.parquet"
        if out.exists():
            queries.record_extractions(con, out, out.name, extractor)
        else:
            calls.append({"index": index, "rows": rows, "out": out, "config": config})
    for call, counts in run_batches(config.cluster, extract_batch, calls):
        queries.record_extractions(con, call["out"], call["out"].name, extractor)
        for status, n in counts.items():
            totals[status] = totals.get(status, 0) + n
    return totals


def _report(con: duckdb.DuckDBPyConnection, config: WebtextConfig, extracted: dict[str, int],
            rows: list[dict], snapshot_id: str) -> None:
    extractor = keys.extractor_key(config.extract)
    table = [{"step": "extracted this run", "verdict": status, "documents": n, "bytes": None}
             for status, n in sorted(extracted.items())]
    table += [{"step": "current corpus", **r} for r in rows]
    create_table_artifact(
        key="extract-funnel", table=table,
        description=f"Extraction this run, then every current document by verdict (first failing "
                    f"filter, `duplicate`, or kept). Extractor {extractor}, filters "
                    f"{keys.judge_key(config.extract)}, snapshot {snapshot_id}.",
    )
    lines = [f"# Extract examples (snapshot `{snapshot_id}`)", ""]
    for example in queries.examples(con, extractor):
        excerpt = " ".join(example["excerpt"].split()) or "(no text)"
        lines.append(f"- **{example['verdict']}** {example['url']}: {excerpt}")
    create_markdown_artifact(key="extract-examples", markdown="\n".join(lines),
                             description="A few documents per verdict, the first 300 characters of each.")


STAGE = Extract()
extract = STAGE.flow
