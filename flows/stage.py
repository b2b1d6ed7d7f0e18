"""What a stage is: the one skeleton every pipeline stage fills.

A stage reads what the stages before it recorded, and writes outputs named by a hash of their input
ids, its config section and its code version (`output_id`), so that a rerun with nothing changed does
nothing. Each stage says three things:

- `plan(ctx)`: the ids the current config gives, whether those outputs exist and verify, and so why
  the stage would run now (`Plan.reason`), or else what is up to date (`Plan.current`, `Plan.output`);
- `run(ctx, plan)`: do the work the plan found missing, record it, return a one-line summary;
- `areas`: the directories under WEBTEXT_HOME its rows name, for `webtext gc`;

and, when it needs them, `prepare` (work before the warehouse opens) and `subject` (its run names).

The flow (its run name, warehouse slot and connection, the "up to date" answer), `webtext run --plan`,
`webtext stage NAME`, `webtext serve` and the stage after it (`current`) are built from those, so the
flow and the plan share one identity and verification and cannot disagree.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from webtext.components.config import WebtextConfig
from webtext.components.errors import InputError
from webtext.components.files import stable_hash
from webtext.components.home import Home

if TYPE_CHECKING:
    import duckdb
    from prefect import Flow


@dataclass(frozen=True)
class Context:
    """What a stage works with: the warehouse connection its flow holds, the config, the home; and the
    plans made under it, each once (`Stage.planned`), so that the stages asking for an earlier stage's
    output, and `--plan` asking every stage, do not hash the same snapshot and weights again."""

    con: duckdb.DuckDBPyConnection
    config: WebtextConfig
    home: Home
    plans: dict[str, Plan] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Plan:
    """What running a stage now would do. `reason` is None when its outputs exist and verify; then
    `current` says what is up to date and `output` is the record the stages after it read. Otherwise
    `work` carries what the plan found (ids, inputs) to `run`, so that it is not computed twice."""

    reason: str | None
    current: str = ""
    output: Any = None
    work: Any = None


class StageResult(BaseModel):
    """What a stage flow returns: small and printable, never the data itself."""

    stage: str
    up_to_date: bool
    summary: str


class Stage(ABC):
    """One pipeline stage. Subclasses set `name` and `areas` and write `plan` and `run`; the first line
    of their docstring describes the stage's flow and deployment."""

    name: ClassVar[str]
    # Bump when the same inputs and config would now give other outputs: every output id changes.
    version: ClassVar[int] = 1
    # Directories under WEBTEXT_HOME whose entries this stage's rows name, with the depth of an entry
    # below the directory (`registry/<name>/<version>` is 2): `webtext gc` removes the rest.
    areas: ClassVar[dict[str, int]] = {}

    def output_id(self, *parts: Any) -> str:
        """The content address of an output: its input ids and config, with this stage's version."""
        return stable_hash([*parts, self.version])[:16]

    def prepare(self, config: WebtextConfig, home: Home) -> None:
        """What a run does before it opens the warehouse, which `--plan` skips: refreshing an input the
        stage generates itself (the bundled sample), refusing a missing input before anything is
        written. Nothing by default."""

    @abstractmethod
    def plan(self, ctx: Context) -> Plan: ...

    @abstractmethod
    def run(self, ctx: Context, plan: Plan) -> str: ...

    def subject(self, config: WebtextConfig) -> str:
        """What a run of this stage is about, for its run name (a preset, a model name); "" if nothing."""
        return ""

    def planned(self, ctx: Context) -> Plan:
        """This stage's plan under `ctx`, made on the first call. A context lives for one flow body or
        one `--plan`, in which no earlier stage's outputs change."""
        if self.name not in ctx.plans:
            ctx.plans[self.name] = self.plan(ctx)
        return ctx.plans[self.name]

    def current(self, ctx: Context) -> Any:
        """This stage's output under the current config, verified: what the stage after it starts from.
        Raises InputError, saying why, when the stage has yet to run."""
        plan = self.planned(ctx)
        if plan.reason is not None:
            raise InputError(f"{plan.reason}: run `webtext stage {self.name}` first")
        return plan.output

    def execute(self, config: WebtextConfig) -> StageResult:
        """The flow's body: plan against the warehouse; run only when the plan finds something to do."""
        from webtext import warehouse

        home = Home.from_env()
        self.prepare(config, home)
        with warehouse.connect(home.warehouse) as con:
            ctx = Context(con, config, home)
            plan = self.planned(ctx)
            if plan.reason is None:
                current = f" ({plan.current})" if plan.current else ""
                return StageResult(stage=self.name, up_to_date=True,
                                   summary=f"{self.name}: up to date{current}")
            summary = self.run(ctx, plan)
            return StageResult(stage=self.name, up_to_date=False, summary=f"{self.name}: {summary}")

    @property
    def description(self) -> str:
        return (type(self).__doc__ or self.name).strip().splitlines()[0]

    @cached_property
    def flow(self) -> Flow:
        """The stage's Prefect flow. Its function carries the stage module's name and the stage's name,
        so a deployment's module-path entrypoint (`webtext.flows.crawl.crawl`) finds it there."""
        from prefect import flow

        from webtext.flows.exclusive import holds_warehouse

        def body(config: WebtextConfig) -> StageResult:
            return self.execute(config)

        body.__name__ = body.__qualname__ = self.name
        body.__module__ = type(self).__module__
        body.__doc__ = self.description
        return flow(name=self.name, flow_run_name=self.run_name,
                    description=self.description)(holds_warehouse(body))

    def run_name(self) -> str:
        """`crawl-2026-11-25-0341`, `pretrain-cpu-small-2026-11-25-0402`: what ran, and when."""
        from prefect.runtime import flow_run

        config = (flow_run.parameters or {}).get("config")
        subject = ""
        if config is not None:
            subject = self.subject(config if isinstance(config, WebtextConfig)
                                   else WebtextConfig.model_validate(config))
        return f"{self.name}{'-' + subject if subject else ''}-{datetime.now(UTC):%Y-%m-%d-%H%M}"
