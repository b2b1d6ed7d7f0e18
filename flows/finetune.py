"""The `finetune` stage: the current pretrained checkpoint -> one fine-tuned checkpoint per task, its
validation scores in `evaluations`; its output, the task name -> fine-tuned checkpoint, is what the
register stage registers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from prefect import get_run_logger
from prefect.artifacts import create_table_artifact

from webtext.components.config import FinetuneConfig, TaskConfig, WebtextConfig
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
    the fine-tuning settings: a change runs that task again, and the others stay up to date. With
    `with_scratch_baseline`, each task is also fine-tuned from random weights of the parent's shape (the
    run a `from_scratch` config would make): scored beside the fine-tuned model, never registered.
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
        arms = [Arm(task, False) for task in config.finetune.tasks]
        if config.finetune.with_scratch_baseline:
            arms += [Arm(task, True) for task in config.finetune.tasks]
        runs = {self.arm_id(arm, parent, config): arm for arm in arms}
        pending, done = {}, {}
        for checkpoint_id, arm in runs.items():
            row = checkpoints.checkpoint_row(ctx.con, checkpoint_id)
            if row is None or not weights_verify(ctx.home.runs / checkpoint_id, row["sha256"]):
                pending[checkpoint_id] = arm
            elif not arm.baseline:
                done[arm.task.name] = checkpoint_record(row, ctx.home.runs / row["path"],
                                                        parent.tokenizer_path)
        if pending:
            names = [arm.task.name + (" (scratch baseline)" if arm.baseline else "")
                     for arm in pending.values()]
            return Plan(f"{len(pending)} task run(s) not fine-tuned: {', '.join(names)}",
                        work=(parent, runs, pending))
        return Plan(None, _scores(ctx, runs), output=done)

    def arm_id(self, arm: Arm, parent: Checkpoint, config: WebtextConfig) -> str:
        settings = arm.settings(config).model_dump(mode="json", exclude={"tasks", "with_scratch_baseline"})
        return self.output_id("scratch" if arm.from_scratch(config) else parent.checkpoint_id, parent.sha256,
                              arm.task.model_dump(mode="json"), settings)

    def run(self, ctx: Context, plan: Plan) -> str:
        parent, runs, pending = plan.work
        jobs = {checkpoint_id: _write_job(ctx, parent, arm, checkpoint_id)
                for checkpoint_id, arm in pending.items()}
        results = {checkpoint_id: TrainingResult.finished(job.parent) for checkpoint_id, job in jobs.items()}
        todo = [checkpoint_id for checkpoint_id, result in results.items() if result is None]
        if todo:  # one process for every task: Lightning and torch start once
            fresh = run_jobs(f"{len(todo)}-tasks", [jobs[checkpoint_id] for checkpoint_id in todo],
                             "webtext.components.finetune", "finetune-progress", ctx.config.finetune.launcher)
            results.update(zip(todo, fresh))
        for checkpoint_id, arm in pending.items():
            _record(ctx, parent, arm, checkpoint_id, results[checkpoint_id])
        create_table_artifact(key="finetune-scores", table=queries.scores(ctx.con, list(runs)),
                              description="Validation scores of each task's fine-tuned checkpoint.")
        kind = "from scratch" if ctx.config.finetune.from_scratch else f"from {parent.checkpoint_id}"
        return f"{len(pending)} of {len(runs)} task runs fine-tuned {kind} ({_scores(ctx, runs)})"


@dataclass(frozen=True)
class Arm:
    """One run of a task: from the pretrained weights as configured, or its scratch baseline."""

    task: TaskConfig
    baseline: bool  # the scratch baseline of `finetune.with_scratch_baseline`

    def from_scratch(self, config: WebtextConfig) -> bool:
        return self.baseline or config.finetune.from_scratch

    def settings(self, config: WebtextConfig) -> FinetuneConfig:
        return config.finetune.settings(self.from_scratch(config))


def _scores(ctx: Context, runs: dict[str, Arm]) -> str:
    rows = queries.scores(ctx.con, list(runs))
    baselines = {checkpoint_id for checkpoint_id, arm in runs.items() if arm.baseline}
    return "; ".join(f"{r['task']}{' from scratch' if r['checkpoint_id'] in baselines else ''} {r['metric']} "
                     f"{r['value']:.3f}" for r in rows)


def _write_job(ctx: Context, parent: Checkpoint, arm: Arm, checkpoint_id: str) -> Path:
    run_dir = ctx.home.runs / checkpoint_id
    run_dir.mkdir(parents=True, exist_ok=True)
    job = FinetuneJob(out=run_dir, measurements=ctx.home.measurements, parent=parent.directory,
                      parent_sha256=parent.sha256, model=parent.shape,
                      from_scratch=arm.from_scratch(ctx.config), tokenizer=parent.tokenizer_path,
                      task=arm.task, finetune=arm.settings(ctx.config), cache_dir=ctx.home.root / "cache")
    job_file = job.write(run_dir / JOB_FILE)
    get_run_logger().info("task %s%s: run %s", arm.task.name,
                          " (scratch baseline)" if arm.baseline else "", job_file)
    return job_file


def _record(ctx: Context, parent: Checkpoint, arm: Arm, checkpoint_id: str, result: TrainingResult) -> None:
    """Register a finished task run as a `finetune` checkpoint and its scores as evaluations. A run from
    scratch has no parent; its config names the checkpoint whose shape it took (`shape_of`)."""
    if not weights_verify(ctx.home.runs / checkpoint_id, result.weights_sha256):
        raise StageError(f"fine-tuning {checkpoint_id}: its weights do not match the hash its run recorded")
    scratch = arm.from_scratch(ctx.config)
    settings = arm.settings(ctx.config).model_dump(mode="json", exclude={"tasks", "with_scratch_baseline"})
    config = {"task": arm.task.model_dump(mode="json"), **settings,
              **({"shape_of": parent.checkpoint_id} if scratch else {})}
    checkpoints.record_checkpoint(
        ctx.con, checkpoint_id=checkpoint_id, kind="finetune",
        parent_id=None if scratch else parent.checkpoint_id,
        tokenizer_id=parent.tokenizer_id, snapshot_id=parent.snapshot_id, token_set_id=parent.token_set_id,
        path=checkpoint_id, sha256=result.weights_sha256, step=result.step, config_json=json.dumps(config),
        val_loss=None, val_bpb=None)
    queries.record_scores(ctx.con, checkpoint_id, arm.task.name, result.scores, result.n_validation,
                          task_data(arm.task))


def task_data(task: TaskConfig) -> str:
    """What a fine-tuned task's scores were measured on: both splits it reads and its settings."""
    from webtext.components.task_files import data_sha256

    return data_sha256(task, [task.train_split, task.validation_split])


STAGE = Finetune()
finetune = STAGE.flow
