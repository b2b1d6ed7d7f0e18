"""Which Prefect API a command talks to: the user's, the `webtext server` of its home, or a temporary one.

With no API named, Prefect starts a temporary server in a subprocess for each command and waits for it
a fixed time (20 s by default). That start takes up to 20 s on two quiet cores and several times longer
on busy ones, where the wait ran out and the command failed having done nothing. So `webtext server`
records that it serves its home, a command reuses that server when it answers, and otherwise the
temporary server gets a startup wait that a loaded machine meets.

The choice is made through the environment before the command imports Prefect, which reads its
settings once, at import.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from webtext.components.files import atomic_write_bytes
from webtext.components.home import Home

RECORD = "server.json"
# A live server answers /health in milliseconds; a few seconds covers a loaded machine and is still
# far cheaper than starting a temporary server.
HEALTH_TIMEOUT_S = 5.0
# A command's first flow run began 25 s after launch on two quiet cores (most of it the temporary
# server's start: imports, migrations of a new database) and 88 s after it with a CPU-bound neighbour
# on each core (benchmarks/command_start.py). 300 s leaves a margin of three over that busy case; the
# wait costs nothing while the server starts, and one still down by then is broken, not slow.
STARTUP_TIMEOUT_S = 300
STARTUP_TIMEOUT_SETTING = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"


def server_record(home: Home) -> Path:
    return home.prefect / RECORD


def record_server(home: Home, port: int) -> None:
    """Note that this process serves `home`'s Prefect API on `port`. Written before `webtext server`
    execs Prefect's server, which keeps this pid; when the process ends, the record goes stale."""
    record = {"pid": os.getpid(), "url": f"http://127.0.0.1:{port}/api"}
    atomic_write_bytes(server_record(home), json.dumps(record).encode())


def running_server(home: Home) -> str | None:
    """The API URL of the `webtext server` serving `home`, if its process lives and its API answers."""
    try:
        record = json.loads(server_record(home).read_text())
        pid, url = int(record["pid"]), str(record["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url if _alive(pid) and healthy(url) else None


def choose_api(home: Home) -> None:
    """Point Prefect at the API this command should use, through the environment its settings read.

    An API the user named (environment or Prefect profile) is kept. Otherwise a running `webtext
    server` for this home is reused, so its UI shows the run live and no temporary server starts;
    failing that, Prefect starts its temporary server, with a startup wait fit for a busy machine.
    """
    if os.environ.get("PREFECT_API_URL"):
        return
    url = running_server(home)
    if url is None:
        os.environ.setdefault(STARTUP_TIMEOUT_SETTING, str(STARTUP_TIMEOUT_S))
    elif not _profile_names_api():
        os.environ["PREFECT_API_URL"] = url
        _reload_prefect_settings()


def _profile_names_api() -> bool:
    """Whether the active Prefect profile (or a prefect.toml) names an API. Imports Prefect, so it is
    asked only when a server is running, that is when the command is about to use Prefect anyway."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url is not None


def _reload_prefect_settings() -> None:
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user: alive, and its URL check decides
        return True
    return True


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=HEALTH_TIMEOUT_S) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False
