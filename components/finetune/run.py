"""Fine-tuning runs, in a process of their own like pretraining (`python -m webtext.components.finetune`).

The job names the parent checkpoint (weights verified against their sha256 before loading), or its
shape alone when `from_scratch`, the tokenizer, the task and the fine-tuning settings. The run writes
`model.safetensors` (backbone and head), `config.json`, `logs/metrics.csv` and `result.json` with the
final epoch's scores on the validation split. Progress lines as in `components.train.run`.
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
from webtext.components.finetune.data import examples, label_ids
from webtext.components.finetune.formats import Markers
from webtext.components.finetune.heads import TaskModel
from webtext.components.finetune.metrics import DEFAULT_METRICS
from webtext.components.finetune.module import FinetuneModule, loader
from webtext.components.model.checkpoint import load_model
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.records import CONFIG, WEIGHTS
from webtext.components.task_files import load_split
from webtext.components.train import PROGRESS
from webtext.components.train.job import RESULT_FILE, FinetuneJob, TrainingResult
from webtext.components.train.run import exit_with_parent, resolve_precision


def _backbone(job: FinetuneJob, seed: int) -> GPT:
    if job.from_scratch:
        torch.manual_seed(seed)
        return GPT(GPTConfig(**job.model))
    return load_model(job.parent, job.parent_sha256)


def finetune(job: FinetuneJob) -> TrainingResult:
    from webtext.components.tokenize.bpe import DELIMITER, EXTRACT, START, encode_document, tiktoken_encoding

    task, settings, out = job.task, job.finetune, job.out
    L.seed_everything(settings.seed, verbose=False)
    encoding = tiktoken_encoding(job.tokenizer)
    markers = Markers(*(encoding.encode_single_token(t) for t in (START, DELIMITER, EXTRACT)))
    cache = job.cache_dir
    train_rows = load_split(task, task.train_split, cache)[: task.max_train_examples]
    val_rows = load_split(task, task.validation_split, cache)[: task.max_validation_examples]
    labels = label_ids(task, train_rows)
    gpt = _backbone(job, settings.seed)
    gpt.train()

    def encode(text: str) -> list[int]:
        return encode_document(encoding, text).tolist()

    train_set = examples(task, train_rows, encode, labels, markers, gpt.config.block_size)
    val_set = examples(task, val_rows, encode, labels, markers, gpt.config.block_size)
    outputs = 1 if task.regression else len(labels)
    metrics = task.metrics or DEFAULT_METRICS[task.type]
    module = FinetuneModule(
        TaskModel(gpt, task.type, outputs, settings.classifier_dropout), regression=task.regression,
        metrics=list(metrics), lm_weight=settings.lm_weight, learning_rate=settings.learning_rate,
        warmup_fraction=settings.warmup_fraction, weight_decay=settings.weight_decay, seed=settings.seed)

    class Progress(L.Callback):
        def on_validation_end(self, trainer, pl_module):
            print(PROGRESS + json.dumps({"step": trainer.current_epoch + 1, "max_steps": settings.epochs,
                                         **pl_module.scores}), flush=True)

    trainer = L.Trainer(
        accelerator="auto", devices=1, precision=resolve_precision(settings.precision),
        max_epochs=settings.epochs,
        logger=CSVLogger(out, name="logs", version=""), callbacks=[Progress()], enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=10,
    )
    trainer.fit(module, loader(train_set, settings.batch_size, task.regression, True, settings.seed),
                loader(val_set, settings.batch_size, task.regression, False, settings.seed))
    return _export(out, module, task, len(train_set), len(val_set), labels)


def _export(out: Path, module: FinetuneModule, task: TaskConfig, n_train: int, n_val: int,
            labels: dict[str, int]) -> TrainingResult:
    from safetensors.torch import save_model

    with atomic_path(out / WEIGHTS) as tmp:
        save_model(module.model.float(), str(tmp), metadata={"format": "pt", "task": task.name})
    config = {**module.model.gpt.config.to_dict(), "task": task.type, "labels": list(labels)}
    with atomic_path(out / CONFIG) as tmp:
        tmp.write_text(json.dumps(config, indent=1) + "\n")
    result = TrainingResult(task=task.name, scores=module.scores, n_train=n_train, n_validation=n_val,
                            step=module.global_step, files={WEIGHTS: sha256_file(out / WEIGHTS)})
    result.write(out / RESULT_FILE)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run each job in turn, in this one process: torch and Lightning start once for all tasks."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m webtext.components.finetune JOB.json [JOB.json ...]", file=sys.stderr)
        return 2
    exit_with_parent()
    for path in args:
        finetune(FinetuneJob.read(Path(path)))
    return 0
