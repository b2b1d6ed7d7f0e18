"""The whole pipeline's configuration: one section per stage, plus where and when it runs."""

from __future__ import annotations

import warnings
from typing import Literal

from pydantic import Field, field_validator, model_validator

from webtext.components.config.corpus_stages import CrawlConfig, ExtractConfig, SourceConfig
from webtext.components.config.instruct_stages import AlignConfig, RewardConfig, SFTConfig
from webtext.components.config.model_stages import (
    EvaluateConfig,
    FinetuneConfig,
    PretrainConfig,
    RegisterConfig,
    TokenizeConfig,
)
from webtext.components.config.section import Section


class SampleConfig(Section):
    """The embedded sample: a small local web and a matching dump, built offline by the project."""

    enabled: bool = Field(
        False, description="Build the sample dump under WEBTEXT_HOME and serve its pages on loopback."
    )
    articles: int = Field(
        40, ge=5,
        description="Number of plain article pages (the special page kinds come on top); at least 5, "
        "as the duplicates and the redirect copy the second, third and fifth.",
    )
    slow_pages: bool = Field(
        True, description="Include pages that answer slowly (their crawl status depends on timing)."
    )


STAGE_NAMES = ("source", "crawl", "extract", "tokenize", "pretrain", "finetune", "sft", "reward", "align",
               "evaluate", "register")


class ClusterConfig(Section):
    """Where the crawl and extract stages run their batches: here, one after another, or as tasks on
    a Dask cluster. On a cluster, WEBTEXT_HOME must be on storage every worker sees."""

    task_runner: Literal["local", "dask"] = Field(
        "local", description="local: batches run one after another in this process (each uses its own "
        "workers); dask: batches run at once on a Dask cluster (`pip install .[dask]`).",
    )
    dask_address: str | None = Field(
        None, description="A running Dask scheduler (`tcp://host:8786`); unset: a local cluster is started "
        "for the stage and stopped after it.",
    )
    dask_workers: int = Field(2, ge=1, description="Worker processes of the local cluster.")


class ScheduleConfig(Section):
    """When a deployment runs on its own: a cron line or an interval, in a timezone."""

    cron: str | None = Field(None, description="A cron line, e.g. `0 3 1 * *` (03:00 on each month's first).")
    interval_s: int | None = Field(None, ge=60, description="Seconds between runs, instead of `cron`.")
    timezone: str = Field("UTC", description="IANA timezone the cron line is read in.")
    active: bool = Field(True, description="False registers the schedule paused.")

    @model_validator(mode="after")
    def _one_of(self) -> ScheduleConfig:
        if (self.cron is None) == (self.interval_s is None):
            raise ValueError("give exactly one of cron and interval_s")
        return self


class ServeConfig(Section):
    """`webtext serve`: one deployment per stage and one for the pipeline, each with these parameters."""

    schedules: dict[str, ScheduleConfig] = Field(
        default_factory=dict,
        description="Deployment (`pipeline` or a stage name) -> its schedule; a deployment not named runs "
        "only when started by hand.",
    )

    @field_validator("schedules")
    @classmethod
    def _known(cls, value: dict[str, ScheduleConfig]) -> dict[str, ScheduleConfig]:
        unknown = sorted(set(value) - {"pipeline", *STAGE_NAMES})
        if unknown:
            raise ValueError(f"no deployment named {', '.join(unknown)}; deployments: pipeline, "
                             f"{', '.join(STAGE_NAMES)}")
        return value


# pydantic warns that a field named `register` hides ABCMeta.register, a class method of every model;
# nothing here calls that, and the stage's name is the config key users write.
warnings.filterwarnings("ignore", message='Field name "register"', category=UserWarning)


class WebtextConfig(Section):
    """The whole pipeline's configuration, one section per stage."""

    source: SourceConfig = Field(default_factory=SourceConfig, description="The `source` stage.")
    crawl: CrawlConfig = Field(default_factory=CrawlConfig, description="The `crawl` stage.")
    extract: ExtractConfig = Field(default_factory=ExtractConfig, description="The `extract` stage.")
    tokenize: TokenizeConfig = Field(default_factory=TokenizeConfig, description="The `tokenize` stage.")
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig, description="The `pretrain` stage.")
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig, description="The `finetune` stage.")
    sft: SFTConfig = Field(default_factory=SFTConfig, description="The `sft` stage.")
    reward: RewardConfig = Field(default_factory=RewardConfig, description="The `reward` stage.")
    align: AlignConfig = Field(default_factory=AlignConfig, description="The `align` stage.")
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig, description="The `evaluate` stage.")
    register: RegisterConfig = Field(default_factory=RegisterConfig, description="The `register` stage.")
    cluster: ClusterConfig = Field(default_factory=ClusterConfig, description="Where batches run.")
    serve: ServeConfig = Field(default_factory=ServeConfig, description="Deployments and their schedules.")
    sample: SampleConfig = Field(default_factory=SampleConfig, description="The embedded sample.")
