"""The stages in pipeline order, and the `pipeline` flow that runs them all.

`STAGES` is the one list of stages: `webtext run` runs it in order, `run --plan` asks each for its plan,
`webtext stage NAME` looks a stage up in it, `webtext serve` makes a deployment of each, and `webtext gc`
keeps what each stage's rows name. A new stage is a module that fills `Stage`, added here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow

from webtext.components.config import WebtextConfig
from webtext.flows import (
    align,
    crawl,
    evaluate,
    extract,
    finetune,
    pretrain,
    register,
    report,
    reward,
    sft,
    source,
    tokenize,
)
from webtext.flows.exclusive import holds_warehouse
from webtext.flows.stage import Stage, StageResult

STAGES: dict[str, Stage] = {module.STAGE.name: module.STAGE for module in (
    source, crawl, extract, tokenize, pretrain, finetune, sft, reward, align, evaluate, register,
    report)}


@flow(name="pipeline", flow_run_name=lambda: f"pipeline-{datetime.now(UTC):%Y-%m-%d-%H%M}")
@holds_warehouse
def pipeline(config: WebtextConfig) -> list[StageResult]:
    """Run every stage; each reports `up to date` when its inputs and config are unchanged."""
    return [stage.flow(config) for stage in STAGES.values()]
