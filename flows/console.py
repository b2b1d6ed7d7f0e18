"""What a command prints: stage progress, summaries, warnings that matter and errors; not the chatter.

Every record still reaches the flow-run log in the Prefect UI: the filters here sit on the console
handlers only, and Prefect's API handler sees each record before the console handler does.

- The traceback of a WebtextError (a bad dump, a busy warehouse) helps nobody at the terminal, and the
  CLI prints the error itself as its last line; bugs keep their traceback.
- Lightning's tips, hardware banners and model summary tables, third-party warnings quoted by training
  processes and Prefect's INFO chatter (its temporary server, each task's "Finished in state") are
  dropped; flow runs still say when each stage begins and ends. Training step lines show at most one
  per `PROGRESS_INTERVAL_S` per task run, plus the first and the last.
- Deprecation, future and user warnings raised by third-party packages in this process go to the
  run's log, not the console.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from typing import TextIO

from webtext import components, flows, warehouse
from webtext.components.errors import WebtextError

# A step line every few seconds buries the summaries; one in ten seconds still shows training moving.
PROGRESS_INTERVAL_S = 10.0

# Lines that third-party libraries print in training processes, matched at the start of a line.
NOISE = re.compile("|".join([
    r"💡 Tip:",                                                # Lightning's advertisements,
    r"[GTHI]PU available: ",                                   # its hardware banner, once per Trainer,
    r"LOCAL_RANK: \d+ - ",                                     # its device assignment,
    r"Initializing distributed: |distributed_backend=|All distributed processes registered",  # rendezvous,
    r"Using \S+ (Automatic )?Mixed Precision",                 # its precision and loop chatter,
    r"Loading `\w+` to estimate number of stepping batches",
    r"`Trainer\.\w+` stopped: ",
    r"\s*\d*\s*\| .*\|",                                       # its model summary: header and rows,
    r"-{10,}$",                                                # rules
    r"\S+( [KMBT])?\s+(Trainable params|Non-trainable params|Total params|Total Flops"  # and totals;
    r"|Total estimated model params size \(MB\)|Modules in (train|eval) mode)",
    r"`weights_only` was not set, defaulting to `False`\.",    # torch.load's reminder;
    r".*[/\\](site|dist)-packages[/\\](?!webtext[/\\]).*\.py:\d+: ",  # a library's warning
    r"\s+(warnings\.warn|rank_zero_warn|rank_zero_deprecation)\(",  # and the source line it quotes
]))
STEP = re.compile(r"step (\d+)/(\d+) ")
# Python's own display stays for other categories (a RuntimeWarning can be a real bug).
LOG_ONLY_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, UserWarning)
_LOG_ONLY = "webtext_log_only"
_OWN_CODE = tuple(os.path.join(path, "") for package in (components, flows, warehouse)
                  for path in package.__path__)


class _DropUserErrorTracebacks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], WebtextError):
            record.exc_info = None
            record.exc_text = None
        return True


class _DropChatter(logging.Filter):
    """Keeps what a person running the command needs; see the module docstring for what goes."""

    def __init__(self) -> None:
        super().__init__()
        self._last_step_shown: dict[object, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _LOG_ONLY, False):
            return False
        if record.levelno >= logging.WARNING:
            return True
        if _prefect_internal(record.name):
            return False
        message = record.getMessage()
        if record.name.startswith("prefect.task_runs") and message.startswith("Finished in state"):
            return False
        return not NOISE.match(message) and self._step_shown(record, message)

    def _step_shown(self, record: logging.LogRecord, message: str) -> bool:
        step = STEP.match(message)
        if step is None or "val_" in message:
            return True
        run = getattr(record, "task_run_id", None) or record.name
        done, total = int(step[1]), int(step[2])
        last = self._last_step_shown.get(run)
        if done in (0, total) or last is None or record.created - last >= PROGRESS_INTERVAL_S:
            self._last_step_shown[run] = record.created
            return True
        return False


def _prefect_internal(name: str) -> bool:
    """Prefect's own loggers (temporary server, clients, events), but not the run loggers it hands us."""
    return (name == "prefect" or name.startswith("prefect.")) and not name.startswith(
        ("prefect.flow_runs", "prefect.task_runs"))


_python_show_warning = warnings.showwarning


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    if file is not None or not issubclass(category, LOG_ONLY_WARNINGS) or filename.startswith(_OWN_CODE):
        _python_show_warning(message, category, filename, lineno, file, line)
        return
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        logger = get_run_logger()
    except MissingContextError:
        return  # outside a run there is no run log, and the console is not the place
    logger.warning("%s: %s (%s:%d)", category.__name__, message, filename, lineno, extra={_LOG_ONLY: True})


def quiet_console() -> None:
    """Attach the filters to the console handlers Prefect installed on the root logger, and send
    third-party warnings to the run's log."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.addFilter(_DropUserErrorTracebacks())
            handler.addFilter(_DropChatter())
    warnings.showwarning = _show_warning
