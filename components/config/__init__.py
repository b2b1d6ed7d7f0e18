"""Typed configuration: YAML presets in `configs/` plus `--set dotted.key=value` overrides.

Every section is a pydantic model that forbids unknown keys and describes each field, so a typo or a
bad value fails before any work starts and the Prefect UI renders the effective config as a form.
The sections live by the stages they configure (`corpus_stages`, `model_stages`), the whole in
`schema`, and `loading` reads a preset and its overrides into it.
"""

from webtext.components.config.corpus_stages import (
    DEFAULT_BLOCKED_DOMAINS,
    DEFAULT_BLOCKED_EXTENSIONS,
    C4Config,
    CrawlConfig,
    DedupConfig,
    ExtractConfig,
    FilterConfig,
    FineWebConfig,
    GopherQualityConfig,
    GopherRepetitionConfig,
    SourceConfig,
)
from webtext.components.config.instruct_stages import (
    AlignConfig,
    InstructData,
    PostTraining,
    RewardConfig,
    SFTConfig,
)
from webtext.components.config.loading import load_config, parse_override
from webtext.components.config.model_stages import (
    AdapterConfig,
    Devices,
    DistillConfig,
    EvalTaskConfig,
    EvaluateConfig,
    FinetuneConfig,
    GateConfig,
    MuonConfig,
    PretrainConfig,
    RegisterConfig,
    TaskConfig,
    TokenizeConfig,
)
from webtext.components.config.schema import (
    STAGE_NAMES,
    ClusterConfig,
    SampleConfig,
    ScheduleConfig,
    ServeConfig,
    WebtextConfig,
)
from webtext.components.config.section import Section

__all__ = [
    "AdapterConfig",
    "DEFAULT_BLOCKED_DOMAINS",
    "DEFAULT_BLOCKED_EXTENSIONS",
    "STAGE_NAMES",
    "C4Config",
    "ClusterConfig",
    "CrawlConfig",
    "DedupConfig",
    "Devices",
    "DistillConfig",
    "EvalTaskConfig",
    "EvaluateConfig",
    "ExtractConfig",
    "FilterConfig",
    "FineWebConfig",
    "FinetuneConfig",
    "GateConfig",
    "GopherQualityConfig",
    "GopherRepetitionConfig",
    "InstructData",
    "MuonConfig",
    "PostTraining",
    "PretrainConfig",
    "RegisterConfig",
    "RewardConfig",
    "AlignConfig",
    "SFTConfig",
    "SampleConfig",
    "ScheduleConfig",
    "Section",
    "ServeConfig",
    "SourceConfig",
    "TaskConfig",
    "TokenizeConfig",
    "WebtextConfig",
    "load_config",
    "parse_override",
]
