"""The sample web: every kind is there, pages look like the web, expectations follow the kinds."""

from collections import Counter

import pytest

from webtext.components.config import SampleConfig
from webtext.components.errors import ConfigError
from webtext.components.sample import EXPECTED, KINDS, SAMPLE_HOSTS, build_site, prose
from webtext.components.sample.pages import OVERSIZED_BYTES, SHORT_PARAGRAPH
from webtext.components.sample.prose import handwritten
from webtext.components.sample.site import DISALLOWED_PREFIX, Stream

TINY = SampleConfig(articles=8, slow_pages=False)
OK = ("pending", "ok")
SPEC = {  # the kind table, restated: kind -> (source, crawl)
    "article": OK, "exact_duplicate": OK, "near_duplicate": OK, "boilerplate_only": OK,
    "very_short": OK, "repetitive_spam": OK, "non_english": OK,
    "wikipedia": OK, "wikipedia_canonical": OK,
    "robots_disallowed": ("pending", "robots"), "not_found": ("pending", "http_error"),
    "server_error": ("pending", "http_error"), "slow": ("pending", "timeout"), "redirect": OK,
    "redirect_loop": ("pending", "redirect_limit"), "oversized": ("pending", "too_large"),
    "non_html": ("pending", "not_html"), "latin1": OK, "gzip": OK,
}


@pytest.fixture(scope="module")
def site():
    return build_site(SampleConfig(articles=8, slow_pages=True))


def by_kind(site, kind):
    return [p for p in site.pages if p.kind == kind]


def test_expectations_follow_the_kind_table():
    assert {k: (e.source, e.crawl) for k, e in EXPECTED.items()} == SPEC


def test_every_kind_is_present_and_articles_count_as_configured(site):
    counts = Counter(p.kind for p in site.pages)
    assert set(counts) == set(KINDS)
    assert counts["article"] == 8
    assert "slow" not in {p.kind for p in build_site(TINY).pages}


def test_urls_are_unique_and_every_host_is_served(site):
    assert len({(p.host, p.path) for p in site.pages}) == len(site.pages)
    assert {p.host for p in site.pages} == set(SAMPLE_HOSTS)
    assert all(site.page(p.host, p.path) is p for p in site.pages)


def test_article_text_is_prose_of_article_length(site):
    for page in by_kind(site, "article"):
        paragraphs = page.text.split("\n\n")
        assert 300 <= len(page.text.split()) <= 1500, page.url
        ended = sum(p.endswith((".", "!", "?")) for p in paragraphs)
        assert ended >= 0.9 * len(paragraphs)
        assert ">>>" not in page.text and "\n " not in page.text


def test_article_pages_carry_furniture(site):
    for page in by_kind(site, "article"):
        html = page.body.decode()
        for marker in ('<meta charset="utf-8">', "<title>", f'rel="canonical" href="{page.url}"',
                       "<nav", "cookie-banner", "<footer", "&copy; 2019", 'class="related"',
                       'class="comments"'):
            assert marker in html, (page.url, marker)


def test_duplicates_point_at_their_original(site):
    exact, near = by_kind(site, "exact_duplicate")[0], by_kind(site, "near_duplicate")[0]
    original = next(p for p in site.pages if p.url == exact.duplicate_of)
    assert exact.text == original.text and exact.body != original.body
    assert exact.host != original.host
    edited = next(p for p in site.pages if p.url == near.duplicate_of)
    a, b = Counter(near.text.split()), Counter(edited.text.split())
    overlap = sum((a & b).values()) / max(sum(a.values()), sum(b.values()))
    assert 0.8 <= overlap < 0.97


def test_low_quality_pages(site):
    assert by_kind(site, "very_short")[0].text == SHORT_PARAGRAPH
    assert len(SHORT_PARAGRAPH.split()) == 20
    spam = by_kind(site, "repetitive_spam")[0].text.split("\n\n")
    assert len(spam) >= 100 and len(set(spam)) <= 3
    boilerplate = by_kind(site, "boilerplate_only")[0]
    assert boilerplate.text == "" and b"<article" not in boilerplate.body
    assert b"<nav" in boilerplate.body and b"cookie-banner" in boilerplate.body


def test_non_english_pages_are_german_french_spanish(site):
    pages = {p.lang: p for p in by_kind(site, "non_english")}
    assert set(pages) == {"de", "fr", "es"}
    for lang, words in (("de", (" und ", " die ")), ("fr", (" les ", " des ")),
                        ("es", (" los ", " las "))):
        assert all(w in pages[lang].text for w in words)
        assert pages[lang].text.split("\n\n") == list(handwritten()[lang])
        assert f'<html lang="{lang}">'.encode() in pages[lang].body


def test_wikipedia_and_its_mirror(site):
    wiki, mirror = by_kind(site, "wikipedia")[0], by_kind(site, "wikipedia_canonical")[0]
    assert wiki.url.startswith("http://en.wikipedia.org/wiki/")
    assert mirror.host.endswith(".sample.test") and mirror.text == wiki.text
    assert f'<link rel="canonical" href="{wiki.url}">'.encode() in mirror.body


def test_special_responses(site):
    assert by_kind(site, "robots_disallowed")[0].path.startswith(DISALLOWED_PREFIX)
    errors = by_kind(site, "not_found") + by_kind(site, "server_error")
    assert [p.status for p in errors] == [404, 500]
    non_html = by_kind(site, "non_html")[0]
    assert "." not in non_html.path and non_html.body.startswith(b"%PDF")
    oversized = by_kind(site, "oversized")[0].body
    assert isinstance(oversized, Stream) and oversized.length >= OVERSIZED_BYTES
    slow = by_kind(site, "slow")[0].body
    assert isinstance(slow, Stream) and slow.pause > 0 and len(slow.segments) >= 50
    assert b"".join(slow.pieces()).startswith(b"<!DOCTYPE html>")


def test_robots_txt_disallows_only_the_private_prefix(site):
    private_host = by_kind(site, "robots_disallowed")[0].host
    assert site.robots_txt(private_host) == f"User-agent: *\nDisallow: {DISALLOWED_PREFIX}\n"
    others = [h for h in SAMPLE_HOSTS if h != private_host]
    assert all(site.robots_txt(h) == "User-agent: *\nDisallow: \n" for h in others)


def test_too_many_articles_is_a_config_error(monkeypatch):
    monkeypatch.setattr(prose, "DOCSTRING_SOURCES", ())  # only the language reference: quick
    with pytest.raises(ConfigError, match=r"sample.articles=100000: .* at most \d+ articles"):
        build_site(SampleConfig(articles=100_000))
