"""Decoding and main-text extraction of one page, with both built-in extractors."""

from __future__ import annotations

import gzip

import pytest

from tests.components.extract import slow_extractors
from webtext.components.crawl.decoding import TooLarge
from webtext.components.errors import ConfigError
from webtext.components.extract.html import Extracted, decode_body, extract, extractor_function

LIMIT = 1 << 20
PARAGRAPHS = [
    "The council met on Tuesday evening to discuss the new plan for the river district, where water "
    "levels rose sharply after the spring storm and several families had to leave their homes.",
    "Residents asked for an independent report on the flood defences before any building work begins, "
    "and the mayor promised that the findings would be published in full before the summer.",
    "Engineers from the regional water authority said the existing embankment was built in the 1950s "
    "and had never been designed for the volume of rain that fell over those three days.",
]


def article(canonical: str = "/news/river-plan", base: str = "") -> str:
    body = "\n".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    base_tag = f'<base href="{base}">' if base else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>\n  River plan   approved\n</title>{base_tag}"
        f'<link rel="stylesheet" href="/s.css"><link rel="Canonical" href="{canonical}"></head><body>'
        '<nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li></ul></nav>'
        f"<article><h1>River plan approved</h1>{body}</article>"
        "<footer><p>Copyright 2024 The Example Gazette. All rights reserved.</p></footer>"
        "</body></html>"
    )


NAV_ONLY = (
    "<html><head><title>Site map</title></head><body><header><a href='/'>Example</a></header>"
    "<nav><ul>" + "".join(f"<li><a href='/section/{i}'>Section {i}</a></li>" for i in range(30))
    + "</ul></nav><footer><a href='/about'>About</a> | <a href='/privacy'>Privacy</a></footer></body></html>"
)


def test_charset_argument_wins_over_the_page_meta():
    html = "<html><head><meta charset='iso-8859-1'></head><body><p>café</p></body></html>"
    body = html.encode("utf-8")  # the meta lies; the crawl recorded the header's utf-8
    headers = [("Content-Type", "text/html")]
    assert "café" in decode_body(body, headers, "utf-8", LIMIT)
    assert "cafÃ©" in decode_body(body, headers, None, LIMIT)  # detected: the meta's Latin-1


def test_latin1_detected_from_meta():
    body = "<html><head><meta charset='iso-8859-1'></head><body><p>café</p></body></html>".encode("latin-1")
    assert "café" in decode_body(body, [("Content-Type", "text/html")], None, LIMIT)


def test_content_type_header_charset_is_used_when_none_recorded():
    headers = [("content-type", "text/html; charset=ISO-8859-1")]
    assert decode_body("<p>café</p>".encode("latin-1"), headers, None, LIMIT) == "<p>café</p>"


def test_gzip_content_encoding_is_undone_and_bounded():
    html = article()
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip")]
    assert decode_body(gzip.compress(html.encode()), headers, None, LIMIT) == html
    with pytest.raises(TooLarge):
        decode_body(gzip.compress(b"x" * 5000), headers, "utf-8", 4096)


def test_ascii_from_a_prefix_is_read_as_utf8():
    body = b"<html><body><p>" + b"a" * 70_000 + "</p><p>café</p></body></html>".encode()
    assert "café" in decode_body(body, [("Content-Type", "text/html")], "ascii", LIMIT)
    assert "café" in decode_body(body, [("Content-Type", "text/html")], None, LIMIT)


@pytest.mark.parametrize("extractor", ["trafilatura", "resiliparse"])
def test_article_text_title_and_canonical(extractor):
    found = extract(article(), "http://example.com/a/story?utm_source=x", extractor)
    for paragraph in PARAGRAPHS:
        assert paragraph in found.text
    assert "Home" not in found.text and "Copyright" not in found.text
    assert found.text == found.text.strip()
    assert found.title == "River plan approved"
    assert found.canonical_url == "http://example.com/news/river-plan"


@pytest.mark.parametrize("extractor", ["trafilatura", "resiliparse"])
def test_canonical_resolved_against_base_and_rejected_unless_http(extractor):
    url = "https://example.com/2024/05/story.html"
    assert extract(article("next.html", base="/amp/"), url, extractor).canonical_url == (
        "https://example.com/amp/next.html"
    )
    assert extract(article("//cdn.example.org/x"), url, extractor).canonical_url == "https://cdn.example.org/x"
    assert extract(article("javascript:void(0)"), url, extractor).canonical_url is None
    no_link = article().replace('rel="Canonical"', 'rel="alternate"')
    assert extract(no_link, url, extractor).canonical_url is None


def test_navigation_only_page_has_no_text():
    found = extract(NAV_ONLY, "http://example.com/", "trafilatura")
    assert found == Extracted("", "Site map", None)


@pytest.mark.parametrize("extractor", ["trafilatura", "resiliparse"])
def test_empty_and_non_html_input(extractor):
    assert extract("", "http://example.com/", extractor).text == ""
    assert extract("   ", "http://example.com/", extractor).text == ""


def test_custom_extractor_by_module_path():
    assert extractor_function(slow_extractors.PATH) is slow_extractors.extract
    assert extract("<p>hi</p>", "http://x.test/", slow_extractors.PATH).text == "<p>hi</p>"
    for bad in ("boilerpipe", "tests.components.extract.slow_extractors:nothing", "no_such_module:f"):
        with pytest.raises(ConfigError, match="extractor"):
            extractor_function(bad)
