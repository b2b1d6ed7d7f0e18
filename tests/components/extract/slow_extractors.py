"""Extractors that misbehave on cue, loaded by the pool as `module:function` like any custom one.

A page's HTML says what to do: SLEEP hangs, EXIT ends the process, KILL signals it, RAISE throws,
SLOW takes half a second, EMPTY finds nothing; any other page comes back as its own text, titled
with the worker's pid.
"""

from __future__ import annotations

import os
import signal
import time

from webtext.components.extract.html import Extracted

PATH = "tests.components.extract.slow_extractors:extract"


def extract(html: str, url: str) -> Extracted:
    if "SLEEP" in html:
        time.sleep(3600)
    if "EXIT" in html:
        os._exit(3)
    if "KILL" in html:
        os.kill(os.getpid(), signal.SIGKILL)
    if "RAISE" in html:
        raise ValueError("planted failure\nwith a second line")
    if "SLOW" in html:
        time.sleep(0.5)
    if "EMPTY" in html:
        return Extracted("", None, None)
    return Extracted(html.strip(), f"pid {os.getpid()}", url)
