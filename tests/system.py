"""What tests ask of the operating system: a free loopback port, the processes that name a path."""

import socket
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def processes_naming(path: Path) -> list[int]:
    """Pids of the live processes whose command line names `path` (or a path under it)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(path).encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:  # ended while we looked
            continue
    return found
