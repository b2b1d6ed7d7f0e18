"""Turning `source.dumps` (paths, globs, `${VAR}`) into the list of files to read."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from components.errors import InputError


def resolve_dumps(patterns: list[str]) -> list[Path]:
    """Every file the patterns name, sorted and without repeats; InputError names a pattern that
    matches nothing, so a typo never reads as an empty month."""
    if not patterns:
        raise InputError("source.dumps is empty: name at least one dump file or glob")
    found: dict[Path, None] = {}
    for pattern in patterns:
        expanded = os.path.expanduser(os.path.expandvars(pattern))
        if glob.has_magic(expanded):
            matches = sorted(glob.glob(expanded))
            if not matches:
                raise InputError(f"{pattern}: no dump file matches this pattern")
        else:
            matches = [expanded]
        for match in matches:
            path = Path(match).resolve()
            if not path.is_file():
                raise InputError(f"{path}: no such file")
            found[path] = None
    return list(found)
