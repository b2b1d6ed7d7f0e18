"""GPT-1's input transformations (Radford et al. 2018, section 3.3 and figure 1): every task becomes
one or more token sequences framed by the marker tokens the tokenizer was trained with, and the head
reads the transformer's state at the final `extract` token.

- classification:  start text extract
- entailment:      start premise delim hypothesis extract
- similarity:      start a delim b extract  and  start b delim a extract (two sequences; the two final
                   states are added before the head, so the order of a and b does not matter)
- multiple choice: start context delim answer_k extract, one sequence per choice

Sequences longer than the context are cut from the end of their longest segment, one token at a
time, so both sides of a pair keep as much as the context allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TaskType = Literal["classification", "entailment", "similarity", "multiple_choice"]
TASK_TYPES: tuple[str, ...] = ("classification", "entailment", "similarity", "multiple_choice")


@dataclass(frozen=True)
class Markers:
    """The ids of the marker tokens (`components.tokenize.bpe`: start 1, delimiter 2, extract 3)."""

    start: int = 1
    delimiter: int = 2
    extract: int = 3


def _fit(segments: list[list[int]], room: int) -> list[list[int]]:
    """The segments cut, longest first from its end, until their lengths sum to at most `room`."""
    segments = [list(s) for s in segments]
    while sum(map(len, segments)) > room:
        max(segments, key=len).pop()
    return segments


def frame(segments: list[list[int]], markers: Markers, max_length: int) -> list[int]:
    """start seg_1 delim seg_2 ... extract, at most `max_length` tokens."""
    room = max_length - len(segments) - 1  # start, extract and a delimiter between segments
    if room < len(segments):
        raise ValueError(f"a context of {max_length} tokens cannot hold {len(segments)} segments")
    parts = _fit(segments, room)
    out = [markers.start]
    for i, part in enumerate(parts):
        out += ([markers.delimiter] if i else []) + part
    return out + [markers.extract]


def transform(task: TaskType, fields: list[list[int]], markers: Markers, max_length: int) -> list[list[int]]:
    """The sequences one example becomes. `fields` are the encoded columns: [text] for classification,
    [premise, hypothesis] for entailment, [a, b] for similarity, [context, answer_1, ...] for multiple
    choice."""
    if task == "classification":
        return [frame(fields[:1], markers, max_length)]
    if task == "entailment":
        return [frame(fields[:2], markers, max_length)]
    if task == "similarity":
        a, b = fields[:2]
        return [frame([a, b], markers, max_length), frame([b, a], markers, max_length)]
    if task == "multiple_choice":
        context, *answers = fields
        return [frame([context, answer], markers, max_length) for answer in answers]
    raise ValueError(f"unknown task type {task!r}; types: {', '.join(TASK_TYPES)}")
