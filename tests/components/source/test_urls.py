import pytest
from hypothesis import given
from hypothesis import strategies as st

from webtext.components.config import load_config
from webtext.components.source.urls import BadUrl, UrlFilter, normalise


@pytest.mark.parametrize("raw, expected", [
    ("HTTP://Example.COM/Path", "http://example.com/Path"),
    ("http://example.com:80/a", "http://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("http://example.com:8080/a", "http://example.com:8080/a"),
    ("http://example.com/a#comments", "http://example.com/a"),
    ("http://example.com", "http://example.com/"),
    ("http://example.com./a", "http://example.com/a"),
    ("http://example.com/a?utm_source=rss&id=7&UTM_Medium=x&fbclid=1", "http://example.com/a?id=7"),
    ("http://example.com/a?utm_campaign=z", "http://example.com/a"),
    ("http://example.com/a?b=2&a=1", "http://example.com/a?b=2&a=1"),
    ("http://example.com/a?x=1&amp;y=2", "http://example.com/a?x=1&y=2"),
    ("  http://user:pw@example.com/a ", "http://example.com/a"),
    ("http://[2001:DB8::1]:8080/", "http://[2001:db8::1]:8080/"),
    # Only Reddit's `&amp;` is unescaped: `&region=` must not become `®ion=`.
    ("http://example.com/?a=1&region=us&copy=2", "http://example.com/?a=1&region=us&copy=2"),
    ("http://example.com/?id=5&amp;section=world", "http://example.com/?id=5&section=world"),
    # Dropping a tracking pair leaves every other byte of the query alone.
    ("http://example.com/?a=b%20c&utm_source=x", "http://example.com/?a=b%20c"),
    ("http://example.com/?x=%FF&fbclid=1&path=a/b", "http://example.com/?x=%FF&path=a/b"),
    ("http://example.com/?flag&utm_medium=1", "http://example.com/?flag"),
    ("http://bücher.example/x", "http://xn--bcher-kva.example/x"),
])
def test_normalise(raw, expected):
    assert normalise(raw).url == expected


@pytest.mark.parametrize("raw, reason", [
    ("mailto:someone@example.com", "unsupported_scheme"),
    ("ftp://example.com/file", "unsupported_scheme"),
    ("javascript:alert(1)", "unsupported_scheme"),
    ("example.com/a", "invalid_url"),
    ("http:///nohost", "invalid_url"),
    ("http://bad host.com/", "invalid_url"),
    ("http://example.com:99999/", "invalid_url"),
    ("http://example.com:\u0668\u0660/", "invalid_url"),  # Arabic-Indic digits are not a port
])
def test_unfetchable_urls_carry_a_reason(raw, reason):
    with pytest.raises(BadUrl) as caught:
        normalise(raw)
    assert caught.value.reason == reason


@given(st.sampled_from(["http", "HTTP", "https"]), st.from_regex(r"[a-z]{1,10}\.(com|org)", fullmatch=True),
       st.from_regex(r"(/[a-zA-Z0-9_-]{0,8}){0,3}", fullmatch=True))
def test_normalise_is_idempotent(scheme, host, path):
    once = normalise(f"{scheme}://{host.upper()}{path}#frag").url
    assert normalise(once).url == once


@given(st.lists(st.sampled_from(["a=1", "region=us", "sect=2", "copy", "utm_id=9", "q=%20"]),
                max_size=5))
def test_normalise_is_idempotent_on_queries(pairs):
    # (A URL whose real query holds a literal `&amp;` is the one exception: Reddit's escaping
    # cannot be told apart from it.)
    once = normalise("http://example.com/p?" + "&amp;".join(pairs)).url
    assert normalise(once).url == once


def _filter(*overrides):
    config = load_config(None, list(overrides))
    return UrlFilter(config.source, config.crawl)


@pytest.mark.parametrize("url, reason", [
    ("https://i.imgur.com/abc", "blocked_domain"),
    ("https://www.youtube.com/watch?v=1", "blocked_domain"),
    ("https://en.wikipedia.org/wiki/Python", "blocked_domain"),
    ("https://www.reddit.com/r/python", "blocked_domain"),
    ("http://example.com/photo.JPG", "blocked_extension"),
    ("http://example.com/paper.pdf", "blocked_extension"),
    ("http://notimgur.com/story", None),
    ("http://example.com/story.html", None),
    ("http://example.com/", None),
])
def test_url_filter(url, reason):
    assert _filter().reason(normalise(url)) == reason


def test_hosts_the_crawl_config_names_pass_the_filter():
    url = normalise("https://en.wikipedia.org/wiki/Python")
    assert _filter("crawl.resolve={en.wikipedia.org: '127.0.0.1:8000'}").reason(url) is None
    assert _filter("crawl.allow=['en.wikipedia.org:443']").reason(url) is None
    assert _filter("crawl.allow=['127.0.0.0/8']").reason(url) == "blocked_domain"
    photo = normalise("https://en.wikipedia.org/photo.jpg")
    assert _filter("crawl.resolve={en.wikipedia.org: '127.0.0.1:8000'}").reason(photo) == "blocked_extension"


def test_blocklist_is_configurable():
    url = normalise("http://news.example.com/a")
    assert _filter("source.blocked_domains=[example.com]").reason(url) == "blocked_domain"
    page = normalise("http://x.com/a.HTML")
    assert _filter("source.blocked_extensions=[html]").reason(page) == "blocked_extension"
