"""How long a command waits for Prefect before its work starts, and how long it takes in all.

`webtext stage source --config tiny` in a fresh home, timed from launch to its first flow run beginning
(the "Beginning flow run" line it prints) and to its exit, three ways:

- (a) quiet: the machine idle, no Prefect API named, so the command starts a temporary one;
- (b) busy: the same with a CPU-bound neighbour process on every core for the whole command;
- (c) server: a `webtext server` already running for the home (its own start is not counted).

Prints each figure and the ratios (b)/(a) and (c)/(a), with the CPU model and whether it has avx512_bf16.

    .venv/bin/python benchmarks/command_start.py [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from webtext.flows.api import healthy

CLI = [sys.executable, "-m", "webtext.flows.cli"]
COMMAND = [*CLI, "stage", "source", "--config", "tiny"]
STARTED = "Beginning flow run"


def env_for(home: Path) -> dict[str, str]:
    """No Prefect setting from this shell: the command chooses its API as a user's would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["WEBTEXT_HOME"] = str(home)
    return env


def timed_command(home: Path) -> tuple[float, float]:
    """Seconds from launch to the first flow run beginning, and to the command's exit."""
    launched = time.perf_counter()
    process = subprocess.Popen(COMMAND, env=env_for(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    started = None
    output = []
    for line in process.stdout:
        output.append(line)
        if started is None and STARTED in line:
            started = time.perf_counter() - launched
    if process.wait() != 0 or started is None:
        sys.exit(f"the command failed (exit {process.returncode}):\n{''.join(output)}")
    return started, time.perf_counter() - launched


@contextmanager
def busy_neighbours():
    neighbours = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                  for _ in os.sched_getaffinity(0)]
    try:
        yield
    finally:
        for neighbour in neighbours:
            neighbour.kill()
            neighbour.wait()


@contextmanager
def running_server(home: Path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([*CLI, "server", "--port", str(port)], env=env_for(home),
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not healthy(f"http://127.0.0.1:{port}/api"):
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit("webtext server did not start")
            time.sleep(0.5)
        yield
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


def cpu() -> str:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    model = fields.get("Model name", "unknown").strip()
    bf16 = "avx512_bf16" in fields.get("Flags", "").split()
    return f"{model}, {len(os.sched_getaffinity(0))} cores, avx512_bf16 {'present' if bf16 else 'absent'}"


def quiet(home: Path) -> tuple[float, float]:
    return timed_command(home)


def busy(home: Path) -> tuple[float, float]:
    with busy_neighbours():
        return timed_command(home)


def with_server(home: Path) -> tuple[float, float]:
    with running_server(home):
        return timed_command(home)


CASES = {"a": ("quiet, temporary API", quiet), "b": ("busy, temporary API", busy),
         "c": ("quiet, webtext server", with_server)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the median is printed")
    args = parser.parse_args()
    print(f"cpu: {cpu()}")
    start, total = {}, {}
    with tempfile.TemporaryDirectory(prefix="command-start-") as scratch:
        for key, (name, case) in CASES.items():
            runs = [case(Path(scratch) / f"{key}-{i}") for i in range(args.repeat)]
            start[key], total[key] = (statistics.median(values) for values in zip(*runs))
            print(f"({key}) {name:<22} first stage starts after {start[key]:6.1f} s, "
                  f"command ends after {total[key]:6.1f} s", flush=True)
    for key in "bc":
        print(f"({key})/(a): start {start[key] / start['a']:.2f}x, total {total[key] / total['a']:.2f}x")


if __name__ == "__main__":
    main()
