"""The files a post-training stage reads for each split, and what its scores were measured on.

A split is local files (globs and `${VAR}`s expanded, a pattern matching nothing refused) or a split of a
hub dataset, loaded once through `datasets` and kept as Parquet in the home's cache: from there on both
are files that `components.instruct.data` reads, and that a run's id and its scores hash.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from webtext.components.config import InstructData
from webtext.components.errors import InputError
from webtext.components.files import atomic_path, expand_inputs, sha256_file, stable_hash
from webtext.components.instruct.data import (
    Comparison,
    Conversation,
    Prompt,
    Records,
    read_comparisons,
    read_demonstrations,
    read_prompts,
)

R = TypeVar("R", Conversation, Comparison, Prompt)
READERS = {"demonstrations": read_demonstrations, "comparisons": read_comparisons, "prompts": read_prompts}


def split_files(data: InstructData, split: str, cache_dir: Path, key: str) -> list[Path]:
    """The files of `split` (`key` names the config section in errors)."""
    if data.files:
        if split not in data.files:
            raise InputError(f"{key}.files has no split {split!r} (splits: {', '.join(data.files)})")
        return expand_inputs(data.files[split], f"{key}.files.{split}")
    return [_hub_split(data, split, cache_dir, key)]


def _hub_split(data: InstructData, split: str, cache_dir: Path, key: str) -> Path:
    """One split of a hub dataset as a Parquet file in the cache, written once and atomically."""
    path = cache_dir / "instruct" / f"{stable_hash([data.hub, data.hub_data_dir, split])[:16]}.parquet"
    if path.is_file():
        return path
    import datasets

    datasets.disable_progress_bars()
    try:
        rows = datasets.load_dataset(data.hub, data_dir=data.hub_data_dir, split=split,
                                     cache_dir=str(cache_dir))
    except Exception as exc:  # datasets raises many kinds for an unknown dataset or split
        raise InputError(f"{key}: hub dataset {data.hub!r}, split {split!r} cannot be loaded: {exc}") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        rows.to_parquet(str(tmp))
    return path


def read_files(paths: list[Path], kind: str, max_malformed: float, limit: int | None, what: str
               ) -> tuple[list[R], list[Records[R]]]:
    """The first `limit` records of `paths`, and each file's reading; an InputError when a file is
    mostly malformed or `what` (the split, in errors) holds no records."""
    files = [READERS[kind](path, max_malformed=max_malformed) for path in paths]
    records = [record for file in files for record in file.records][:limit]
    if not records:
        raise InputError(f"{what} holds no {kind}")
    return records, files


def data_sha256(data: InstructData, splits: list[str], cache_dir: Path, key: str, **settings: object) -> str:
    """What a run on `splits` read: the bytes of their files in order, the settings that choose the
    records, and `settings`; never paths, so copied files give the same hash."""
    files = {split: [sha256_file(path) for path in split_files(data, split, cache_dir, key)]
             for split in splits}
    choice = data.model_dump(mode="json", exclude={"files", "hub", "hub_data_dir"})
    return stable_hash({"files": files, **choice, **settings})
