"""`webtext serve`: the deployments, their schedules and parameters, a deployment run; the warehouse slot
runs queue on, and what the next run does when its holder was killed."""

import json
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest
from prefect.client.orchestration import get_client

from tests.flows.stages import CLI, TINY, cli_env
from webtext.components.home import Home
from webtext.flows.exclusive import limit_name
from webtext.flows.pipeline import STAGES


def wait_for(check, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"not ready after {timeout:g} s"
        time.sleep(0.5)
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[dict, Home]]:
    """`webtext serve` in a home of its own, once for the module: its deployments, and the home."""
    home = Home(tmp_path_factory.mktemp("serve") / "home")
    server = subprocess.Popen([*CLI, "serve", "--config", str(TINY)], env=cli_env(home.root),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def registered():
        assert server.poll() is None, server.stderr.read()
        with get_client(sync_client=True) as client:
            found = {d.id: d for d in client.read_deployments() if "webtext" in (d.tags or [])}
        return found if len(found) == len(STAGES) + 1 else None

    try:
        yield wait_for(registered), home
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.mark.slow
def test_serve_registers_every_deployment_with_its_schedule_and_typed_parameters(served):
    deployments, home = served
    with get_client(sync_client=True) as client:
        flows = {d.flow_id: client.read_flow(d.flow_id).name for d in deployments.values()}
        limit = client.read_global_concurrency_limit_by_name(limit_name(home))
    assert sorted(flows.values()) == sorted(["pipeline", *STAGES])
    by_flow = {flows[d.flow_id]: d for d in deployments.values()}
    [pipeline] = by_flow["pipeline"].schedules
    assert pipeline.schedule.cron == "0 3 1 * *" and pipeline.schedule.timezone == "Europe/Paris"
    assert pipeline.active
    [crawl] = by_flow["crawl"].schedules
    assert crawl.schedule.interval.total_seconds() == 3600 and not crawl.active
    assert not by_flow["extract"].schedules
    schema = by_flow["crawl"].parameter_openapi_schema
    assert "config" in schema["properties"]
    definitions = schema.get("definitions") or schema.get("$defs")
    assert "the `crawl` stage" in str(definitions["WebtextConfig"]).lower()
    assert by_flow["crawl"].parameters["config"]["crawl"]["per_host"] == 4  # tiny.yaml's value
    assert limit.limit == 1
    from prefect.automations import Automation

    from webtext.flows.deployments import UNRESPONSIVE_RUNS

    automation = Automation.read(name=UNRESPONSIVE_RUNS)
    assert automation.trigger.posture == "Proactive" and automation.actions[0].state == "CRASHED"


@pytest.mark.slow
def test_a_deployment_run_completes_in_the_served_process(served):
    from prefect.deployments import run_deployment

    home = served[1]
    run = run_deployment("source/webtext", timeout=180)
    assert run.state.is_completed(), run.state
    assert (home.root / "warehouse.duckdb").exists()


def test_the_warehouse_slot_admits_one_holder_at_a_time(home):
    from concurrent.futures import ThreadPoolExecutor

    from webtext.flows.exclusive import warehouse_slot

    def take(timeout_s: float) -> str:
        try:
            with warehouse_slot(timeout_s=timeout_s):
                return "held"
        except TimeoutError:
            return "timed out"

    with ThreadPoolExecutor(1) as other:  # a thread starts with no slot of its own: as another run
        with warehouse_slot():
            with warehouse_slot():  # a subflow inside its parent's slot does not wait for itself
                pass
            assert other.submit(take, 1).result() == "timed out"
        assert other.submit(take, 10).result() == "held"


HOLDER = """
import time
from prefect import flow
from webtext.flows.exclusive import holds_warehouse

@flow(name="holder")
@holds_warehouse
def hold():
    time.sleep(120)

hold()
"""


@pytest.mark.slow
def test_a_run_killed_in_its_slot_is_marked_crashed_and_its_slot_freed(home):
    import sys

    from webtext.flows.exclusive import HOLDER_FILE, warehouse_slot

    home.root.mkdir(parents=True)
    holder = home.root / HOLDER_FILE
    child = subprocess.Popen([sys.executable, "-c", HOLDER], env=cli_env(home.root),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(holder.exists, timeout=60)
    flow_run_id = json.loads(holder.read_text())["flow_run_id"]
    child.kill()
    child.wait()

    started = time.monotonic()
    with warehouse_slot(timeout_s=10):  # released at once, not when its 300 s lease would end
        pass
    assert time.monotonic() - started < 10 and not holder.exists()
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(flow_run_id).state.name == "Crashed"
