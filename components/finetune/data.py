"""Labelled task rows (read by `components.task_files`) as fine-tuning examples.

Rows become (sequences, label) examples: the task's `fields` are encoded with the tokenizer (marker
spellings as plain text), framed by `formats.transform`, and the label mapped to its id.
"""

from __future__ import annotations

from collections.abc import Callable

from webtext.components.config import TaskConfig
from webtext.components.errors import InputError
from webtext.components.finetune.formats import Markers, transform

Example = tuple[list[list[int]], int | float]


def label_ids(task: TaskConfig, train_rows: list[dict]) -> dict[str, int]:
    """Label value (as text) -> id: the configured order, else the sorted distinct training labels."""
    if task.regression:
        return {}
    values = task.labels if task.labels is not None else sorted({row[task.label] for row in train_rows})
    return {str(value): i for i, value in enumerate(values)}


def examples(task: TaskConfig, rows: list[dict], encode: Callable[[str], list[int]], labels: dict[str, int],
             markers: Markers, max_length: int) -> list[Example]:
    """Every row as (sequences, label); a missing column or an unknown label is an error naming it."""
    out = []
    for n, row in enumerate(rows):
        try:
            fields = [" ".join(str(row[c]) for c in f) if isinstance(f, list) else str(row[f])
                      for f in task.fields]
            value = row[task.label]
        except KeyError as exc:
            raise InputError(f"task {task.name!r}: row {n} has no column {exc}; columns: "
                             f"{', '.join(row)}") from None
        if task.regression:
            label: int | float = float(value)
        elif str(value) in labels:
            label = labels[str(value)]
        else:
            raise InputError(f"task {task.name!r}: row {n} has label {value!r}, not one of {list(labels)}")
        if task.type == "multiple_choice":  # empty answers are left out: the label follows its answer
            kept = [i for i, answer in enumerate(fields[1:]) if answer.strip()]
            if label not in kept:
                raise InputError(f"task {task.name!r}: row {n}: its right answer (answer {label + 1}) is "
                                 f"empty")
            fields, label = [fields[0], *(fields[1 + i] for i in kept)], kept.index(label)
        out.append((transform(task.type, [encode(f) for f in fields], markers, max_length), label))
    return out
