"""A pool worker whose parent is killed with SIGKILL ends too, instead of waiting for ever."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# A parent that starts a spawn pool (as the source and judge stages do), writes its worker's pid, waits.
PARENT = """
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from webtext.components.lifetime import exit_with_parent
if __name__ == "__main__":
    initializer = exit_with_parent if sys.argv[2] == "watched" else None
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=initializer)
    pid = pool.submit(os.getpid).result()
    open(sys.argv[1], "w").write(str(pid))
    time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie has ended


def killed_parents_worker(tmp_path: Path, mode: str) -> int:
    """Start a parent and its pool; kill the parent with SIGKILL; return the worker's pid."""
    out = tmp_path / f"{mode}.pid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(out), mode], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (out.exists() and out.read_text()):
        assert parent.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    return int(out.read_text())


@pytest.mark.slow
def test_a_pool_worker_ends_with_its_killed_parent(tmp_path):
    worker = killed_parents_worker(tmp_path, "watched")
    deadline = time.monotonic() + 5  # the watch looks every second
    while alive(worker):
        assert time.monotonic() < deadline, f"worker {worker} outlived its parent"
        time.sleep(0.1)
    # Without the watch the same worker waits for ever: the check above can fail.
    worker = killed_parents_worker(tmp_path, "unwatched")
    try:
        time.sleep(2.5)
        assert alive(worker)
    finally:
        os.kill(worker, signal.SIGKILL)
