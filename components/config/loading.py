"""Reading a YAML preset and `--set dotted.key=value` overrides into a validated `WebtextConfig`.

A bad key or value is a `ConfigError` naming the first one, found before any work starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from webtext.components.config.schema import WebtextConfig
from webtext.components.errors import ConfigError


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `dotted.key=yaml value` into its key path and its parsed value."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected dotted.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML ({exc.__class__.__name__})") from exc
    return key.strip().split("."), value


def _apply(data: dict, path: list[str], value: Any, origin: str) -> None:
    node: Any = data
    for depth, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            prefix = ".".join(path[: depth + 1])
            raise ConfigError(f"config key {prefix!r} is not a section ({origin})")
        node = child
    node[path[-1]] = value


def _describe(error: dict, data: dict) -> str:
    key = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown config key {key!r}"
    value = data
    for part in error["loc"]:
        value = value.get(part) if isinstance(value, dict) else None
    return f"config key {key!r}: bad value {value!r}: {error['msg']}"


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> WebtextConfig:
    """Read a YAML preset, apply `--set` overrides and validate, naming the first bad key."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or exc.__class__.__name__
            raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of sections")
        data = loaded or {}
    for text in overrides:
        keys, value = parse_override(text)
        _apply(data, keys, value, f"--set {text}")
    try:
        return WebtextConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0], data)) from None
