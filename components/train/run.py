"""One pretraining run, in its own process: `python -m webtext.components.train RUN_DIR/job.json`.

The flow writes `job.json` (the pretrain config, the resolved model shape, the token set and the
tokenizer) and reads back `result.json`; in between this process owns the run directory:

    checkpoints/step-NNNNNNNN.ckpt (+ .sha256)   resumable state, the newest two kept
    logs/metrics.csv, tb/                        CSV and TensorBoard logs
    model.safetensors, config.json               the weights and shape handed on
    steps/step-NNNNNNNN/                         the weights and shape at each of `keep_steps`
    result.json                                  step, final validation loss and bpb, file hashes

Run in a process of its own so that Lightning's DDP can relaunch it on every device and node, and so
that a crash in training cannot take the flow down. Started again after a kill, it resumes from the
newest checkpoint whose sha256 matches its sidecar: a checkpoint is a pickle, and nothing loads one
that this code did not write whole. On several processes, global rank 0 writes each checkpoint, the
weights and the result once; every process waits until the checkpoint is whole and hashed, and all
resume from the same one. Lines starting with `@progress ` are JSON for the flow.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from webtext.components.files import atomic_path, commit_file, publish_directory, sha256_file
from webtext.components.model.checkpoint import load_model
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.records import CONFIG, WEIGHTS
from webtext.components.train import PROGRESS
from webtext.components.train.data import TokenData
from webtext.components.train.distributed import (
    SameStart,
    gathered_model,
    run_each,
    trainer_settings,
    world_size,
)
from webtext.components.train.job import KEPT_DIR, RESULT_FILE, PretrainJob, TrainingResult, step_name
from webtext.components.train.module import GPTModule

KEEP_CHECKPOINTS = 2


class StepCheckpoints(L.Callback):
    """Every `every` optimizer steps: write the checkpoint aside, rename it into place, record its
    sha256 beside it, and drop all but the newest `KEEP_CHECKPOINTS`.

    Every process takes part in the save (a sharded strategy gathers the state) and the strategy writes
    the file once, on global rank 0; the others wait at a barrier until it is whole and hashed.
    """

    def __init__(self, directory: Path, every: int):
        self.directory, self.every, self._saved = directory, every, -1

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step == 0 or step == self._saved or step % self.every:
            return
        self._saved = step
        target = self.directory / f"step-{step:08d}.ckpt"
        partial = target.with_name(f".{target.name}.partial")
        trainer.save_checkpoint(partial)
        if trainer.is_global_zero:
            commit_file(partial, target)
            (target.parent / f"{target.name}.sha256").write_text(sha256_file(target) + "\n")
            for old in sorted(self.directory.glob("step-*.ckpt"))[:-KEEP_CHECKPOINTS]:
                old.unlink()
                old.with_name(f"{old.name}.sha256").unlink(missing_ok=True)
        trainer.strategy.barrier("step checkpoint published")


class KeptWeights(L.Callback):
    """At each of `steps`, hand on the weights as they stand (`steps/step-NNNNNNNN/`, written aside and
    renamed whole): what `evaluate.every_steps` scores. A resumed run keeps the steps it had kept.

    Every process takes part (a sharded strategy gathers the weights); global rank 0 writes them."""

    def __init__(self, directory: Path, steps: list[int], shape: dict):
        self.directory, self.steps, self.shape = directory, set(steps), shape

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        # rank 0's view decides for all: a rerun of a step kept before a kill keeps what it wrote
        if step not in self.steps or trainer.strategy.broadcast((self.directory / step_name(step)).is_dir()):
            return
        target = self.directory / step_name(step)
        model = gathered_model(trainer, lambda: GPT(GPTConfig(**self.shape)))
        if model is not None:
            publish_directory(target, lambda scratch: _write_weights(scratch, model, step))
        trainer.strategy.barrier("weights kept")


def _write_weights(directory: Path, model: GPT, step: int) -> None:
    """The weights (safetensors, tied tensors once) and the shape, each atomically."""
    from safetensors.torch import save_model

    with atomic_path(directory / WEIGHTS) as tmp:
        save_model(model.float(), str(tmp), metadata={"format": "pt", "step": str(step)})
    with atomic_path(directory / CONFIG) as tmp:
        tmp.write_text(json.dumps(model.config.to_dict(), indent=1) + "\n")


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest checkpoint whose recorded sha256 it still matches (a kill mid-write leaves none)."""
    for path in sorted(directory.glob("step-*.ckpt"), reverse=True):
        sidecar = path.with_name(f"{path.name}.sha256")
        if sidecar.is_file() and sidecar.read_text().strip() == sha256_file(path):
            return path
    return None


class Progress(L.Callback):
    """A `@progress` JSON line every `every` steps (the loss, and the token rate when `tokens_per_step`
    is known) and after each validation (every `val/` metric), from global rank 0."""

    def __init__(self, every: int, max_steps: int, tokens_per_step: int | None = None):
        self.every, self.max_steps, self.tokens_per_step = every, max_steps, tokens_per_step
        self._last = (-1, time.perf_counter())

    def _emit(self, trainer, **fields) -> None:
        if trainer.is_global_zero:
            print(PROGRESS + json.dumps({"step": trainer.global_step, "max_steps": self.max_steps, **fields}),
                  flush=True)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every or step == self._last[0]:
            return
        now = time.perf_counter()
        previous, then = self._last
        rate = ((step - previous) * self.tokens_per_step / (now - then)
                if previous >= 0 and self.tokens_per_step else None)
        self._last = (step, now)
        loss = trainer.callback_metrics.get("train/loss")
        self._emit(trainer, loss=float(loss) if loss is not None else None,
                   **({"tokens_per_s": rate} if self.tokens_per_step else {}))

    def on_validation_end(self, trainer, module) -> None:
        if not trainer.sanity_checking:
            metrics = trainer.callback_metrics
            self._emit(trainer, **{name.replace("/", "_"): float(value)
                                   for name, value in metrics.items() if name.startswith("val/")})


