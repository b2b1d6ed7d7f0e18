"""Demonstrations and comparisons read from local JSONL (optionally gzipped) or Parquet files.

Demonstrations (supervised fine-tuning) become `Conversation`s, whose last turn is the assistant answer
to learn. A record may be
- `{"prompt", "response"}` (or `"completion"`, or `"chosen"`: the preferred answer of a comparison);
- `{"messages": [{"role", "content"}, ...]}`;
- HH's text form, `{"text": "\\n\\nHuman: ...\\n\\nAssistant: ..."}` or the `"chosen"` dialogue of an
  HH pair;
- an instruction: `{"instruction", "instances": [{"input", "output"}, ...]}` (Self-Instruct's seed
  tasks: one demonstration per instance) or `{"instruction", "input", "output"}` (Alpaca's); a
  non-empty input follows the instruction after a blank line.

Comparisons (reward modelling) become `Comparison`s: prompt turns and two or more answers, best first.
A record may be
- `{"prompt", "chosen", "rejected"}`;
- HH's pair of whole dialogues `{"chosen", "rejected"}`, split at their last "\\n\\nAssistant:" into the
  prompt they must share and the two answers;
- a ranking `{"prompt", "answers": [best, ..., worst]}`.
A prompt is a text (one user turn), HH text ending in "\\n\\nAssistant:", or a `messages` list.

Prompts (reinforcement learning) become `Prompt`s: the turns an answer is sampled after. A record may
be `{"prompt"}`, or any demonstration or comparison above, whose answers are then left out; its
optional `"require"` (a word or a list of words) is a rule the prompt set defines: a good answer names
every one of them (`Prompt.satisfied`), a judge that no model in the loop is trained on.

A record that cannot be read (bad JSON, a missing key, an empty answer, HH text without its turns, an
HH pair whose prompts differ) is skipped and named by file, line (a Parquet row's number) and why. A
file where more than `max_malformed` of the records are skipped is refused whole, with the first of
them named, so a wrong file stops a stage before any training.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from webtext.components.errors import InputError
from webtext.components.instruct.chat import ASSISTANT, HUMAN, Turn, check

SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")
SHOWN = 3  # skipped records named in the error that refuses a file


@dataclass(frozen=True)
class Conversation:
    turns: tuple[Turn, ...]  # ends with the assistant answer to learn
    where: str  # "file:line"


@dataclass(frozen=True)
class Comparison:
    prompt: tuple[Turn, ...]  # ends with a user turn
    answers: tuple[str, ...]  # two or more, best first
    where: str


@dataclass(frozen=True)
class Prompt:
    turns: tuple[Turn, ...]  # ends with a user turn
    require: tuple[str, ...]  # words a good answer names (none: no rule)
    where: str

    def satisfied(self, answer: str) -> bool:
        """Whether `answer` names every required word (whole words, any case)."""
        return all(re.search(rf"\b{re.escape(word)}\b", answer, re.IGNORECASE) for word in self.require)


@dataclass(frozen=True)
class Skipped:
    where: str
    why: str

    def __str__(self) -> str:
        return f"{self.where}: {self.why}"


R = TypeVar("R")


@dataclass(frozen=True)
class Records(Generic[R]):
    path: Path
    records: list[R]
    skipped: list[Skipped]


class Malformed(ValueError):
    """Why one record cannot be read."""


def read_demonstrations(path: Path, *, max_malformed: float = 0.5) -> Records[Conversation]:
    """The file's demonstrations and the records skipped; InputError when more than `max_malformed` of
    its records are malformed, or it cannot be read."""
    return _read(Path(path), _demonstrations, max_malformed)


def read_comparisons(path: Path, *, max_malformed: float = 0.5) -> Records[Comparison]:
    """The file's comparisons and the records skipped; InputError as `read_demonstrations`."""
    return _read(Path(path), _comparisons, max_malformed)


def read_prompts(path: Path, *, max_malformed: float = 0.5) -> Records[Prompt]:
    """The file's prompts and the records skipped; InputError as `read_demonstrations`."""
    return _read(Path(path), _prompts, max_malformed)


