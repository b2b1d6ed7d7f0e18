"""The sample dump: Pushshift-shaped lines, one per page, and every case the source must handle."""

import json
from collections import Counter

import pytest
import zstandard

from webtext.components.config import SampleConfig
from webtext.components.sample import EXPECTED, build_sample, build_site
from webtext.components.sample.dump import dump_lines

REASONS = {"self_post", "no_url", "low_score", "no_score", "over_18", "malformed"}
FILTERS = {"blocked_domain", "blocked_extension", "unsupported_scheme", "invalid_url"}
FIELDS = {"id", "score", "is_self", "over_18", "subreddit", "created_utc", "title", "permalink",
          "selftext", "domain", "author", "num_comments", "subreddit_id"}
CASES = ("score_at_threshold", "created_utc_string", "duplicate_id", "url_variant", "low_score",
         "no_score", "self_post", "over_18", "no_url", "null_url", "blocked_domain",
         "blocked_extension", "unsupported_scheme", "invalid_url", "malformed")


@pytest.fixture(scope="module")
def site():
    return build_site(SampleConfig(articles=8, slow_pages=False))


@pytest.fixture(scope="module")
def lines(site):
    return dump_lines(site)


@pytest.fixture(scope="module")
def records(site, tmp_path_factory):
    """The dump file's lines as dicts, None where a line is not a JSON object."""
    built = build_sample(tmp_path_factory.mktemp("sample"), site.config)
    text = zstandard.ZstdDecompressor().decompress(built.dump.read_bytes())
    assert text.endswith(b"\n")
    out = []
    for raw in text[:-1].split(b"\n"):
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        out.append(record if isinstance(record, dict) else None)
    return out


def test_only_the_planted_lines_are_malformed(lines, records):
    assert len(records) == len(lines)
    malformed = [line.case == "malformed" for line in lines]
    assert [r is None for r in records] == malformed
    assert 2 <= sum(malformed) <= 0.1 * len(lines)
    assert records[0] is not None


def test_records_have_pushshift_fields(records):
    for record in filter(None, records):
        assert FIELDS <= set(record), record
        assert record["permalink"].startswith(f"/r/{record['subreddit']}/comments/{record['id']}/")


def test_every_page_has_a_selectable_submission(site, records):
    for page in site.pages:
        assert any(r.get("url") == page.url and (r["score"] or 0) >= 3 and not r["over_18"]
                   and not r["is_self"] for r in filter(None, records)), page.url


def test_expected_fates_use_the_source_stage_names(site, lines):
    kinds = {p.url: p.kind for p in site.pages}
    for line in lines:
        fate, _, reason = line.expected_source.partition(":")
        if fate == "pending":
            assert reason == ""
        else:
            assert reason in (REASONS if fate == "not_selected" else FILTERS), line
        if line.page:
            assert line.expected_source == EXPECTED[kinds[line.page]].source
    assert REASONS | FILTERS <= {line.expected_source.partition(":")[2] for line in lines}


def test_dump_cases(lines, records):
    cases = Counter(line.case for line in lines)
    assert all(cases[case] for case in CASES), cases
    by_case: dict[str, list] = {}
    for line, record in zip(lines, records):
        by_case.setdefault(line.case, []).append(record)
    assert [r["score"] for r in by_case["score_at_threshold"]] == [3]
    assert sorted(r["score"] for r in by_case["low_score"]) == [-4, 0, 2]
    assert by_case["no_score"][0]["score"] is None
    assert all(isinstance(r["created_utc"], str) for r in by_case["created_utc_string"])
    assert "url" not in by_case["no_url"][0] and by_case["null_url"][0]["url"] is None
    self_post = by_case["self_post"][0]
    assert self_post["is_self"] and self_post["url"].startswith("https://www.reddit.com/r/")
    assert by_case["over_18"][0]["over_18"] is True
    assert [n for n in Counter(r["id"] for r in records if r).values() if n > 1] == [2]


def test_url_variants_spell_one_page_differently(lines):
    variants = [line for line in lines if line.case == "url_variant"]
    assert len({v.page for v in variants}) == 1 and all(v.url != v.page for v in variants)
    spelled = " ".join(v.url for v in variants)
    assert all(s in spelled for s in ("HTTP://", ":80/", "#", "utm_source=", "fbclid=", "gclid="))
    schemes = {line.url.split(":", 1)[0] for line in lines if line.case == "unsupported_scheme"}
    assert schemes == {"mailto", "ftp"}
