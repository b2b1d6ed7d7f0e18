"""The `pipeline` flow: every stage in order, each one a subflow that also runs alone."""

from __future__ import annotations

from collections.abc import Callable

from prefect import flow

from components.config import WebtextConfig
from flows.crawl import crawl
from flows.evaluate import evaluate
from flows.exclusive import holds_warehouse
from flows.extract import extract
from flows.finetune import finetune
from flows.pretrain import pretrain
from flows.register import register
from flows.results import StageResult, run_name
from flows.source import source
from flows.tokenize import tokenize

# Pipeline order of INTERFACE.md.
STAGES: dict[str, Callable[[WebtextConfig], StageResult]] = {
    "source": source,
    "crawl": crawl,
    "extract": extract,
    "tokenize": tokenize,
    "pretrain": pretrain,
    "finetune": finetune,
    "evaluate": evaluate,
    "register": register,
}


@flow(name="pipeline", flow_run_name=run_name("pipeline"))
@holds_warehouse
def pipeline(config: WebtextConfig) -> list[StageResult]:
    """Run every stage; each reports `up to date` when its inputs and config are unchanged."""
    return [stage_flow(config) for stage_flow in STAGES.values()]
