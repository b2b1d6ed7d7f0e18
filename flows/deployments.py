"""`webtext serve`: one deployment per stage and one for the whole pipeline, served from this process.

Each deployment's parameter is the whole typed config (`WebtextConfig`), so the UI's run form shows
every key with its description, filled with the config `serve` was started with. Schedules come from
`serve.schedules`; every run takes the home's warehouse slot, so a scheduled run and one started by
hand queue instead of colliding.
"""

from __future__ import annotations

from datetime import timedelta

from webtext.components.config import ScheduleConfig, WebtextConfig
from webtext.components.home import Home

DEPLOYMENT = "webtext"  # each flow's deployment name: `pipeline/webtext`, `crawl/webtext`, ...
UNRESPONSIVE_RUNS = "webtext: crash unresponsive runs"


def _schedules(entry: ScheduleConfig | None) -> list:
    from prefect.schedules import Cron, Interval

    if entry is None:
        return []
    if entry.cron is not None:
        return [Cron(entry.cron, timezone=entry.timezone, active=entry.active)]
    return [Interval(timedelta(seconds=entry.interval_s), timezone=entry.timezone, active=entry.active)]


def deployments(config: WebtextConfig) -> list:
    """The RunnerDeployments of the pipeline and of every stage, with their schedules."""
    from prefect.deployments.runner import EntrypointType

    from webtext.flows.pipeline import STAGES, pipeline

    parameters = {"config": config.model_dump(mode="json")}
    flows = {"pipeline": pipeline, **{name: stage.flow for name, stage in STAGES.items()}}
    # By module path, not file path: a file entrypoint puts flows/ on sys.path, where flows/tokenize.py
    # would shadow the standard library's `tokenize` in every process the run spawns.
    return [flow.to_deployment(name=DEPLOYMENT, parameters=parameters, tags=["webtext", name],
                               entrypoint_type=EntrypointType.MODULE_PATH,
                               schedules=_schedules(config.serve.schedules.get(name)),
                               description=(flow.description or "").strip().splitlines()[0])
            for name, flow in flows.items()]


def ensure_unresponsive_run_automation() -> None:
    """Have the server mark a webtext run `Crashed` once its heartbeats stop: a run whose machine or
    `serve` process died cannot say so itself (Prefect's zombie-flow recipe, for runs tagged webtext)."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification
    from prefect.settings import get_current_settings

    try:
        Automation.read(name=UNRESPONSIVE_RUNS)
        return
    except ValueError:  # not there yet
        pass
    every = get_current_settings().flows.heartbeat_frequency or 180
    ended = {f"prefect.flow-run.{state}" for state in ("Completed", "Failed", "Cancelled", "Crashed")}
    Automation(
        name=UNRESPONSIVE_RUNS,
        description=f"A webtext flow run with no heartbeat for {3 * every} s is marked Crashed.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"}, expect={"prefect.flow-run.heartbeat", *ended},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            match_related=ResourceSpecification({"prefect.resource.role": "tag",
                                                 "prefect.resource.id": "prefect.tag.webtext"}),
            for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
            within=timedelta(seconds=3 * every)),
        actions=[ChangeFlowRunState(state=StateType.CRASHED, message="no heartbeat: its process died")],
    ).create()


def serve(config: WebtextConfig) -> None:
    """Register the deployments and run their flow runs until interrupted (schedules pause then)."""
    from prefect import serve as serve_deployments

    from webtext.flows.exclusive import ensure_limit

    ensure_limit(Home.from_env())
    ensure_unresponsive_run_automation()
    serve_deployments(*deployments(config))
