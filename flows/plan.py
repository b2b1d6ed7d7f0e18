"""`webtext run --plan`: which stages the pipeline would run now, and why, without running any.

Each stage module's `plan` answers from the same content-addressed ids its flow checks, so "up to
date" here means the stage would say so too. A stage after one that runs is reported as following
it: whether it then runs depends on whether that stage's output changes, which only running it tells.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.config import WebtextConfig
from components.errors import InputError
from components.home import Home
from flows import crawl, evaluate, extract, finetune, pretrain, register, source, tokenize

PLANS = {"source": source.plan, "crawl": crawl.plan, "extract": extract.plan, "tokenize": tokenize.plan,
         "pretrain": pretrain.plan, "finetune": finetune.plan, "evaluate": evaluate.plan,
         "register": register.plan}


@dataclass(frozen=True)
class Step:
    stage: str
    action: str  # "run", "up to date", "follows <stage>" or "blocked"
    reason: str


def plan(config: WebtextConfig, home: Home) -> list[Step]:
    """Every stage in pipeline order with what a `webtext run` would do with it now."""
    import warehouse

    steps: list[Step] = []
    first_to_run: str | None = None
    with warehouse.connect(home.warehouse) as con:
        for stage, check in PLANS.items():
            if first_to_run:
                steps.append(Step(stage, f"follows {first_to_run}",
                                  f"runs if what {first_to_run} produces changes its inputs"))
                continue
            try:
                reason = check(con, config, home)
            except InputError as exc:
                steps.append(Step(stage, "blocked", str(exc)))
                first_to_run = first_to_run or stage
                continue
            if reason is None:
                steps.append(Step(stage, "up to date", ""))
            else:
                steps.append(Step(stage, "run", reason))
                first_to_run = stage
    return steps
