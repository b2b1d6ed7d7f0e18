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


def tokenizer_markers(encoding) -> Markers:
    """The ids of the marker tokens in a `tiktoken_encoding`."""
    from webtext.components.tokenize.bpe import DELIMITER, EXTRACT, START

    return Markers(*(encoding.encode_single_token(t) for t in (START, DELIMITER, EXTRACT)))


def field_texts(task: TaskConfig, row: dict) -> list[str]:
    """The row's `fields` as texts, in input order (a list of columns joined with spaces); KeyError
    names a missing column."""
    return [" ".join(str(row[c]) for c in f) if isinstance(f, list) else str(row[f]) for f in task.fields]


def answers_kept(fields: list[str]) -> list[int]:
    """The indices of a multiple-choice row's non-empty answers (`fields` is [context, answer_1, ...]):
    empty answers are left out, and the label follows its answer."""
    return [i for i, answer in enumerate(fields[1:]) if answer.strip()]


def examples(task: TaskConfig, rows: list[dict], encode: Callable[[str], list[int]], labels: dict[str, int],
             markers: Markers, max_length: int) -> list[Example]:
    """Every row as (sequences, label); a missing column or an unknown label is an error naming it."""
    out = []
    for n, row in enumerate(rows):
        try:
            fields = field_texts(task, row)
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
        if task.type == "multiple_choice":
            kept = answers_kept(fields)
            if label not in kept:
                raise InputError(f"task {task.name!r}: row {n}: its right answer (answer {label + 1}) is "
                                 f"empty")
            fields, label = [fields[0], *(fields[1 + i] for i in kept)], kept.index(label)
        out.append((transform(task.type, [encode(f) for f in fields], markers, max_length), label))
    return out
