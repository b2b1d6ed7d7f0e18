"""Exceptions that name the input at fault, so the CLI can print one line and exit non-zero."""


class WebtextError(Exception):
    """An error a user can act on; its message is printed as is, without a traceback."""


class ConfigError(WebtextError):
    """A config key is unknown or its value is invalid; raised before any work starts."""


class InputError(WebtextError):
    """An input file (a dump, a WARC, a snapshot) is missing, unreadable or malformed."""


class StageError(WebtextError):
    """A stage's own work failed (a training process exited with an error); the message says where."""
