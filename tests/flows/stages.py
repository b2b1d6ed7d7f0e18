"""Running the pipeline's stages in order, as far as a test needs; homes to run them in; running and
killing a `webtext` command."""

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from webtext.components.config import WebtextConfig, load_config
from webtext.components.home import Home

CLI = [sys.executable, "-m", "webtext.flows.cli"]
TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"
# the served home's run: the pipeline without the training stages after pretraining's
RUN_OPTIONS = ["run", "--config", str(TINY), "--set", "finetune.tasks=[]", "--set", "sft.data=null",
               "--set", "reward.data=null", "--set", "align.data=null"]


def tiny(*overrides: str) -> WebtextConfig:
    """configs/tiny.yaml with `--set`-style overrides: the whole pipeline on a small sample with every
    page kind in it."""
    return load_config(TINY, list(overrides))


def run_until(stage: str, config) -> list:
    """Every stage flow in pipeline order up to and including `stage`: what a module's checks need
    and no more (the whole pipeline is tested once, in test_finetune_flow)."""
    from webtext.flows.pipeline import STAGES

    names = list(STAGES)
    return [STAGES[name].flow(config) for name in names[: names.index(stage) + 1]]


def cli_env(home: Path) -> dict[str, str]:
    """The environment of a `webtext` child process: its own home, the test session's Prefect API."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(WEBTEXT_HOME=str(home), PREFECT_API_URL=PREFECT_API_URL.value())
    return env


def own_api_env(home: Path) -> dict[str, str]:
    """The environment of a `webtext` child with its own home and no Prefect API named: the command
    chooses one (a running `webtext server` of its home, or a temporary one)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {"WEBTEXT_HOME": str(home)}


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


@contextmanager
def in_home(root: Path) -> Iterator[Home]:
    """WEBTEXT_HOME set to `root` for a block: the stage flows and `main` run there; restored after."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WEBTEXT_HOME", str(root))
        env.delenv("PREFECT_HOME", raising=False)  # the CLI sets it
        yield Home.from_env()


def copy_home(home: Home, root: Path) -> Home:
    """A copy of a finished home at `root`, to change without touching the original. Rows name the files
    of a home relative to it; the dump paths `source_loads` and `submissions` keep are provenance only (a
    load id hashes the dump's content). So a copy is a home of its own, as up to date as the original."""
    shutil.copytree(home.root, root, symlinks=True, dirs_exist_ok=True)
    return Home(root.resolve())


def run_cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`webtext ARGS` as a child process in `home`, pointed at the session's test API as a user with
    `webtext server` running would be."""
    return subprocess.run([*CLI, *args], env=cli_env(home), capture_output=True, text=True, timeout=timeout)
