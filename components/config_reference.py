"""The configuration reference, written from the typed schema itself.

`docs/config.md` is this module's output (`webtext config --markdown`), so the reference can never
drift from the pydantic models that validate a run: every key, its type, its default and its
description come from the model fields. Models reached through a list or a mapping (a fine-tuning
task, a promotion gate, a schedule) get a section of their own after the stage sections.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import annotated_types
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from webtext.components.config import WebtextConfig

HEADER = """\
# Configuration reference

<!-- Generated from the typed schema by `webtext config --markdown > docs/config.md` (`make docs`);
     edit the field descriptions in webtext.components.config, not this file. -->

Every run reads one YAML file of sections (`--config PATH`, or a bundled preset by name:
`--config sample`, the default, or `--config tiny`), then applies `--set dotted.key=value` overrides
(YAML values, repeatable: `--set crawl.concurrency=64 --set source.dumps='[a.zst, b.zst]'`). A key
left out takes the default below. An unknown key or a bad value stops the command before any work,
with one line naming the key, and exit code 2. `webtext config show [--config ...] [--set ...]`
prints the resolved configuration a run would use.
"""

# Ranges and patterns pydantic keeps as field metadata, written as a reader would.
_CONSTRAINTS = {annotated_types.Ge: (">=", "ge"), annotated_types.Gt: (">", "gt"),
                annotated_types.Le: ("<=", "le"), annotated_types.Lt: ("<", "lt")}


@dataclass(frozen=True)
class Part:
    """One model of the schema and the key path it sits at (`extract.filters`, `finetune.tasks[]`)."""

    path: str
    model: type[BaseModel]


def markdown(root: type[BaseModel] = WebtextConfig) -> str:
    """The whole schema under `root` as one Markdown page: stage sections first, item types after."""
    top = [Part(name, model) for name, field in root.model_fields.items()
           if (model := _model_of(field.annotation)) is not None]
    items: list[Part] = []
    blocks = [HEADER, _contents(top)]
    for part in top:
        blocks += _section(part, "##", items)
    if items:
        blocks.append("## List and mapping items\n\nThe values of keys that hold a list or a mapping of "
                     "settings: each item is written as a mapping of these keys.\n")
        done: set[type[BaseModel]] = set()
        while items:
            part = items.pop(0)
            if part.model not in done:
                done.add(part.model)
                blocks += _section(part, "###", items)
    return "\n".join(blocks).rstrip() + "\n"


def _heading(part: Part) -> str:
    return f"`{part.path}` ({part.model.__name__})"


def _anchor(part: Part) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces made hyphens."""
    return re.sub(r"[^a-z0-9 _-]", "", _heading(part).lower()).replace(" ", "-")


def _contents(top: list[Part]) -> str:
    lines = [f"- [`{s.path}`](#{_anchor(s)}): {_summary(s.model)}" for s in top]
    return "The sections:\n\n" + "\n".join(lines) + "\n"


def _section(part: Part, level: str, items: list[Part]) -> Iterator[str]:
    """The heading, the model's docstring, a table of its keys, then its nested sections one level down.

    Models met inside a list or a mapping are appended to `items`, to be described after the stages.
    """
    yield f"{level} {_heading(part)}\n"
    yield f"{inspect.cleandoc(part.model.__doc__ or '')}\n"
    nested: list[Part] = []
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for name, field in part.model.model_fields.items():
        key = f"{part.path}.{name}"
        description = field.description or ""
        model = _model_of(field.annotation)
        if model is not None:
            nested.append(Part(key, model))
            kind, default = "section", f"[its keys](#{_anchor(nested[-1])})"
        else:
            kind, default = _type_name(field), _default(field)
        for item in (Part(path, item_model) for path, item_model in _items_of(key, field.annotation)):
            items.append(item)
            description += f" Each item: [`{item.path}`](#{_anchor(item)})."
        rows.append(f"| `{key}` | {_cell(kind)} | {_cell(default)} | {_cell(description)} |")
    yield "\n".join(rows) + "\n"
    for child in nested:
        yield from _section(child, level + "#", items)


def _summary(model: type[BaseModel]) -> str:
    return inspect.cleandoc(model.__doc__ or "").split("\n\n")[0].replace("\n", " ")


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds directly (a nested section), if it holds one."""
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _items_of(key: str, annotation: Any) -> Iterator[tuple[str, type[BaseModel]]]:
    """The models a field holds inside a list or a mapping, with the path an item sits at."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and args:
        if (model := _model_of(args[0])) is not None:
            yield f"{key}[]", model
        else:
            yield from _items_of(f"{key}[]", args[0])
    elif origin is dict and len(args) == 2:
        if (model := _model_of(args[1])) is not None:
            yield f"{key}.<key>", model
        else:
            yield from _items_of(f"{key}.<key>", args[1])


def _type_name(field: FieldInfo) -> str:
    name = _annotation_name(field.annotation)
    limits = [f"{symbol} {getattr(m, attribute)}" for m in field.metadata
              for symbol, attribute in [_CONSTRAINTS.get(type(m), ("", ""))] if symbol]
    limits += [f"matching `{m.pattern}`" for m in field.metadata if getattr(m, "pattern", None)]
    return f"`{name}`" + (f", {', '.join(limits)}" if limits else "")


def _annotation_name(annotation: Any) -> str:
    """`list[str]`, `int | None`, `"http" | "warc"`: a type as a YAML author needs to read it."""
    if annotation is type(None):
        return "None"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(json.dumps(arg) for arg in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_annotation_name(arg) for arg in args)
    if origin in (list, tuple, dict):
        inner = ", ".join(_annotation_name(arg) for arg in args)
        return f"{origin.__name__}[{inner}]"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    """The default as JSON (which YAML reads too); `required` when a key has none.

    A default computed from the machine running the command (the number of CPU cores) is written as
    what it means, so the reference reads the same on every machine.
    """
    if field.default_factory is not None:
        value = field.default_factory()
        if field.annotation is int and value == (os.cpu_count() or 1):
            return "all CPU cores"
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    return f"`{json.dumps(TypeAdapter(field.annotation).dump_python(value, mode='json'))}`"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
