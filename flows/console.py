"""Console logging: errors a user can act on print as one line; bugs keep their traceback.

The traceback of a WebtextError (a bad dump, a busy warehouse) helps nobody at the terminal, and
the CLI prints the error itself as its last line. The Prefect UI still receives the full record,
since Prefect's API handler sees each record before the console handler does.
"""

from __future__ import annotations

import logging

from components.errors import WebtextError


class _DropUserErrorTracebacks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], WebtextError):
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_user_error_tracebacks() -> None:
    """Attach the filter to the console handlers Prefect installed on the root logger."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.addFilter(_DropUserErrorTracebacks())
