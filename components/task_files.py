"""Labelled task files read through `datasets`: local CSV/TSV/JSON files offline, or a hub dataset.

Fine-tuning and evaluation both read tasks this way; a task config names its `files` (split -> path)
or a `hub` dataset and its `hub_config`.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from webtext.components.config import EvalTaskConfig, TaskConfig
from webtext.components.errors import InputError
from webtext.components.files import sha256_file, stable_hash

_BUILDERS = {".csv": ("csv", {}), ".tsv": ("csv", {"delimiter": "\t", "quoting": csv.QUOTE_NONE}),
             ".json": ("json", {}), ".jsonl": ("json", {})}


def split_path(task: TaskConfig | EvalTaskConfig, split: str) -> Path:
    """The local file of one split, checked to exist and to be of a kind `datasets` reads here."""
    where = f"task {task.name!r}, split {split!r}"
    if split not in task.files:
        raise InputError(f"{where}: no file named for it in `files` ({', '.join(task.files)})")
    path = Path(os.path.expandvars(task.files[split])).expanduser()
    if path.suffix not in _BUILDERS:
        raise InputError(f"{where}: {path} is not one of {', '.join(_BUILDERS)}")
    if not path.is_file():
        raise InputError(f"{where}: {path}: no such file")
    return path


def load_split(task: TaskConfig | EvalTaskConfig, split: str, cache_dir: Path) -> list[dict]:
    """The rows of one split, as dicts."""
    import datasets

    datasets.disable_progress_bars()
    where = f"task {task.name!r}, split {split!r}"
    try:
        if task.files:
            path = split_path(task, split)
            builder, options = _BUILDERS[path.suffix]
            if builder == "csv":
                options = {**options, "keep_default_na": False}  # "NA" and "None" are text here
            rows = datasets.load_dataset(builder, data_files={split: str(path)}, split=split,
                                         cache_dir=str(cache_dir), **options)
        elif task.hub:
            rows = datasets.load_dataset(task.hub, task.hub_config, split=split, cache_dir=str(cache_dir))
        else:
            raise InputError(f"task {task.name!r}: name `files` or a `hub` dataset")
    except InputError:
        raise
    except Exception as exc:  # datasets raises many kinds for a bad file or an unknown dataset
        raise InputError(f"{where} cannot be loaded: {exc}") from exc
    return rows.to_list()


def data_sha256(task: TaskConfig | EvalTaskConfig, splits: list[str], **settings: object) -> str:
    """What scores on `splits` of a task were measured on: the bytes of those files (of a hub dataset,
    its name and configuration), the task's settings but its name and paths, and `settings`. Equal
    exactly when the same examples were put to the model the same way, wherever the files lie."""
    data = ({split: sha256_file(split_path(task, split)) for split in splits} if task.files
            else {"hub": task.hub, "config": task.hub_config, "splits": splits})
    return stable_hash({"task": task.model_dump(mode="json", exclude={"name", "files"}), "data": data,
                        **settings})