def _read(path: Path, parse: Callable[[dict, str], list[R]], max_malformed: float) -> Records[R]:
    """Every record `parse` makes of the file's rows; the rows it cannot read skipped, and the file
    refused when more than `max_malformed` of its rows are."""
    records: list[R] = []
    skipped: list[Skipped] = []
    n_rows = 0
    for number, row in _rows(path):
        n_rows += 1
        where = f"{path}:{number}"
        try:
            if isinstance(row, Malformed):
                raise row
            if not isinstance(row, dict):
                raise Malformed(f"a JSON {type(row).__name__}, not an object")
            records += parse(row, where)
        except Malformed as exc:
            skipped.append(Skipped(where, str(exc)))
    if not n_rows:
        raise InputError(f"{path}: no records")
    if len(skipped) > max_malformed * n_rows:
        shown = "; ".join(str(s) for s in skipped[:SHOWN])
        raise InputError(f"{path}: {len(skipped)} of {n_rows} records are malformed (more than "
                         f"{max_malformed:.0%}), nothing read; first: {shown}")
    return Records(path, records, skipped)


def _rows(path: Path) -> Iterator[tuple[int, object]]:
    """(line or row number from 1, the decoded row, or a `Malformed` for a line that is not JSON)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.name.endswith(".parquet"):
        yield from _parquet_rows(path)
    elif path.name.endswith((".jsonl", ".jsonl.gz")):
        yield from _jsonl_rows(path)
    else:
        raise InputError(f"{path}: not one of {', '.join(SUFFIXES)}")


def _jsonl_rows(path: Path) -> Iterator[tuple[int, object]]:
    """Blank lines are not records; a gzip file that is cut short or corrupt is an error naming it."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            for number, line in enumerate(fh, 1):
                if line.strip():
                    yield number, _json(line)
    except (OSError, EOFError) as exc:
        raise InputError(f"{path} cannot be read: {exc}") from exc


def _json(line: bytes) -> object:
    try:
        return json.loads(line)
    except UnicodeDecodeError:
        return Malformed("not UTF-8")
    except ValueError as exc:
        return Malformed(f"not JSON ({exc})")


def _parquet_rows(path: Path) -> Iterator[tuple[int, object]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(path).iter_batches()
        number = 0
        for batch in batches:
            for row in batch.to_pylist():
                number += 1
                yield number, row
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path} cannot be read as Parquet: {exc}") from exc


def _text(row: dict, key: str) -> str:
    if key not in row:
        raise Malformed(f"no {key!r} (keys: {', '.join(map(str, row)) or 'none'})")
    if not isinstance(row[key], str):
        raise Malformed(f"{key!r} is {type(row[key]).__name__}, not text")
    return row[key]


def _filled(row: dict, key: str) -> str:
    text = _text(row, key)
    if not text.strip():
        raise Malformed(f"{key!r} is empty")
    return text


def parse_hh(text: str) -> list[Turn]:
    """HH's text form as turns: "\\n\\nHuman:" opens a user turn and "\\n\\nAssistant:" an assistant
    turn, whose text is what follows less one space; text before the first marker is a system turn.
    The inverse of `chat.render` (without its `<|endoftext|>`s)."""
    lead, *rest = _MARKER.split(text)
    turns = [Turn("system", lead)] if lead else []
    for marker, content in zip(rest[::2], rest[1::2]):
        turns.append(Turn("user" if marker == HUMAN else "assistant", content.removeprefix(" ")))
    return turns


_MARKER = re.compile(f"({re.escape(HUMAN)}|{re.escape(ASSISTANT)})")


def _messages(value: object, key: str) -> list[Turn]:
    if not isinstance(value, list) or not all(isinstance(m, dict) and {"role", "content"} <= m.keys()
                                              for m in value):
        raise Malformed(f"{key!r} is not a list of {{role, content}} objects")
    return [Turn(m["role"], m["content"]) for m in value]


def _prompted(row: dict, answers: list[str]) -> tuple[list[Turn], list[str]]:
    """The turns of the row's `prompt` and the `answers` to it. A prompt is a `messages` list, a text
    (one user turn), or HH text ending in "\\n\\nAssistant:", whose answers then carry the space after
    that colon, which is taken off as `parse_hh` does."""
    if isinstance(row.get("prompt"), list):
        return _messages(row["prompt"], "prompt"), answers
    text = _filled(row, "prompt")
    if not text.startswith(HUMAN):
        return [Turn("user", text)], answers
    if not text.endswith(ASSISTANT):
        raise Malformed('the HH prompt does not end with "\\n\\nAssistant:"')
    return parse_hh(text.removesuffix(ASSISTANT)), [a.removeprefix(" ") for a in answers]


def _conversation(turns: list[Turn]) -> tuple[Turn, ...]:
    """`turns` checked to be a demonstration: a user turn, and an assistant answer last."""
    try:
        check(turns)
    except ValueError as exc:
        raise Malformed(str(exc)) from None
    if not any(t.role == "user" for t in turns):
        raise Malformed("no user (Human) turn")
    if turns[-1].role != "assistant":
        raise Malformed("the last turn is not an assistant answer")
    if not turns[-1].content.strip():
        raise Malformed("the answer is empty")
    return tuple(turns)


