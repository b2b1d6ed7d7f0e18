"""A fine-tuned checkpoint as a usable model: the task section of its `config.json` and the loader.

A fine-tuned run writes the backbone's shape and, under `task`, what using the head needs without
the run's config: the task's name and type, its input columns (`fields`), its label values in id order
(`labels`: output i of the head is `labels[i]`; for multiple choice, the value naming answer i), whether
it is a regression, and the ids of its marker tokens. So a registered version or a copied run directory
predicts on new rows exactly as its validation split was scored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import ValidationError

from webtext.components.config import TaskConfig
from webtext.components.errors import InputError
from webtext.components.finetune.formats import Markers
from webtext.components.finetune.heads import TaskModel
from webtext.components.model.checkpoint import TASK, verified_config
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.records import WEIGHTS

_KEPT = {"name", "type", "fields", "label", "regression"}  # the TaskConfig keys using the head needs


@dataclass(frozen=True)
class Finetuned:
    """A fine-tuned task model in eval mode, the task it reads (`labels` in id order) and its markers."""

    model: TaskModel
    task: TaskConfig
    markers: Markers


def task_section(task: TaskConfig, labels: list[str], markers: Markers) -> dict:
    """What a fine-tuned run writes under `task` in its config.json."""
    return {**task.model_dump(mode="json", include=_KEPT), "labels": labels, "markers": asdict(markers)}


def finetuned_config(gpt: GPTConfig, task: TaskConfig, labels: list[str], markers: Markers) -> dict:
    """A fine-tuned run's config.json: the backbone's shape and its task section."""
    return {**gpt.to_dict(), TASK: task_section(task, labels, markers)}


def read_task(section: dict | None, directory: Path) -> tuple[TaskConfig, Markers]:
    """The task and markers of a task section; an InputError naming `directory` when it has none (a
    pretrained checkpoint) or when it is not one this code writes."""
    if section is None:
        raise InputError(f"checkpoint {directory} is not fine-tuned: its config.json names no task "
                         f"(`webtext generate` samples text from it)")
    try:
        fields = {key: value for key, value in section.items() if key != "markers"}
        return TaskConfig(**fields), Markers(**section["markers"])
    except (AttributeError, KeyError, TypeError, ValidationError) as exc:
        raise InputError(f"checkpoint {directory}: the task section of its config.json is not one this "
                         f"version of webtext reads (fine-tune it again): {exc}") from None


def load_finetuned(directory: Path, sha256: str) -> Finetuned:
    """The task model in `directory`, its weights verified against `sha256` before anything is read."""
    from safetensors.torch import load_model as load_weights

    config, sections = verified_config(directory, sha256)
    task, markers = read_task(sections.get(TASK), directory)
    if not task.regression and not task.labels:
        raise InputError(f"checkpoint {directory}: task {task.name!r} names no labels in its config.json")
    head_width = 1 if task.regression else len(task.labels)
    model = TaskModel(GPT(config), task.type, head_width, dropout=0.0)
    load_weights(model, str(directory / WEIGHTS))
    return Finetuned(model.eval(), task, markers)
