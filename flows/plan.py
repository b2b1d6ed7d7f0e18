"""`webtext run --plan`: which stages the pipeline would run now, and why, without running any.

Each stage answers with the same `plan` its flow checks before it runs, so "up to date" here means
the stage would say so too. A stage after one that runs is reported as following it: whether it then
runs depends on whether that stage's output changes, which only running it tells.
"""

from __future__ import annotations

from dataclasses import dataclass

from webtext.components.config import WebtextConfig
from webtext.components.errors import InputError
from webtext.components.home import Home
from webtext.flows.stage import Context


@dataclass(frozen=True)
class Step:
    stage: str
    action: str  # "run", "up to date", "follows <stage>" or "blocked"
    reason: str


def plan(config: WebtextConfig, home: Home) -> list[Step]:
    """Every stage in pipeline order with what a `webtext run` would do with it now."""
    from webtext import warehouse
    from webtext.flows.pipeline import STAGES

    steps: list[Step] = []
    first_to_run: str | None = None
    with warehouse.connect(home.warehouse) as con:
        ctx = Context(con, config, home)
        for name, stage in STAGES.items():
            if first_to_run:
                steps.append(Step(name, f"follows {first_to_run}",
                                  f"runs if what {first_to_run} produces changes its inputs"))
                continue
            try:
                reason = stage.planned(ctx).reason
            except InputError as exc:
                steps.append(Step(name, "blocked", str(exc)))
                first_to_run = name
                continue
            if reason is None:
                steps.append(Step(name, "up to date", ""))
            else:
                steps.append(Step(name, "run", reason))
                first_to_run = name
    return steps
