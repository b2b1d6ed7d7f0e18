"""What the flow tests share: one Prefect API, fresh homes, the CLI in a home, and one run of the tiny
pipeline that the read-only checks of every module look at.

The tiny pipeline takes a minute or more; run once per session it spares each module its own run up to
the stage it checks. Its homes are read-only: a test that changes state (another config, a kill, a
tampered file) works in a fresh home or in a copy (`TinyRun.copy`).
"""

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prefect import tags
from prefect.testing.utilities import prefect_test_harness

from tests.flows.stages import CLI, RUN_OPTIONS, copy_home, in_home, own_api_env, run_until, tiny
from tests.system import free_port
from webtext.components.home import Home
from webtext.flows import api
from webtext.flows.cli import main
from webtext.flows.pipeline import pipeline
from webtext.flows.stage import StageResult

TINY_RUN_TAG = "tiny-run"  # on the shared run's flow runs, so its artifacts can be told from later runs'


@pytest.fixture(scope="session", autouse=True)
def prefect_harness():
    """One temporary Prefect API for the whole session: starting it costs ~10 s."""
    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture
def home(tmp_path, monkeypatch) -> Home:
    """A fresh, empty home, WEBTEXT_HOME for the whole test."""
    monkeypatch.setenv("WEBTEXT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PREFECT_HOME", raising=False)  # the CLI sets it; undone after the test
    return Home.from_env()


@dataclass(frozen=True)
class TinyRun:
    """configs/tiny.yaml run once, stage by stage, then as the pipeline flow."""

    home: Home
    results: list[StageResult]  # each stage's first run, the one that did its work, in pipeline order
    pipeline: list[StageResult]  # the pipeline flow's: up to date to pretrain, then finetune to register
    after: dict[str, Home]  # the home as it stood after `source` and after `pretrain`

    def copy(self, root: Path, after: str | None = None) -> Home:
        """The finished home (or the one after a stage) copied to `root`, for a test to change."""
        return copy_home(self.after[after] if after else self.home, root)

    def artifact(self, key: str):
        """The latest artifact under `key` that this run published (later runs publish under it too)."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            ArtifactFilter,
            ArtifactFilterKey,
            FlowRunFilter,
            FlowRunFilterTags,
        )
        from prefect.client.schemas.sorting import ArtifactSort

        with get_client(sync_client=True) as client:
            [found] = client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[TINY_RUN_TAG])),
                sort=ArtifactSort.CREATED_DESC, limit=1)
        return found


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> TinyRun:
    """The tiny pipeline, once per session: source, a copy; on to pretrain, a copy; then the pipeline
    flow, which finds source to pretrain up to date and runs finetune, evaluate and register."""
    root = tmp_path_factory.mktemp("tiny-run")
    after = {}
    with in_home(root) as home, tags(TINY_RUN_TAG):
        results = run_until("source", tiny())
        after["source"] = copy_home(home, tmp_path_factory.mktemp("tiny-run-after-source"))
        results += run_until("pretrain", tiny())[1:]
        after["pretrain"] = copy_home(home, tmp_path_factory.mktemp("tiny-run-after-pretrain"))
        whole = pipeline(tiny())
    return TinyRun(home, results + whole[len(results):], whole, after)


@pytest.fixture
def cli_in(capsys) -> Callable[[Home], Callable[..., tuple[int, str, str]]]:
    """`cli_in(home)("models", "list")`: `webtext ...` in this process, in `home`, as
    (exit code, stdout, stderr)."""

    def bound(home: Home) -> Callable[..., tuple[int, str, str]]:
        def run(*args: str) -> tuple[int, str, str]:
            with in_home(home.root):
                code = main(list(args))
            out = capsys.readouterr()
            return code, out.out, out.err

        return run

    return bound



@dataclass(frozen=True)
class ServedHome:
    home: Path
    url: str  # the server's base URL; its API is at url + "/api"
    pid: int
    run: subprocess.CompletedProcess  # the pipeline run: RUN_OPTIONS, as a user types them
    began: datetime
    seconds: float  # how long the run took, from start to exit


@pytest.fixture(scope="session")
def served_home(tmp_path_factory) -> Iterator[ServedHome]:
    """`webtext server` in a home of its own, with a database of its own, and the tiny pipeline run
    there by a command that names no Prefect API: a run the server shows went through it (a temporary
    API would have used the home's database). The UI, command-start and crash tests look at it."""
    root = tmp_path_factory.mktemp("served")
    home, port = root / "home", free_port()
    env = own_api_env(home)
    server = subprocess.Popen(
        [*CLI, "server", "--port", str(port)], start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env | {"PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{root / 'server.db'}"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while not api.healthy(f"{url}/api"):
            assert server.poll() is None, "webtext server ended"
            assert time.monotonic() < deadline, "webtext server did not answer"
            time.sleep(0.5)
        began, start = datetime.now(UTC), time.monotonic()
        run = subprocess.run([*CLI, *RUN_OPTIONS], env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        yield ServedHome(home, url, server.pid, run, began, time.monotonic() - start)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
