"""Finding what nothing refers to under WEBTEXT_HOME: the entries of an area that no warehouse row
names, and the scratch a killed process left (`.<name>.partial` directories, `.<name>.<pid>.tmp`
files). Pure file work; the caller says what is referenced."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path


def is_scratch(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith((".partial", ".tmp"))


def size(path: Path) -> int:
    """Bytes of a file, or of every file under a directory."""
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def unreferenced(area: Path, keep: Callable[[str], bool], depth: int = 1) -> list[Path]:
    """Entries `depth` levels under `area` whose path relative to it (POSIX) `keep` rejects, and
    scratch at any of those levels; sorted."""
    if not area.is_dir():
        return []
    found, level = [], [area]
    for current in range(1, depth + 1):
        entries = sorted(p for parent in level for p in parent.iterdir())
        found += [p for p in entries if is_scratch(p)]
        entries = [p for p in entries if not is_scratch(p)]
        if current == depth:
            found += [p for p in entries if not keep(p.relative_to(area).as_posix())]
        level = [p for p in entries if p.is_dir()]
    return sorted(found)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
