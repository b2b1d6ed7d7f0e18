"""The `finetune` flow: the current pretrained checkpoint -> one fine-tuned checkpoint per task, its
validation scores in `evaluations`.

Each task's run is content-addressed by its parent checkpoint (or the shape alone, from scratch),
the task and the fine-tuning settings: a rerun with nothing changed says up to date, a change runs
that task again. Runs go through the same process runner as pretraining.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

import warehouse
from components.config import TaskConfig, WebtextConfig
from components.errors import StageError
from components.files import atomic_write_bytes, sha256_file, stable_hash
from components.home import Home
from flows.exclusive import holds_warehouse
from flows.pretrain import current_checkpoint
from flows.results import StageResult, run_name
from flows.training import WEIGHTS, finished_run, run_jobs
from warehouse import finetune as queries
from warehouse import pretrain as checkpoints

FINETUNE_VERSION = 1  # bump when the same inputs and config would now give other weights or scores


@flow(name="finetune", flow_run_name=run_name("finetune"))
@holds_warehouse
def finetune(config: WebtextConfig) -> StageResult:
    """Fine-tune the current pretrained checkpoint on every configured task and score each."""
    if not config.finetune.tasks:
        return StageResult(stage="finetune", up_to_date=True, summary="finetune: no tasks configured")
    home = Home.from_env()
    with warehouse.connect(home.warehouse) as con:
        return _finetune(con, config, home)


def _runs(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home, parent: dict
          ) -> tuple[dict[str, str], dict[str, tuple[TaskConfig, str]]]:
    """Each task's checkpoint id, and the tasks whose checkpoint is not registered with its weights."""
    settings = config.finetune.model_dump(mode="json", exclude={"tasks"})
    origin = "scratch" if config.finetune.from_scratch else parent["checkpoint_id"]
    ids, pending = {}, {}
    for task in config.finetune.tasks:
        checkpoint_id = stable_hash([origin, parent["sha256"], task.model_dump(mode="json"), settings,
                                     FINETUNE_VERSION])[:16]
        ids[task.name] = checkpoint_id
        row = checkpoints.checkpoint_row(con, checkpoint_id)
        weights = home.runs / checkpoint_id / WEIGHTS
        if row is None or not weights.is_file() or sha256_file(weights) != row["sha256"]:
            pending[task.name] = (task, checkpoint_id)
    return ids, pending


def plan(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home) -> str | None:
    """Why the stage would run now, or None when it is up to date."""
    if not config.finetune.tasks:
        return None
    _, pending = _runs(con, config, home, current_checkpoint(con, config, home))
    return f"{len(pending)} task(s) not fine-tuned: {', '.join(pending)}" if pending else None


def _finetune(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home) -> StageResult:
    parent = current_checkpoint(con, config, home)
    settings = config.finetune.model_dump(mode="json", exclude={"tasks"})
    ids, pending = _runs(con, config, home, parent)
    if pending:
        jobs = {name: _write_job(config, home, parent, task, checkpoint_id, settings)
                for name, (task, checkpoint_id) in pending.items()}
        results = {name: finished_run(job.parent) for name, job in jobs.items()}
        todo = [name for name, result in results.items() if result is None]
        if todo:  # one process for every task: Lightning and torch start once
            fresh = run_jobs(f"{len(todo)}-tasks", [jobs[name] for name in todo], "components.finetune",
                             "finetune-progress")
            results.update(zip(todo, fresh))
        for name, (task, checkpoint_id) in pending.items():
            _record(con, config, home, parent, task, checkpoint_id, settings, results[name])
    table = queries.scores(con, list(ids.values()))
    summary = "; ".join(f"{r['task']} {r['metric']} {r['value']:.3f}" for r in table)
    if not pending:
        return StageResult(stage="finetune", up_to_date=True, summary=f"finetune: up to date ({summary})")
    create_table_artifact(key="finetune-scores", table=table,
                          description="Validation scores of each task's fine-tuned checkpoint.")
    kind = "from scratch" if config.finetune.from_scratch else f"from {parent['checkpoint_id']}"
    return StageResult(stage="finetune", up_to_date=False,
                       summary=f"finetune: {len(pending)} of {len(ids)} tasks fine-tuned {kind} ({summary})")


def _write_job(config: WebtextConfig, home: Home, parent: dict, task: TaskConfig, checkpoint_id: str,
               settings: dict) -> Path:
    run_dir = home.runs / checkpoint_id
    run_dir.mkdir(parents=True, exist_ok=True)
    job = {"out": str(run_dir), "parent": str(parent["directory"]), "parent_sha256": parent["sha256"],
           "model": json.loads((Path(parent["directory"]) / "config.json").read_text()),
           "from_scratch": config.finetune.from_scratch, "tokenizer": str(parent["tokenizer_path"]),
           "task": task.model_dump(mode="json"), "finetune": settings, "cache_dir": str(home.root / "cache")}
    job_file = run_dir / "job.json"
    atomic_write_bytes(job_file, (json.dumps(job, indent=1) + "\n").encode())
    get_run_logger().info("task %s: run %s", task.name, job_file)
    return job_file


def _record(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home, parent: dict, task: TaskConfig,
            checkpoint_id: str, settings: dict, result: dict) -> None:
    """Register a finished task run as a `finetune` checkpoint and its scores as evaluations."""
    weights = home.runs / checkpoint_id / WEIGHTS
    if sha256_file(weights) != result["files"][WEIGHTS]:
        raise StageError(f"fine-tuning {checkpoint_id}: {weights} does not match the hash its run recorded")
    checkpoints.record_checkpoint(
        con, checkpoint_id=checkpoint_id, kind="finetune",
        parent_id=None if config.finetune.from_scratch else parent["checkpoint_id"],
        tokenizer_id=parent["tokenizer_id"], snapshot_id=parent["snapshot_id"],
        token_set_id=parent["token_set_id"], path=checkpoint_id, sha256=result["files"][WEIGHTS],
        step=result["step"], config_json=json.dumps({"task": task.model_dump(mode="json"), **settings}),
        val_loss=None, val_bpb=None)
    queries.record_scores(con, checkpoint_id, task.name, result["scores"], result["n_validation"])
