"""Fine-tuning runs, in a process of their own like pretraining (`python -m webtext.components.finetune`).

The job names the parent checkpoint (weights verified against their sha256 before loading), or its
shape alone when `from_scratch`, the tokenizer, the task and the fine-tuning settings. The run writes
`model.safetensors` (backbone and head), `config.json` (the shape and the task section that
`components.finetune.checkpoint` loads it with), `logs/metrics.csv` and `result.json` with the final
epoch's scores on the validation split. Progress lines as in `components.train.run`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger

from webtext.components.config import TaskConfig
from webtext.components.files import atomic_path, sha256_file
from webtext.components.finetune.checkpoint import finetuned_config
from webtext.components.finetune.data import Example, examples, label_ids, tokenizer_markers
from webtext.components.finetune.formats import Markers
from webtext.components.finetune.heads import TaskModel
from webtext.components.finetune.metrics import DEFAULT_METRICS
from webtext.components.finetune.module import FinetuneModule, TaskData
from webtext.components.model.checkpoint import load_model
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.model.lora import (
    ADAPTER,
    merge_lora,
    save_adapter,
    trainable_parameters,
    with_adapter,
)
from webtext.components.records import CONFIG, WEIGHTS
from webtext.components.task_files import load_split
from webtext.components.train import PROGRESS
from webtext.components.train.distributed import gathered_model, run_each, trainer_settings, world_size
from webtext.components.train.job import RESULT_FILE, FinetuneJob, TrainingResult


def _backbone(job: FinetuneJob, seed: int) -> GPT:
    if job.from_scratch:
        torch.manual_seed(seed)
        return GPT(GPTConfig(**job.model))
    return load_model(job.parent, job.parent_sha256)


def task_examples(job: FinetuneJob, block_size: int
                  ) -> tuple[list[Example], list[Example], dict[str, int], Markers]:
    """The job's training and validation examples, encoded and framed, the label ids and the markers."""
    from webtext.components.tokenize.bpe import encode_document, tiktoken_encoding

    task = job.task
    encoding = tiktoken_encoding(job.tokenizer)
    markers = tokenizer_markers(encoding)
    train_rows = load_split(task, task.train_split, job.cache_dir)[: task.max_train_examples]
    val_rows = load_split(task, task.validation_split, job.cache_dir)[: task.max_validation_examples]
    labels = label_ids(task, train_rows)

    def encode(text: str) -> list[int]:
        return encode_document(encoding, text).tolist()

    return (examples(task, train_rows, encode, labels, markers, block_size),
            examples(task, val_rows, encode, labels, markers, block_size), labels, markers)


def finetune(job: FinetuneJob) -> TrainingResult | None:
    """Fine-tune `job`; write and return its result (on global rank 0; None on the others)."""
    task, settings, out = job.task, job.finetune, job.out
    L.seed_everything(settings.seed, verbose=False)
    gpt = _backbone(job, settings.seed)
    gpt.train()
    train_set, val_set, labels, markers = task_examples(job, gpt.config.block_size)
    outputs = 1 if task.regression else len(labels)
    metrics = task.metrics or DEFAULT_METRICS[task.type]
    world = world_size(settings)
    if settings.batch_size % world:
        raise ValueError(f"finetune.batch_size={settings.batch_size} does not split evenly over {world} "
                         f"processes: make it a multiple of {world}")

    def fresh_model(backbone: GPT) -> TaskModel:  # with LoRA: the backbone's adapters and the head train
        return TaskModel(with_adapter(backbone, settings.adapter), task.type, outputs,
                         settings.classifier_dropout)

    module = FinetuneModule(
        fresh_model(gpt), regression=task.regression, metrics=list(metrics), lm_weight=settings.lm_weight,
        learning_rate=settings.learning_rate, warmup_fraction=settings.warmup_fraction,
        weight_decay=settings.weight_decay, seed=settings.seed)

    class Progress(L.Callback):
        def on_validation_end(self, trainer, pl_module):
            if trainer.is_global_zero:
                print(PROGRESS + json.dumps({"step": trainer.current_epoch + 1, "max_steps": settings.epochs,
                                             **pl_module.scores}), flush=True)

    trainer = L.Trainer(
        **trainer_settings(settings, world, job.measurements), max_epochs=settings.epochs,
        logger=CSVLogger(out, name="logs", version=""), callbacks=[Progress()], enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=10,
        use_distributed_sampler=False,  # TaskData splits the examples by rank
    )
    trainer.fit(module, datamodule=TaskData(train_set, val_set, settings.batch_size // world, task.regression,
                                            settings.seed))
    model = gathered_model(trainer, lambda: fresh_model(GPT(gpt.config)))
    if model is None:
        return None
    trainable, total = trainable_parameters(model)
    files = {}
    if settings.adapter is not None:
        files[ADAPTER] = save_adapter(out / ADAPTER, model, job.parent_sha256,
                                      settings.adapter.model_dump(mode="json"))
        model.gpt = merge_lora(model.gpt)
    return _export(out, model, module, task, len(train_set), labels, markers, files, total, trainable)


def _export(out: Path, model: TaskModel, module: FinetuneModule, task: TaskConfig, n_train: int,
            labels: dict[str, int], markers: Markers, files: dict[str, str], parameters: int,
            trainable: int) -> TrainingResult:
    from safetensors.torch import save_model

    with atomic_path(out / WEIGHTS) as tmp:
        save_model(model.float(), str(tmp), metadata={"format": "pt", "task": task.name})
    config = finetuned_config(model.gpt.config, task, list(labels), markers)
    with atomic_path(out / CONFIG) as tmp:
        tmp.write_text(json.dumps(config, indent=1) + "\n")
    result = TrainingResult(task=task.name, scores=module.scores, n_train=n_train, n_validation=module.scored,
                            step=module.global_step, files={**files, WEIGHTS: sha256_file(out / WEIGHTS)},
                            parameters=parameters, trainable=trainable)
    result.write(out / RESULT_FILE)
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m webtext.components.finetune JOB.json [JOB.json ...]", file=sys.stderr)
        return 2
    run_each([FinetuneJob.read(Path(arg)) for arg in args], finetune)
    return 0
