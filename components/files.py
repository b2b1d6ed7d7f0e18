"""File helpers every stage shares: content hashes and atomic writes.

A reader must never see half a file: everything is written beside its target and renamed into place.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from webtext.components.errors import InputError

_BLOCK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def stable_hash(value: object) -> str:
    """A hash of a JSON-able value that does not depend on dict order."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it is fsynced and renamed onto `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        commit_file(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def commit_file(written: Path, target: Path) -> None:
    """Move a fully written file onto `target`: fsynced first, so a crash leaves the old file or the new."""
    with open(written, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(written, target)


def atomic_write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


T = TypeVar("T")


def publish_directory(directory: Path, fill: Callable[[Path], T]) -> T:
    """Have `fill` write a scratch directory beside `directory`, then rename it into place whole, so
    readers see no directory or a complete one. `fill` validates before it returns; a scratch
    directory left by a crash is removed by the next try. `directory` must not exist yet."""
    scratch = directory.with_name(f".{directory.name}.partial")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    result = fill(scratch)
    for path in scratch.iterdir():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
    os.replace(scratch, directory)
    fd = os.open(directory.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return result


def write_if_changed(target: Path, data: bytes) -> bool:
    """Write `data` atomically unless `target` already holds exactly it; True when written.

    Leaving an unchanged file alone keeps its mtime, so content-addressed stages see no change.
    """
    try:
        if target.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    atomic_write_bytes(target, data)
    return True


def expand_inputs(patterns: list[str], key: str) -> list[Path]:
    """Every file that the paths, globs and `${VAR}`s of config key `key` name, sorted, no repeats.

    A pattern that matches nothing is an error naming it, so a typo never reads as empty input.
    """
    if not patterns:
        raise InputError(f"{key} is empty: name at least one file or glob")
    found: dict[Path, None] = {}
    for pattern in patterns:
        expanded = os.path.expanduser(os.path.expandvars(pattern))
        if glob.has_magic(expanded):
            matches = sorted(glob.glob(expanded))
            if not matches:
                raise InputError(f"{pattern}: no file matches this pattern ({key})")
        else:
            matches = [expanded]
        for match in matches:
            path = Path(match).resolve()
            if not path.is_file():
                raise InputError(f"{path}: no such file")
            found[path] = None
    return list(found)
