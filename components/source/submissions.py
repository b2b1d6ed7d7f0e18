"""Parsing one dump line and selecting submissions the way WebText did.

Real dumps drift across years and scrapers: `score` may be null, `created_utc` a string, `url`
absent, ids numeric. Drift is absorbed here; only a line that is not a JSON object with an id
counts as malformed.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from components.config import SourceConfig

# Reasons a submission is not selected, in the order they are tested; the first one is recorded.
REJECTIONS = ("malformed", "self_post", "no_url", "no_score", "low_score", "over_18")


@dataclass(frozen=True, slots=True)
class Submission:
    id: str
    url: str
    score: int
    subreddit: str | None
    created_utc: int | None


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except ValueError:
            return None
    return None


def select(line: bytes, config: SourceConfig) -> Submission | str:
    """The selected submission on `line`, or the first rejection reason from REJECTIONS."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "malformed"
    if not isinstance(record, dict) or record.get("id") in (None, ""):
        return "malformed"
    if record.get("is_self") is True:
        return "self_post"
    url = record.get("url")
    if not isinstance(url, str) or not url.strip():
        return "no_url"
    score = _as_int(record.get("score"))
    if score is None:
        return "no_score"
    if score < config.min_score:
        return "low_score"
    if config.drop_over_18 and record.get("over_18") is True:
        return "over_18"
    subreddit = record.get("subreddit")
    return Submission(
        id=str(record["id"]),
        url=url,
        score=score,
        subreddit=subreddit if isinstance(subreddit, str) else None,
        created_utc=_as_int(record.get("created_utc")),
    )
