"""Parsing one dump line and selecting submissions the way WebText did.

Real dumps drift across years and scrapers: `score` may be null, `created_utc` a string, `url`
absent, ids numeric. Drift is absorbed here; only a line that is not a JSON object with an id
counts as malformed.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from webtext.components.config import SourceConfig

# Reasons a submission is not selected, in the order they are tested; the first one is recorded.
REJECTIONS = ("malformed", "self_post", "no_url", "no_score", "low_score", "over_18")


@dataclass(frozen=True, slots=True)
class Submission:
    id: str
    url: str
    score: int
    subreddit: str | None
    created_utc: int | None


# Column ranges in the warehouse: a value outside them is drift, not data.
_SCORE_RANGE = range(-(2**31), 2**31)
_TIME_RANGE = range(0, 2**40)


def _as_int(value: object, valid: range) -> int | None:
    """`value` as an int within `valid`, from an int, a float or a numeric string; else None."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, float):
            number = int(value)
        elif isinstance(value, str):
            number = int(float(value.strip()))
        elif isinstance(value, int):
            number = value
        else:
            return None
    except (ValueError, OverflowError):  # "abc", "inf", "1e400"
        return None
    return number if number in valid else None


def select(line: bytes, config: SourceConfig) -> Submission | str:
    """The selected submission on `line`, or the first rejection reason from REJECTIONS.

    This runs once per line of every dump, so the common shapes (int score, str url) take the
    shortest path and drift goes through `_as_int`.
    """
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "malformed"
    if record.__class__ is not dict:
        return "malformed"
    get = record.get
    id_ = get("id")
    if id_ is None or id_ == "":
        return "malformed"
    if get("is_self") is True:
        return "self_post"
    url = get("url")
    if url.__class__ is not str or not url or url.isspace():
        return "no_url"
    score = get("score")
    if score.__class__ is not int or score not in _SCORE_RANGE:
        score = _as_int(score, _SCORE_RANGE)
        if score is None:
            return "no_score"
    if score < config.min_score:
        return "low_score"
    if config.drop_over_18 and get("over_18") is True:
        return "over_18"
    subreddit = get("subreddit")
    created = get("created_utc")
    return Submission(
        id=id_ if id_.__class__ is str else str(id_),
        url=url,
        score=score,
        subreddit=subreddit if subreddit.__class__ is str else None,
        created_utc=created if created.__class__ is int and created in _TIME_RANGE
        else _as_int(created, _TIME_RANGE),
    )
