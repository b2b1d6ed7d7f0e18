"""What the `sft` and `reward` stages share: a checkpoint trained from a parent checkpoint on records
(demonstrations, comparisons), in a training process of its own, recorded with its lineage.

The checkpoint id hashes the parent's id and weights, the bytes of the records read and the stage's
settings: new data, a new parent or a changed setting trains anew; anything else is up to date, and a
killed run resumes in its directory. The records are read once in the stage before any training, so a
mostly malformed file stops it there, naming the file and its first bad lines; the records the
training process skips are counted in the summary. The checkpoint row's config names the parent, each
file read with its sha256, and the settings; its held-out scores go to `evaluations` with the hash of
the data they were measured on, and the parent's scores on the same records beside them (the
"before").
"""

from __future__ import annotations

import base64
import json
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from webtext.components.config import PostTraining
from webtext.components.errors import StageError
from webtext.components.files import sha256_file
from webtext.components.instruct.sources import data_sha256, read_files, split_files
from webtext.components.records import Checkpoint, weights_verify
from webtext.components.train.job import JOB_FILE, TrainingResult
from webtext.flows.pretrain import checkpoint_record
from webtext.flows.stage import Context, Plan, Stage
from webtext.flows.training import run_jobs
from webtext.warehouse import finetune as scores
from webtext.warehouse import pretrain as checkpoints

# Not in a checkpoint's id: the data are hashed by their bytes, and `init` only says how the parent,
# whose id and weights are hashed, was found.
UNHASHED = {"data", "init"}


@dataclass(frozen=True)
class Work:
    """What a post-training plan hands its run: the parent, the new checkpoint's id, the data's hash."""

    parent: Checkpoint
    checkpoint_id: str
    data_sha256: str