def _instruction(instruction: object, instance: dict) -> str:
    """An instruction and its instance's input, a blank line apart (the instruction alone when the
    input is empty)."""
    text = _filled({"instruction": instruction}, "instruction")
    given = instance.get("input") or ""
    if not isinstance(given, str):
        raise Malformed(f"'input' is {type(given).__name__}, not text")
    return f"{text}\n\n{given}" if given.strip() else text


def _instructed(row: dict) -> list[list[Turn]]:
    """Self-Instruct's `instances` (one dialogue each) or Alpaca's one `input` and `output`."""
    instances = row.get("instances", [row])
    if not isinstance(instances, list) or not instances or not all(isinstance(i, dict) for i in instances):
        raise Malformed("'instances' is not a non-empty list of objects")
    return [[Turn("user", _instruction(row["instruction"], i)), Turn("assistant", _filled(i, "output"))]
            for i in instances]


def _demonstrations(row: dict, where: str) -> list[Conversation]:
    if "messages" in row:
        dialogues = [_messages(row["messages"], "messages")]
    elif "instruction" in row:
        dialogues = _instructed(row)
    elif "prompt" in row:
        key = next((k for k in ("response", "completion", "chosen") if k in row), "response")
        prompt, (answer,) = _prompted(row, [_filled(row, key)])
        dialogues = [[*prompt, Turn("assistant", answer)]]
    elif "text" in row or "chosen" in row:
        dialogues = [parse_hh(_text(row, "text" if "text" in row else "chosen"))]
    else:
        raise Malformed(f"not a demonstration (keys: {', '.join(map(str, row)) or 'none'})")
    return [Conversation(_conversation(turns), where) for turns in dialogues]


def _comparisons(row: dict, where: str) -> list[Comparison]:
    if "answers" in row:
        answers = row["answers"]
        if not isinstance(answers, list) or len(answers) < 2 or not all(isinstance(a, str) for a in answers):
            raise Malformed("'answers' is not a list of two or more texts")
        prompt, answers = _prompted(row, answers)
    elif "prompt" in row:
        prompt, answers = _prompted(row, [_filled(row, "chosen"), _filled(row, "rejected")])
    else:
        prompt, answers = _hh_pair(_filled(row, "chosen"), _filled(row, "rejected"))
    return [_comparison(prompt, answers, where)]


def _prompts(row: dict, where: str) -> list[Prompt]:
    if {"rejected", "answers"} & row.keys():
        turns = _comparisons(row, where)[0].prompt
    elif "prompt" in row and not {"response", "completion", "chosen"} & row.keys():
        turns = _prompted(row, [])[0]
    elif "messages" in row and (messages := _messages(row["messages"], "messages")) \
            and messages[-1].role == "user":
        turns = messages
    else:
        turns = _demonstrations(row, where)[0].turns[:-1]
    try:
        check(list(turns))
    except ValueError as exc:
        raise Malformed(str(exc)) from None
    if not turns or turns[-1].role != "user":
        raise Malformed("the prompt does not end with a user (Human) turn")
    require = row.get("require", [])
    require = [require] if isinstance(require, str) else require
    if not isinstance(require, list) or not all(isinstance(w, str) and w.strip() for w in require):
        raise Malformed("'require' is not a word or a list of words")
    return [Prompt(tuple(turns), tuple(w.strip() for w in require), where)]


def _hh_pair(chosen: str, rejected: str) -> tuple[list[Turn], list[str]]:
    """Two whole HH dialogues cut at their last "\\n\\nAssistant:": the prompt they must share, and
    their last answers."""
    prompt, found, best = chosen.rpartition(ASSISTANT)
    other, found_too, worse = rejected.rpartition(ASSISTANT)
    if not (found and found_too):
        raise Malformed('a dialogue has no "\\n\\nAssistant:" turn')
    if prompt != other:
        raise Malformed("chosen and rejected differ before their last answer")
    return parse_hh(prompt), [best.removeprefix(" "), worse.removeprefix(" ")]


def _comparison(prompt: list[Turn], answers: list[str], where: str) -> Comparison:
    """Checked to be a comparison: a prompt ending in a user turn, and distinct non-empty answers."""
    turns = _conversation([*prompt, Turn("assistant", answers[0])])[:-1]
    if turns[-1].role != "user":
        raise Malformed("the prompt does not end with a user (Human) turn")
    if not all(a.strip() for a in answers):
        raise Malformed("an answer is empty")
    if len(set(answers)) < len(answers):
        raise Malformed("the same answer is ranked twice")
    return Comparison(turns, tuple(answers), where)
