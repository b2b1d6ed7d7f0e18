"""The `finetune` stage: the current pretrained checkpoint -> one fine-tuned checkpoint per task, its
validation scores in `evaluations`; its output, the task name -> fine-tuned checkpoint, is what the
register stage registers."""

from __future__ import annotations

import json
from pathlib import Path

from prefect import get_run_logger
from prefect.artifacts import create_table_artifact

from webtext.components.config import TaskConfig, WebtextConfig
from webtext.components.errors import StageError
from webtext.components.records import Checkpoint, weights_verify
from webtext.components.train.job import JOB_FILE, FinetuneJob, TrainingResult
from webtext.flows.pretrain import STAGE as PRETRAIN
from webtext.flows.pretrain import checkpoint_record
from webtext.flows.stage import Context, Plan, Stage
from webtext.flows.training import run_jobs
from webtext.warehouse import finetune as queries
from webtext.warehouse import pretrain as checkpoints


class Finetune(Stage):
    """Fine-tune the current pretrained checkpoint on every configured task and score each.

    Each task's run is named by its parent checkpoint (or the shape alone, from scratch), the task and
    the fine-tuning settings: a change runs that task again, and the others stay up to date.
    """

    name = "finetune"
    version = 3  # config.json carries the task section a fine-tuned checkpoint is loaded with

    def subject(self, config: WebtextConfig) -> str:
        return f"{len(config.finetune.tasks)}-tasks"

    def plan(self, ctx: Context) -> Plan:
        config = ctx.config
        if not config.finetune.tasks:
            return Plan(None, "no tasks configured", output={})
        parent: Checkpoint = PRETRAIN.current(ctx)
        settings = config.finetune.model_dump(mode="json", exclude={"tasks"})
        origin = "scratch" if config.finetune.from_scratch else parent.checkpoint_id
        ids, pending, done = {}, {}, {}
        for task in config.finetune.tasks:
            checkpoint_id = self.output_id(origin, parent.sha256, task.model_dump(mode="json"), settings)
            ids[task.name] = checkpoint_id
            row = checkpoints.checkpoint_row(ctx.con, checkpoint_id)
            if row is None or not weights_verify(ctx.home.runs / checkpoint_id, row["sha256"]):
                pending[task.name] = (task, checkpoint_id)
            else:
                done[task.name] = checkpoint_record(row, ctx.home.runs / row["path"], parent.tokenizer_path)
        if pending:
            return Plan(f"{len(pending)} task(s) not fine-tuned: {', '.join(pending)}",
                        work=(parent, ids, pending))
        return Plan(None, _scores(ctx, ids), output=done)

    def run(self, ctx: Context, plan: Plan) -> str:
        parent, ids, pending = plan.work
        jobs = {name: _write_job(ctx, parent, task, checkpoint_id)
                for name, (task, checkpoint_id) in pending.items()}
        results = {name: TrainingResult.finished(job.parent) for name, job in jobs.items()}
        todo = [name for name, result in results.items() if result is None]
        if todo:  # one process for every task: Lightning and torch start once
            fresh = run_jobs(f"{len(todo)}-tasks", [jobs[name] for name in todo],
                             "webtext.components.finetune", "finetune-progress", ctx.config.finetune.launcher)
            results.update(zip(todo, fresh))
        for name, (task, checkpoint_id) in pending.items():
            _record(ctx, parent, task, checkpoint_id, results[name])
        create_table_artifact(key="finetune-scores", table=queries.scores(ctx.con, list(ids.values())),
                              description="Validation scores of each task's fine-tuned checkpoint.")
        kind = "from scratch" if ctx.config.finetune.from_scratch else f"from {parent.checkpoint_id}"
        return f"{len(pending)} of {len(ids)} tasks fine-tuned {kind} ({_scores(ctx, ids)})"


def _scores(ctx: Context, ids: dict[str, str]) -> str:
    rows = queries.scores(ctx.con, list(ids.values()))
    return "; ".join(f"{r['task']} {r['metric']} {r['value']:.3f}" for r in rows)


def _write_job(ctx: Context, parent: Checkpoint, task: TaskConfig, checkpoint_id: str) -> Path:
    run_dir = ctx.home.runs / checkpoint_id
    run_dir.mkdir(parents=True, exist_ok=True)
    job = FinetuneJob(out=run_dir, measurements=ctx.home.measurements, parent=parent.directory,
                      parent_sha256=parent.sha256, model=parent.shape,
                      from_scratch=ctx.config.finetune.from_scratch, tokenizer=parent.tokenizer_path,
                      task=task, finetune=ctx.config.finetune.model_copy(update={"tasks": []}),
                      cache_dir=ctx.home.root / "cache")
    job_file = job.write(run_dir / JOB_FILE)
    get_run_logger().info("task %s: run %s", task.name, job_file)
    return job_file


def _record(ctx: Context, parent: Checkpoint, task: TaskConfig, checkpoint_id: str,
            result: TrainingResult) -> None:
    """Register a finished task run as a `finetune` checkpoint and its scores as evaluations."""
    if not weights_verify(ctx.home.runs / checkpoint_id, result.weights_sha256):
        raise StageError(f"fine-tuning {checkpoint_id}: its weights do not match the hash its run recorded")
    settings = ctx.config.finetune.model_dump(mode="json", exclude={"tasks"})
    checkpoints.record_checkpoint(
        ctx.con, checkpoint_id=checkpoint_id, kind="finetune",
        parent_id=None if ctx.config.finetune.from_scratch else parent.checkpoint_id,
        tokenizer_id=parent.tokenizer_id, snapshot_id=parent.snapshot_id, token_set_id=parent.token_set_id,
        path=checkpoint_id, sha256=result.weights_sha256, step=result.step,
        config_json=json.dumps({"task": task.model_dump(mode="json"), **settings}), val_loss=None,
        val_bpb=None)
    queries.record_scores(ctx.con, checkpoint_id, task.name, result.scores, result.n_validation,
                          task_data(task))


def task_data(task: TaskConfig) -> str:
    """What a fine-tuned task's scores were measured on: both splits it reads and its settings."""
    from webtext.components.task_files import data_sha256

    return data_sha256(task, [task.train_split, task.validation_split])


STAGE = Finetune()
finetune = STAGE.flow
