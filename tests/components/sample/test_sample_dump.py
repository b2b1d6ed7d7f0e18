"""The sample dump: Pushshift-shaped lines, one per page, plus every case the source stage must handle."""

import json
from collections import Counter

import pytest
import zstandard

from components.config import SampleConfig
from components.sample import EXPECTED, build_sample, build_site
from components.sample.dump import dump_lines

REASONS = {"self_post", "no_url", "low_score", "no_score", "over_18", "malformed"}
FILTERS = {"blocked_domain", "blocked_extension", "unsupported_scheme", "invalid_url"}


@pytest.fixture(scope="module")
def site():
    return build_site(SampleConfig(articles=8, slow_pages=False))


@pytest.fixture(scope="module")
def decoded(site, tmp_path_factory):
    built = build_sample(tmp_path_factory.mktemp("sample"), site.config)
    text = zstandard.ZstdDecompressor().decompress(built.dump.read_bytes())
    assert text.endswith(b"\n")
    records = []
    for raw in text[:-1].split(b"\n"):
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        records.append(record if isinstance(record, dict) else None)
    return records


def test_file_matches_the_lines_and_only_planted_lines_are_malformed(site, decoded):
    lines = dump_lines(site)
    assert len(decoded) == len(lines)
    malformed = [line.case == "malformed" for line in lines]
    assert [r is None for r in decoded] == malformed
    assert 2 <= sum(malformed) <= 0.1 * len(lines)
    assert decoded[0] is not None


def test_records_have_pushshift_fields(decoded):
    fields = {
        "id",
        "url",
        "score",
        "is_self",
        "over_18",
        "subreddit",
        "created_utc",
        "title",
        "permalink",
        "selftext",
        "domain",
        "author",
        "num_comments",
        "subreddit_id",
    }
    for record in filter(None, decoded):
        assert fields - {"url"} <= set(record), record
        assert record["permalink"].startswith(f"/r/{record['subreddit']}/comments/{record['id']}/")


def test_every_page_has_a_selectable_submission(site, decoded):
    for page in site.pages:
        matches = [r for r in decoded if r and r.get("url") == page.url]
        assert any(
            r["score"] is not None and r["score"] >= 3 and not r["over_18"] and not r["is_self"]
            for r in matches
        ), page.url


def test_expected_fates_use_the_source_stage_names(site):
    for line in dump_lines(site):
        fate, _, reason = line.expected_source.partition(":")
        assert (fate, reason in REASONS | FILTERS) in {
            ("pending", False),
            ("not_selected", True),
            ("filtered", True),
        }
        if line.page:
            assert line.expected_source == EXPECTED[site.page(*_host_path(line.page)).kind].source
    reasons = {line.expected_source.partition(":")[2] for line in dump_lines(site)}
    assert REASONS | FILTERS <= reasons


def _host_path(url):
    rest = url.split("://", 1)[1]
    host, _, path = rest.partition("/")
    return host, "/" + path


def test_dump_cases(site, decoded):
    lines = dump_lines(site)
    cases = Counter(line.case for line in lines)
    for case in (
        "score_at_threshold",
        "created_utc_string",
        "duplicate_id",
        "url_variant",
        "low_score",
        "no_score",
        "self_post",
        "over_18",
        "no_url",
        "null_url",
        "blocked_domain",
        "blocked_extension",
        "unsupported_scheme",
        "invalid_url",
        "malformed",
    ):
        assert cases[case] >= 1, case
    by_case = {}
    for line, record in zip(lines, decoded):
        by_case.setdefault(line.case, []).append(record)
    assert [r["score"] for r in by_case["score_at_threshold"]] == [3]
    assert sorted(r["score"] for r in by_case["low_score"]) == [-4, 0, 2]
    assert by_case["no_score"][0]["score"] is None
    assert all(isinstance(r["created_utc"], str) for r in by_case["created_utc_string"])
    assert "url" not in by_case["no_url"][0] and by_case["null_url"][0]["url"] is None
    self_post = by_case["self_post"][0]
    assert self_post["is_self"] and self_post["url"].startswith("https://www.reddit.com/r/")
    assert by_case["over_18"][0]["over_18"] is True
    ids = Counter(r["id"] for r in decoded if r)
    assert [n for n in ids.values() if n > 1] == [2]
    variants = [line for line in lines if line.case == "url_variant"]
    assert len({v.page for v in variants}) == 1 and all(v.url != v.page for v in variants)
    spelled = " ".join(v.url for v in variants)
    assert all(s in spelled for s in (":80/", "#", "utm_source=", "fbclid=", "gclid=", "HTTP://"))
    schemes = {line.url.split(":", 1)[0] for line in lines if line.case == "unsupported_scheme"}
    assert schemes == {"mailto", "ftp"}
