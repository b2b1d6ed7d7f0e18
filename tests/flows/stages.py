"""Running the pipeline's stages in order, as far as a test module needs; killing a `webtext` run."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

CLI = [sys.executable, "-m", "flows.cli"]


def run_until(stage: str, config) -> list:
    """Every stage flow in pipeline order up to and including `stage`: what a module's checks need
    and no more (the whole pipeline is tested once, in test_finetune_flow)."""
    from flows.pipeline import STAGES

    names = list(STAGES)
    return [STAGES[name](config) for name in names[: names.index(stage) + 1]]


def cli_env(home: Path) -> dict[str, str]:
    """The environment of a `webtext` child process: its own home, the test session's Prefect API."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(WEBTEXT_HOME=str(home), PREFECT_API_URL=PREFECT_API_URL.value())
    return env


def kill_when(command: list[str], env: dict[str, str], ready: Callable[[], bool],
              timeout: float = 180) -> int:
    """Start `command` and SIGKILL it as soon as `ready()` holds; fail if it ends or times out first.
    Returns the killed process's pid."""
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not ready():
        assert child.poll() is None, "the command ended before it could be killed"
        assert time.monotonic() < deadline, f"not ready to be killed after {timeout:g} s"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    return child.pid
