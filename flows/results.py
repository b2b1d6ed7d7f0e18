"""What a stage flow returns (small, printable, never the data itself) and how its runs are named."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel


class StageResult(BaseModel):
    stage: str
    up_to_date: bool
    summary: str


def _what(stage: str) -> str:
    """What a run of `stage` is about, from its config parameter: the model preset for pretraining,
    the task count for fine-tuning, the model name for evaluation and registration."""
    from prefect.runtime import flow_run

    config = (flow_run.parameters or {}).get("config")
    if config is None:
        return ""
    config = config if isinstance(config, dict) else config.model_dump(mode="json")
    if stage == "pretrain":
        model = config["pretrain"]["model"]
        return f"-{model if isinstance(model, str) else 'custom'}"
    if stage == "finetune":
        return f"-{len(config['finetune']['tasks'])}-tasks"
    if stage in ("evaluate", "register"):
        return f"-{config['register']['name']}"
    return ""


def run_name(stage: str) -> Callable[[], str]:
    """Run names that say what ran and when: `source-2026-11-25-0341`,
    `pretrain-cpu-small-2026-11-25-0402`."""
    return lambda: f"{stage}{_what(stage)}-{datetime.now(UTC):%Y-%m-%d-%H%M}"