def train(job: PretrainJob) -> TrainingResult | None:
    """Run (or resume) `job`; write and return its result (on global rank 0; None on the others)."""
    config, out, model_shape = job.pretrain, job.out, job.model
    block = model_shape["block_size"]
    L.seed_everything(config.seed, workers=True, verbose=False)
    world = world_size(config)
    if config.val_batches < world:
        raise ValueError(f"pretrain.val_batches={config.val_batches} is fewer than the {world} processes "
                         f"that share validation: set it to {world} or more")
    # the accumulation that reaches batch_tokens over all processes
    accumulation = max(1, round(config.batch_tokens / (config.micro_batch_size * block * world)))
    cuda = torch.cuda.is_available() and config.accelerator in ("auto", "cuda", "gpu")
    if cuda:
        torch.set_float32_matmul_precision("high")  # TF32 for what autocast leaves in float32
    module = GPTModule(model_shape, config.learning_rate, config.min_lr_ratio, config.warmup_steps,
                       config.max_steps, config.weight_decay, config.betas, config.seed,
                       job.val_tokens_per_byte, config.sample_tokens, str(job.tokenizer),
                       grad_clip=config.grad_clip, activation_checkpointing=config.activation_checkpointing,
                       compile=cuda if config.compile == "auto" else config.compile,
                       optimizer=config.optimizer, muon=config.muon.model_dump(),
                       teacher=_teacher(job), distill=config.distill.model_dump())
    data = TokenData(str(job.tokens), block, config.micro_batch_size, accumulation, config.seed,
                     config.val_batches)
    checkpoints = out / "checkpoints"
    trainer = L.Trainer(
        **trainer_settings(config, world, job.measurements), max_steps=config.max_steps,
        max_time=timedelta(minutes=config.max_minutes) if config.max_minutes else None,
        accumulate_grad_batches=accumulation,
        val_check_interval=config.val_every_steps * accumulation, check_val_every_n_epoch=None,
        limit_val_batches=config.val_batches, num_sanity_val_steps=0,
        log_every_n_steps=config.log_every_steps,
        logger=[CSVLogger(out, name="logs", version=""), TensorBoardLogger(out, name="tb", version="")],
        # weights kept at a step before its checkpoint: a kill between the two repeats the step
        callbacks=[KeptWeights(out / KEPT_DIR, job.keep_steps, model_shape),
                   StepCheckpoints(checkpoints, config.checkpoint_every_steps), SameStart(),
                   Progress(config.log_every_steps, config.max_steps,
                            accumulation * config.micro_batch_size * block * world)],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        use_distributed_sampler=False,  # each rank draws its own windows (components.train.data)
    )
    resume = latest_checkpoint(checkpoints)
    if resume is not None and trainer.is_global_zero:
        print(f"resuming from {resume.name}", flush=True)
    trainer.fit(module, datamodule=data, ckpt_path=resume)
    validation = trainer.validate(module, datamodule=data, verbose=False)[0]
    model = gathered_model(trainer, lambda: GPT(GPTConfig(**model_shape)))
    if model is None:
        return None
    return _export(out, model, trainer.global_step, validation, accumulation)


def _teacher(job: PretrainJob) -> GPT | None:
    """The job's teacher, its weights verified, once it is known to predict the student's vocabulary over
    at least the student's context."""
    if job.teacher is None:
        return None
    teacher = load_model(job.teacher, job.teacher_sha256)
    vocab, block = job.model["vocab_size"], job.model["block_size"]
    if teacher.config.vocab_size != vocab or teacher.config.block_size < block:
        raise ValueError(f"teacher {job.teacher} predicts {teacher.config.vocab_size} tokens over a context "
                         f"of {teacher.config.block_size}; the student needs {vocab} tokens over {block}")
    return teacher


def _export(out: Path, model: GPT, step: int, validation: dict, accumulation: int) -> TrainingResult:
    """Write the weights, the shape and the result, each atomically; the result names the weights kept
    along the way."""
    _write_weights(out, model, step)
    kept = {int(path.name.removeprefix("step-")): sha256_file(path / WEIGHTS)
            for path in sorted((out / KEPT_DIR).glob("step-*")) if (path / WEIGHTS).is_file()}
    result = TrainingResult(step=step, val_loss=validation["val/loss"], val_bpb=validation["val/bpb"],
                            accumulation=accumulation, parameters=model.num_parameters(), kept=kept,
                            files={name: sha256_file(out / name) for name in (WEIGHTS, CONFIG)})
    result.write(out / RESULT_FILE)
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m webtext.components.train JOB.json", file=sys.stderr)
        return 2
    run_each([PretrainJob.read(Path(args[0]))], train)
    return 0
