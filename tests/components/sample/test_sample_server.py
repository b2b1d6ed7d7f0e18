"""The loopback server over real sockets: the Host header picks the site, each kind answers."""

import gzip
import http.client
import threading
import time
from html import escape
from urllib.parse import urlsplit

import pytest

from webtext.components.config import SampleConfig
from webtext.components.sample import build_site, serve_sample
from webtext.components.sample.pages import OVERSIZED_BYTES
from webtext.components.sample.site import Stream


@pytest.fixture(scope="module")
def site():
    return build_site(SampleConfig(articles=5, slow_pages=True))


@pytest.fixture(scope="module")
def port(site):
    with serve_sample(site) as (host, bound):
        assert host == "127.0.0.1"
        yield bound


def request(port, url, method="GET", limit=None):
    """(status, headers, body) for `url`, connecting to loopback but naming the URL's host."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, parts.path or "/", headers={"Host": parts.hostname})
        response = conn.getresponse()
        body = response.read(limit) if limit else response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def page(site, kind):
    return next(p for p in site.pages if p.kind == kind)


def handler_threads():
    return [t for t in threading.enumerate() if "process_request" in t.name]


def test_pages_are_served_as_built(site, port):
    for p in site.pages:
        if isinstance(p.body, bytes):
            status, headers, body = request(port, p.url)
            assert (status, body) == (p.status, p.body), p.url
            assert headers["content-length"] == str(len(p.body))
            assert headers["content-type"] == dict(p.headers)["Content-Type"]


def test_unknown_host_and_path_are_404(site, port):
    assert request(port, "http://elsewhere.test/")[0] == 404
    assert request(port, "http://news.sample.test/no/such/page")[0] == 404
    known = page(site, "article")
    assert request(port, f"http://{known.host.upper()}{known.path}")[0] == 200


def test_robots_txt(site, port):
    private = page(site, "robots_disallowed")
    status, headers, body = request(port, f"http://{private.host}/robots.txt")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert b"User-agent: *\nDisallow: /private/\n" == body
    assert request(port, "http://blog.sample.test/robots.txt")[2] == b"User-agent: *\nDisallow: \n"


def test_error_statuses(site, port):
    assert request(port, page(site, "not_found").url)[0] == 404
    assert request(port, page(site, "server_error").url)[0] == 500


def test_redirects(site, port):
    status, headers, _ = request(port, page(site, "redirect").url)
    assert status == 301
    location = urlsplit(headers["location"])
    target = site.page(location.hostname, location.path)
    assert target is not None and target.kind == "article"
    first, second = [p for p in site.pages if p.kind == "redirect_loop"]
    assert request(port, first.url)[1]["location"] == second.url
    assert request(port, second.url)[1]["location"] == first.url


def test_gzip_decodes_to_the_article(site, port):
    p = page(site, "gzip")
    status, headers, body = request(port, p.url)
    assert status == 200 and headers["content-encoding"] == "gzip"
    html = gzip.decompress(body).decode()
    assert all(escape(paragraph) in html for paragraph in p.text.split("\n\n"))


def test_latin1_header_and_bytes(site, port):
    _, headers, body = request(port, page(site, "latin1").url)
    assert headers["content-type"] == "text/html; charset=iso-8859-1"
    assert b"caf\xe9" in body and b'<meta charset="iso-8859-1">' in body
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert "café" in body.decode("iso-8859-1")


def test_non_html_is_a_pdf_without_extension(site, port):
    _, headers, body = request(port, page(site, "non_html").url)
    assert headers["content-type"] == "application/pdf" and body.startswith(b"%PDF-")


def test_oversized_declares_its_length_and_streams(site, port):
    status, headers, body = request(port, page(site, "oversized").url, limit=1 << 16)
    assert status == 200 and int(headers["content-length"]) >= OVERSIZED_BYTES
    assert body.startswith(b"<!DOCTYPE html>") and len(body) == 1 << 16


def test_head_sends_headers_only(site, port):
    p = page(site, "article")
    status, headers, body = request(port, p.url, method="HEAD")
    assert status == 200 and body == b"" and headers["content-length"] == str(len(p.body))


def test_slow_page_trickles_while_others_answer_and_stops_with_the_server(site):
    slow = page(site, "slow")
    assert isinstance(slow.body, Stream)
    with serve_sample(site) as (_, bound):
        conn = http.client.HTTPConnection("127.0.0.1", bound, timeout=5)
        conn.request("GET", slow.path, headers={"Host": slow.host})
        started = time.monotonic()
        response = conn.getresponse()
        first = response.read(10)
        assert response.status == 200 and first == b"<!DOCTYPE " and time.monotonic() - started < 2
        quick = time.monotonic()
        assert request(bound, page(site, "article").url)[0] == 200
        assert time.monotonic() - quick < 1
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 2
    conn.close()
    deadline = time.monotonic() + 2
    while handler_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not handler_threads()