class PostTrainingStage(Stage):
    """A stage that trains one checkpoint of kind `name` from `parent(ctx)` on `settings(config).data`."""

    task: ClassVar[str]  # the `evaluations.task` its held-out scores are written under
    process: ClassVar[str] = "webtext.components.instruct"  # the module that trains, `python -m` it

    @abstractmethod
    def settings(self, ctx: Context) -> PostTraining: ...

    @abstractmethod
    def parent(self, ctx: Context) -> Checkpoint: ...

    @abstractmethod
    def job(self, ctx: Context, work: Work, train: list[Path], validation: list[Path]): ...

    def extra(self, ctx: Context) -> dict:
        """More of what the checkpoint depends on besides its parent, data and settings."""
        return {}

    @abstractmethod
    def records(self, ctx: Context) -> str:
        """What the records are under the current config: demonstrations, comparisons or prompts."""

    def plan(self, ctx: Context) -> Plan:
        settings = self.settings(ctx)
        if settings.data is None:
            return Plan(None, f"no {self.records(ctx)} configured", output=None)
        parent = self.parent(ctx)
        data = settings.data
        digest = data_sha256(data, [data.train_split, data.validation_split], self.cache(ctx), self.key)
        checkpoint_id = self.output_id(parent.checkpoint_id, parent.sha256, digest, self.extra(ctx),
                                       settings.model_dump(mode="json", exclude=UNHASHED))
        row = checkpoints.checkpoint_row(ctx.con, checkpoint_id)
        if row is None or not weights_verify(ctx.home.runs / checkpoint_id, row["sha256"]):
            return Plan(f"checkpoint {checkpoint_id} is not trained from {parent.checkpoint_id}",
                        work=Work(parent, checkpoint_id, digest))
        current = f"checkpoint {checkpoint_id}, step {row['step']} ({self._scores(ctx, checkpoint_id)})"
        output = checkpoint_record(row, ctx.home.runs / checkpoint_id, parent.tokenizer_path)
        return Plan(None, current, output=output)

    @property
    def key(self) -> str:
        return f"{self.name}.data"

    @staticmethod
    def cache(ctx: Context) -> Path:
        return ctx.home.root / "cache"

    def run(self, ctx: Context, plan: Plan) -> str:
        work: Work = plan.work
        logger = get_run_logger()
        settings = self.settings(ctx)
        data = settings.data
        files = {split: split_files(data, split, self.cache(ctx), self.key)
                 for split in (data.train_split, data.validation_split)}
        skipped = []
        for split, paths in files.items():  # refuses a mostly malformed file before anything is trained
            where = f"{self.key}: split {split!r}"
            _, readings = read_files(paths, self.records(ctx), data.max_malformed, None, where)
            skipped += [s for reading in readings for s in reading.skipped]
        for record in skipped[:5]:
            logger.warning("skipped %s", record)
        run_dir = ctx.home.runs / work.checkpoint_id
        run_dir.mkdir(parents=True, exist_ok=True)
        job_file = self.job(ctx, work, files[data.train_split], files[data.validation_split]).write(
            run_dir / JOB_FILE)
        logger.info("run %s: %s", work.checkpoint_id, job_file)
        result = TrainingResult.finished(run_dir)
        if result is None:
            [result] = run_jobs(work.checkpoint_id, [job_file], self.process,
                                f"{self.name}-progress", settings.launcher)
        if not weights_verify(run_dir, result.weights_sha256):
            raise StageError(f"training {work.checkpoint_id}: its weights do not match the hash its run "
                             f"recorded")
        self._record(ctx, work, files, result)
        _curves(self.name, run_dir, work.checkpoint_id, self.charts(ctx))
        self.publish(ctx, run_dir, work.checkpoint_id)
        share = (f", {result.trainable:,} of {result.parameters:,} parameters trained"
                 if result.trainable != result.parameters else "")
        dropped = f", {len(skipped)} malformed records skipped" if skipped else ""
        scored = self._scores(ctx, work.checkpoint_id)
        return (f"checkpoint {work.checkpoint_id} from {work.parent.checkpoint_id}, step {result.step}, "
                f"{result.n_train} {self.records(ctx)}{share}{dropped} ({scored})")

    def _record(self, ctx: Context, work: Work, files: dict[str, list[Path]], result: TrainingResult) -> None:
        settings = self.settings(ctx)
        parent = work.parent
        lineage = {"parent_id": parent.checkpoint_id, "data_sha256": work.data_sha256,
                   "files": {split: [{"path": str(p), "sha256": sha256_file(p)} for p in paths]
                             for split, paths in files.items()},
                   **self.extra(ctx), self.name: settings.model_dump(mode="json", exclude={"data"})}
        checkpoints.record_checkpoint(
            ctx.con, checkpoint_id=work.checkpoint_id, kind=self.name, parent_id=parent.checkpoint_id,
            tokenizer_id=parent.tokenizer_id, snapshot_id=parent.snapshot_id,
            token_set_id=parent.token_set_id, path=work.checkpoint_id, sha256=result.weights_sha256,
            step=result.step,
            config_json=json.dumps(lineage), val_loss=None, val_bpb=None)
        scores.record_scores(ctx.con, work.checkpoint_id, self.task, self.metrics(result.scores),
                             result.n_validation, work.data_sha256)
        baseline = self.metrics(result.baseline, before=True)
        if baseline:
            scores.record_scores(ctx.con, parent.checkpoint_id, self.task, baseline, result.n_validation,
                                 work.data_sha256)

    def metrics(self, values: dict[str, float], before: bool = False) -> dict[str, float]:
        """The `evaluations` metrics of a run's held-out scores (`before`: of the parent's)."""
        return values

    def charts(self, ctx: Context) -> tuple[tuple[str, ...], ...]:
        """The `<stage>-curve` artifact's charts, each the logged metrics drawn on one set of axes."""
        from webtext.components.train.curve import LOSSES

        return (LOSSES,)

    def publish(self, ctx: Context, run_dir: Path, checkpoint_id: str) -> None:
        """More artifacts of a finished run than its progress and curves."""

    def _scores(self, ctx: Context, checkpoint_id: str) -> str:
        rows = scores.scores(ctx.con, [checkpoint_id])
        return "; ".join(f"{r['task']} {r['metric']} {r['value']:.3f}" for r in rows) or "no scores"


def _curves(stage: str, run_dir: Path, checkpoint_id: str, charts: tuple[tuple[str, ...], ...]) -> None:
    from webtext.components.plot import lines
    from webtext.components.train.curve import read_curves

    pictures = []
    for names in charts:
        picture = lines(read_curves(run_dir / "logs" / "metrics.csv", names),
                        f"{stage} {', '.join(names)} of {checkpoint_id}", "step", ", ".join(names))
        pictures.append(f"![{', '.join(names)}](data:image/svg+xml;base64,"
                        f"{base64.b64encode(picture.encode()).decode()})")
    create_markdown_artifact(
        key=f"{stage}-curve",
        markdown=f"# {stage} {checkpoint_id}\n\n" + "\n\n".join(pictures) + f"\n\nlogs in `{run_dir}`",
        description=f"The {stage} run's curves over steps: {'; '.join(', '.join(c) for c in charts)}.")
