"""A command's start and its console: it does not fail because Prefect's API was slow to start, it reuses
the running `webtext server` of its home, and it prints stage progress and summaries, not chatter."""

import asyncio
import http.server
import json
import logging
import os
import subprocess
import sys
import threading
import warnings
from uuid import UUID

import pytest
from prefect import flow
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.context import get_run_context
from prefect.logging.handlers import APILogHandler

from tests.flows.stages import CLI, own_api_env
from tests.system import free_port
from webtext.components.home import Home
from webtext.flows import api
from webtext.flows.console import quiet_console
from webtext.flows.pipeline import STAGES

BUSY = "while True: pass"




@pytest.mark.slow
def test_a_command_starts_on_a_busy_machine(tmp_path):
    """Every core is busy while the command starts its temporary Prefect API; the neighbours stop once
    the first flow run begins, since the start is what is under test. (What a whole run prints is
    checked on test_crash's clean run.)"""
    neighbours = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in os.sched_getaffinity(0)]
    command = subprocess.Popen([*CLI, "stage", "source", "--config", "tiny"],
                               env=own_api_env(tmp_path / "home"), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(900, command.kill)
    watchdog.start()
    lines, started_under_load = [], False
    try:
        for line in command.stdout:
            lines.append(line.rstrip("\n"))
            if "Beginning flow run" in line:
                started_under_load = all(n.poll() is None for n in neighbours)
                for neighbour in neighbours:
                    neighbour.kill()
        command.wait()
    finally:
        watchdog.cancel()
        command.kill()
        for neighbour in neighbours:
            neighbour.kill()
            neighbour.wait()
    output = "\n".join(lines)
    assert command.returncode == 0, output
    assert started_under_load, output
    assert any(line.startswith("source: ") and "new URLs" in line for line in lines), output
    assert lines[-1].startswith("results: ")


@pytest.mark.slow
def test_a_command_reuses_the_running_server_of_its_home(served_home):
    url = f"{served_home.url}/api"
    record = json.loads((served_home.home / "prefect" / "server.json").read_text())
    assert record == {"pid": served_home.pid, "url": url}
    runs = {run.name.split("-")[0]: run.state_type.value for run in asyncio.run(flow_runs(url))}
    assert runs == dict.fromkeys(["pipeline", *STAGES], "COMPLETED")


async def flow_runs(url: str) -> list:
    async with PrefectClient(url) as client:
        return await client.read_flow_runs()


@pytest.fixture
def health_url():
    """The URL of an API that answers /health, as a live Prefect server does."""

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{httpd.server_port}/api"
        httpd.shutdown()


def test_a_record_counts_while_its_process_lives_and_its_url_answers(tmp_path, health_url):
    home = Home(tmp_path / "home")
    assert api.running_server(home) is None
    ended = subprocess.Popen([sys.executable, "-c", ""])
    ended.wait()
    api.server_record(home).parent.mkdir(parents=True)
    api.server_record(home).write_text(json.dumps({"pid": ended.pid, "url": health_url}))
    assert api.running_server(home) is None
    api.server_record(home).write_text(json.dumps({"pid": os.getpid(), "url": health_url}))
    assert api.running_server(home) == health_url
    api.record_server(home, free_port())  # this process lives, but nothing answers on that port
    assert api.running_server(home) is None


def test_with_no_server_running_the_temporary_one_gets_time_to_start(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv(api.STARTUP_TIMEOUT_SETTING, raising=False)
    api.choose_api(Home(tmp_path / "home"))
    assert "PREFECT_API_URL" not in os.environ
    assert os.environ[api.STARTUP_TIMEOUT_SETTING] == str(api.STARTUP_TIMEOUT_S)


def test_an_api_or_startup_time_the_user_set_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv(api.STARTUP_TIMEOUT_SETTING, "7")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    api.choose_api(Home(tmp_path / "home"))
    assert os.environ[api.STARTUP_TIMEOUT_SETTING] == "7"
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    api.choose_api(Home(tmp_path / "home"))
    assert os.environ["PREFECT_API_URL"] == "http://127.0.0.1:9/api"


@flow
def library_warning() -> UUID:
    warnings.warn_explicit("old API", DeprecationWarning, "/env/site-packages/somelib/api.py", 7)
    return get_run_context().flow_run.id


def test_a_library_warning_goes_to_the_run_log_not_the_console(capfd):
    consoles = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    filters = {handler: list(handler.filters) for handler in consoles}
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        try:
            quiet_console()
            flow_run_id = library_warning()
        finally:
            for handler in consoles:
                handler.filters[:] = filters[handler]
    APILogHandler().flush()
    assert "old API" not in capfd.readouterr().err
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    assert any("DeprecationWarning: old API (/env/site-packages/somelib/api.py:7)" in log.message
               for log in logs)
