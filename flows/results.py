"""What a stage flow returns (small, printable, never the data itself) and how its runs are named."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel


class StageResult(BaseModel):
    stage: str
    up_to_date: bool
    summary: str


def run_name(stage: str) -> Callable[[], str]:
    """Run names that say what ran and when: `source-2026-11-25-0341`."""
    return lambda: f"{stage}-{datetime.now(UTC):%Y-%m-%d-%H%M}"
