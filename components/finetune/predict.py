"""A fine-tuned task model's predictions on new rows (`webtext predict`).

Rows are read as the task's own splits are (`components.task_files`: .csv, .tsv, .json, .jsonl, so a
value reads the same as in training), their `fields` columns encoded and framed as in fine-tuning, and
scored in batches. Each row gives one JSON object, in input order: `label` (the predicted label value,
for multiple choice the value naming the chosen answer) and `probabilities` (label value ->
probability); for a regression, `value`. An empty answer of a multiple-choice row is left out, as in
fine-tuning: its probability is 0.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from webtext.components.config import TaskConfig
from webtext.components.errors import InputError
from webtext.components.files import atomic_path
from webtext.components.finetune.checkpoint import Finetuned
from webtext.components.finetune.data import answers_kept, field_texts
from webtext.components.finetune.formats import transform
from webtext.components.finetune.heads import collate

BATCH_SIZE = 32  # examples scored together; multiple choice runs one sequence per answer


def read_inputs(task: TaskConfig, path: Path) -> list[dict]:
    """The rows of `path`, each checked to have a value in every column the task reads (and, for
    multiple choice, an answer that is not empty)."""
    from webtext.components.task_files import load_split

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with tempfile.TemporaryDirectory() as cache:  # an input is read once: its datasets cache is not kept
        rows = load_split(task.model_copy(update={"files": {"input": str(path)}}), "input", Path(cache))
    columns = [c for f in task.fields for c in (f if isinstance(f, list) else [f])]
    for n, row in enumerate(rows):
        for column in columns:
            if column not in row:
                raise InputError(f"{path}: no column {column!r}, which task {task.name!r} reads (columns "
                                 f"{', '.join(columns)}); its columns: {', '.join(row)}")
            if row[column] is None:
                raise InputError(f"{path}: row {n} has no value in column {column!r}")
        if task.type == "multiple_choice" and not answers_kept(field_texts(task, row)):
            raise InputError(f"{path}: row {n}: every answer is empty")
    return rows


def _sequences(finetuned: Finetuned, row: dict, encode: Callable[[str], list[int]]
               ) -> tuple[list[list[int]], list[int]]:
    """The framed sequences of one row and, for multiple choice, the answers they are (else [])."""
    task, block = finetuned.task, finetuned.model.gpt.config.block_size
    fields = field_texts(task, row)
    kept: list[int] = []
    if task.type == "multiple_choice":
        kept = answers_kept(fields)
        fields = [fields[0], *(fields[1 + i] for i in kept)]
    return transform(task.type, [encode(f) for f in fields], finetuned.markers, block), kept


def _label_names(task: TaskConfig) -> list[str]:
    """What each output is called: a label value, or for multiple choice the value naming answer i."""
    labels = [str(label) for label in task.labels]
    if task.type != "multiple_choice":
        return labels
    answers = len(task.fields) - 1
    if len(labels) < answers:
        raise InputError(f"task {task.name!r} reads {answers} answers and names {len(labels)} labels "
                         f"({', '.join(labels)}): its answers cannot all be named")
    return labels[:answers]


def _prediction(task: TaskConfig, names: list[str], scores: torch.Tensor, kept: list[int]) -> dict:
    if task.regression:
        return {"value": scores[0].item()}
    if task.type == "multiple_choice":  # this row's answers come first; the batch pads the rest (-inf)
        probabilities = [0.0] * len(names)
        for i, p in zip(kept, torch.softmax(scores[:len(kept)], dim=-1).tolist(), strict=True):
            probabilities[i] = p
    else:
        probabilities = torch.softmax(scores, dim=-1).tolist()
    best = max(range(len(names)), key=probabilities.__getitem__)
    return {"label": names[best], "probabilities": dict(zip(names, probabilities, strict=True))}


@torch.inference_mode()
def predict(finetuned: Finetuned, rows: list[dict], encode: Callable[[str], list[int]]) -> list[dict]:
    """One prediction per row, in order."""
    task = finetuned.task
    names = [] if task.regression else _label_names(task)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = finetuned.model.to(device)
    out = []
    for start in range(0, len(rows), BATCH_SIZE):
        framed = [_sequences(finetuned, row, encode) for row in rows[start:start + BATCH_SIZE]]
        batch = collate([(sequences, 0) for sequences, _ in framed])
        scores = model.scores(batch.to(device)).float().cpu()
        out += [_prediction(task, names, s, kept) for s, (_, kept) in zip(scores, framed, strict=True)]
    return out


def predict_file(finetuned: Finetuned, tokenizer_json: Path, path: Path) -> list[dict]:
    """Predictions on the rows of `path`, encoded with the model's tokenizer."""
    from webtext.components.tokenize.bpe import encode_document, tiktoken_encoding

    rows = read_inputs(finetuned.task, path)
    encoding = tiktoken_encoding(tokenizer_json)
    return predict(finetuned, rows, lambda text: encode_document(encoding, text).tolist())


def predictions_text(predictions: list[dict]) -> str:
    """JSON lines, one per prediction."""
    return "".join(json.dumps(p) + "\n" for p in predictions)


def write_predictions(predictions: list[dict], out: Path) -> None:
    """`out` written whole or not at all."""
    with atomic_path(out) as tmp:
        tmp.write_text(predictions_text(predictions))
