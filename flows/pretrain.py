"""The `pretrain` stage: the current token set -> a training process -> a registered checkpoint."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from webtext.components.config import WebtextConfig
from webtext.components.errors import ConfigError, InputError, StageError
from webtext.components.records import Checkpoint, TokenSet, weights_verify
from webtext.components.train.job import JOB_FILE, PretrainJob, TrainingResult
from webtext.flows.stage import Context, Plan, Stage
from webtext.flows.tokenize import STAGE as TOKENIZE
from webtext.flows.training import run_jobs
from webtext.warehouse import pretrain as queries


def checkpoint_record(row: dict, directory: Path, tokenizer_path: Path) -> Checkpoint:
    """A `checkpoints` row as the record the stages after it read."""
    return Checkpoint(
        checkpoint_id=row["checkpoint_id"], kind=row["kind"], parent_id=row["parent_id"],
        tokenizer_id=row["tokenizer_id"], snapshot_id=row["snapshot_id"], token_set_id=row["token_set_id"],
        sha256=row["sha256"], step=row["step"], config=json.loads(row["config"] or "{}"),
        directory=directory, tokenizer_path=tokenizer_path)


def registered(ctx: Context, ref: str, key: str, kinds: tuple[str, ...]) -> Checkpoint:
    """The checkpoint of the registered version `ref` names, if it is of one of `kinds`."""
    from webtext.flows.models import resolve_version
    from webtext.flows.tokenize import TOKENIZER_FILE
    from webtext.warehouse import pretrain as checkpoints
    from webtext.warehouse import tokenize as tokenizers

    try:
        version = resolve_version(ctx.con, ref)
    except InputError as exc:
        raise InputError(f"{key}: {exc}") from None
    row = checkpoints.checkpoint_row(ctx.con, version["checkpoint_id"])
    if row is None or row["kind"] not in kinds:
        kind = row["kind"] if row else "unknown"
        raise InputError(f"{key}={ref!r} is a {kind} checkpoint; start from one of kind {', '.join(kinds)}")
    tokenizer = tokenizers.tokenizer_row(ctx.con, row["tokenizer_id"])
    return checkpoint_record(row, ctx.home.runs / row["path"],
                             ctx.home.tokenizers / tokenizer["path"] / TOKENIZER_FILE)


class Pretrain(Stage):
    """Pretrain the GPT on the current token set; register the weights as a checkpoint.

    The checkpoint id hashes the token set, the resolved model shape and the pretrain config, and
    names the run directory: a killed run, started again, resumes from its last checkpoint.
    """

    name = "pretrain"
    version = 2  # dropout masks drawn per process
    areas = {"runs": 1}

    def subject(self, config: WebtextConfig) -> str:
        return config.pretrain.model if isinstance(config.pretrain.model, str) else "custom"

    def plan(self, ctx: Context) -> Plan:
        from webtext.components.model.presets import model_config

        tokens: TokenSet = TOKENIZE.current(ctx)
        try:
            shape = model_config(ctx.config.pretrain.model, tokens.vocab_size)
        except (TypeError, ValueError) as exc:  # an inline shape with an unknown field or a bad value
            raise ConfigError(f"pretrain.model={ctx.config.pretrain.model!r}: {exc}") from exc
        teacher = self.teacher(ctx, tokens)
        settings = ctx.config.pretrain.model_dump(mode="json")
        kept = ctx.config.evaluate.steps(ctx.config.pretrain.max_steps)  # the run hands these weights on too
        checkpoint_id = self.output_id(tokens.token_set_id, shape.to_dict(), settings,
                                       *([teacher.checkpoint_id] if teacher else []),
                                       *([["keep", kept]] if kept else []))
        directory = ctx.home.runs / checkpoint_id
        row = queries.checkpoint_row(ctx.con, checkpoint_id)
        if row is None or not weights_verify(directory, row["sha256"]):
            return Plan(f"checkpoint {checkpoint_id} of token set {tokens.token_set_id} is not trained",
                        work=(tokens, shape, teacher, checkpoint_id, kept))
        return Plan(None, f"checkpoint {checkpoint_id}, step {row['step']}",
                    output=checkpoint_record(row, directory, tokens.tokenizer_path))

    def teacher(self, ctx: Context, tokens: TokenSet) -> Checkpoint | None:
        """The registered model `pretrain.teacher` names, once it is known to read the token set's tokens
        (its id goes into the student's: a new teacher version trains a new student)."""
        ref = ctx.config.pretrain.teacher
        if ref is None:
            return None
        teacher = registered(ctx, ref, "pretrain.teacher", ("pretrain",))
        if teacher.tokenizer_id != tokens.tokenizer_id:
            raise InputError(f"pretrain.teacher={ref!r} reads tokenizer {teacher.tokenizer_id}; the student "
                             f"trains on token set {tokens.token_set_id} of tokenizer {tokens.tokenizer_id}: "
                             f"a teacher must share the student's tokenizer")
        return teacher

    def run(self, ctx: Context, plan: Plan) -> str:
        tokens, shape, teacher, checkpoint_id, kept = plan.work
        val = tokens.splits["val"]
        if not val.n_bytes:
            raise InputError(f"token set {tokens.token_set_id} has no validation documents to report "
                             f"bits per byte on: set tokenize.val_fraction above 0")
        run_dir = ctx.home.runs / checkpoint_id
        run_dir.mkdir(parents=True, exist_ok=True)
        job_file = PretrainJob(out=run_dir, measurements=ctx.home.measurements, tokens=tokens.directory,
                               tokenizer=tokens.tokenizer_path, val_tokens_per_byte=val.tokens_per_byte,
                               model=shape.to_dict(), pretrain=ctx.config.pretrain,
                               teacher=teacher.directory if teacher else None,
                               teacher_sha256=teacher.sha256 if teacher else None,
                               keep_steps=kept).write(run_dir / JOB_FILE)
        get_run_logger().info("run %s: %s", checkpoint_id, job_file)
        result = TrainingResult.finished(run_dir)
        if result is None:
            [result] = run_jobs(checkpoint_id, [job_file], "webtext.components.train", "pretrain-progress",
                                ctx.config.pretrain.launcher)
        if not weights_verify(run_dir, result.weights_sha256):
            raise StageError(f"training {checkpoint_id}: its weights do not match the hash its run recorded")
        settings = ctx.config.pretrain.model_dump(mode="json")
        if teacher is not None:  # the lineage of the student names the teacher's checkpoint
            settings |= {"teacher_id": teacher.checkpoint_id, "teacher_sha256": teacher.sha256}
        if result.kept:  # the weights along training that `evaluate.every_steps` scores
            settings |= {"kept_weights": {str(step): sha for step, sha in result.kept.items()}}
        queries.record_checkpoint(
            ctx.con, checkpoint_id=checkpoint_id, kind="pretrain", parent_id=None,
            tokenizer_id=tokens.tokenizer_id, snapshot_id=tokens.snapshot_id,
            token_set_id=tokens.token_set_id,
            path=checkpoint_id, sha256=result.weights_sha256, step=result.step,
            config_json=json.dumps(settings), val_loss=result.val_loss, val_bpb=result.val_bpb)
        _report(run_dir, checkpoint_id, result)
        taught = f", distilled from {teacher.checkpoint_id}" if teacher else ""
        return (f"checkpoint {checkpoint_id}, {result.parameters:,} parameters, step {result.step}, val loss "
                f"{result.val_loss:.3f} nats/token = {result.val_bpb:.3f} bits/byte{taught}")


def _report(run_dir: Path, checkpoint_id: str, result: TrainingResult) -> None:
    from webtext.components.plot import lines
    from webtext.components.train.curve import read_curves

    picture = lines(read_curves(run_dir / "logs" / "metrics.csv"), f"loss of {checkpoint_id}", "step",
                    "nats/token")
    encoded = base64.b64encode(picture.encode()).decode()
    create_markdown_artifact(
        key="pretrain-curve",
        markdown=f"# Pretraining {checkpoint_id}\n\n![loss curve](data:image/svg+xml;base64,{encoded})\n\n"
                 f"step {result.step}: validation loss {result.val_loss:.4f} nats/token, "
                 f"{result.val_bpb:.4f} bits/byte; logs in `{run_dir}`",
        description="Training and validation loss over steps.",
    )


STAGE = Pretrain()
pretrain = STAGE.flow
