import json

import pytest

from webtext.components.config import load_config
from webtext.components.source.submissions import Submission, select

CONFIG = load_config(None, []).source


def line(**fields) -> bytes:
    record = {"id": "abc", "url": "http://example.com/a", "score": 5, "is_self": False,
              "over_18": False, "subreddit": "news", "created_utc": 1120181161}
    record.update(fields)
    return json.dumps({k: v for k, v in record.items() if v is not ...}).encode()


@pytest.mark.parametrize("raw, reason", [
    (b"{not json", "malformed"),
    (b"[1, 2, 3]", "malformed"),
    (b'"a string"', "malformed"),
    (line(id=...), "malformed"),
    (line(is_self=True, score=100), "self_post"),
    (line(url=...), "no_url"),
    (line(url=None), "no_url"),
    (line(url=""), "no_url"),
    (line(score=None), "no_score"),
    (line(score="many"), "no_score"),
    (line(score="inf"), "no_score"),
    (line(score="1e400"), "no_score"),
    (line(score=2**31), "no_score"),
    (line(score=1e300), "no_score"),
    (line(score=2), "low_score"),
    (line(score=-7), "low_score"),
    (line(over_18=True), "over_18"),
])
def test_rejections(raw, reason):
    assert select(raw, CONFIG) == reason


def test_selected_submission_absorbs_drift():
    chosen = select(line(id=123, score="3", created_utc="1120181161.0"), CONFIG)
    assert chosen == Submission(id="123", url="http://example.com/a", score=3, subreddit="news",
                                created_utc=1120181161)


@pytest.mark.parametrize("created", ["1e30", -5, 2**62, "soon", None])
def test_impossible_timestamps_become_null(created):
    assert select(line(created_utc=created), CONFIG).created_utc is None


def test_threshold_and_nsfw_are_configurable():
    lenient = load_config(None, ["source.min_score=1", "source.drop_over_18=false"]).source
    assert isinstance(select(line(score=1, over_18=True), lenient), Submission)
    assert select(line(score=3), load_config(None, ["source.min_score=4"]).source) == "low_score"
