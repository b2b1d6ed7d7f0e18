"""A child process's life tied to its parent's.

A process killed with SIGKILL runs no cleanup, so the processes it started are left to run on their
own: a training run that collides with the one its rerun starts, or a pool worker blocked for ever on a
queue whose writing end it holds itself (so it never reads the end of it). Each such child watches its
parent and ends when the parent is gone.
"""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent() -> None:
    """End this process when the one that started it is gone (checked every second, in a daemon
    thread). Call it first thing in a child, or as a process pool's `initializer`."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
