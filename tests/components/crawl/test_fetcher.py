"""The fetcher against real loopback servers: every way a stranger's server can misbehave ends in
one terminal status, within the deadline and the byte cap, politely, and archived in WARC."""

from __future__ import annotations

import asyncio
import codecs
import gzip
import json
import socket
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.components.crawl.servers import (
    LoopbackServer,
    failing,
    gzip_bomb,
    gzip_of_zeros,
    page,
    redirect,
    reset,
    stream,
    stream_after,
    trickle,
)
from webtext.components.config import CrawlConfig, load_config
from webtext.components.crawl.batch import crawl_batch, read_archives
from webtext.components.crawl.fetcher import Fetcher, FetchResult
from webtext.components.crawl.warc import FetchRecord, WarcWriter, read_response
from webtext.components.source.urls import normalise

BOMB_SIZE = 300_000_000  # decoded bytes of the gzip bomb (~300 KB on the wire)
LATIN1_TEXT = "Café déjà vu: a naïve façade in Zürich, señor."


@pytest.fixture
def server():
    with LoopbackServer() as running:
        yield running


@pytest.fixture
def warc_dir(tmp_path: Path) -> Path:
    return tmp_path / "warc"


def crawl_config(server: LoopbackServer, **settings) -> CrawlConfig:
    """Small timeouts, no politeness delay, and only this server's 127.0.0.1 port allowed."""
    settings = {
        "allow": [f"127.0.0.1:{server.port}"], "per_host_delay_s": 0, "timeout_s": 1, "retries": 2,
        "backoff_s": 0.05, "robots_timeout_s": 1, **settings,
    }
    return load_config(None, [f"crawl.{key}={json.dumps(value)}" for key, value in settings.items()]).crawl


def fetch_all(config: CrawlConfig, urls: list[str], warc_dir: Path) -> list[FetchResult]:
    """Crawl `urls` concurrently in one Fetcher; results in the order of `urls`."""

    async def run() -> list[FetchResult]:
        with WarcWriter(warc_dir, "test") as writer:
            async with Fetcher(config, writer) as fetcher:
                return [result async for result in fetcher.crawl(urls)]

    by_url = {result.url: result for result in asyncio.run(run())}
    assert sorted(by_url) == sorted(urls)
    return [by_url[url] for url in urls]


def fetch(config: CrawlConfig, url: str, warc_dir: Path) -> FetchResult:
    return fetch_all(config, [url], warc_dir)[0]


def _proc_status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def peak_rss_growth(action) -> tuple[object, int]:
    """`action()`'s result and how far the process's peak RSS rose above its RSS before it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        before = _proc_status("VmRSS")
    except OSError:  # no reset: growth past the old peak is still caught
        before = _proc_status("VmHWM")
    result = action()
    return result, _proc_status("VmHWM") - before


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


# -- deadlines and caps -----------------------------------------------------------------------------


def test_slow_trickle_is_cut_at_the_deadline(server, warc_dir):
    server.route("/trickle", trickle(size=1000, every=0.2))  # 200 s if let run
    config = crawl_config(server, timeout_s=1, retries=0)
    started = time.monotonic()
    result = fetch(config, server.url("/trickle"), warc_dir)
    elapsed = time.monotonic() - started
    assert result.status == "timeout", result
    assert result.attempts == 1
    assert 0.9 <= elapsed < config.timeout_s + 1.5


@pytest.mark.parametrize("declare_length", [False, True], ids=["chunked", "content-length"])
def test_oversized_body_stops_at_the_cap_with_flat_memory(server, warc_dir, declare_length):
    server.route("/huge", stream(200_000_000, declare_length=declare_length))
    config = crawl_config(server, max_bytes=1_000_000, timeout_s=10, retries=0)
    result, growth = peak_rss_growth(lambda: fetch(config, server.url("/huge"), warc_dir))
    assert result.status == "too_large", result
    assert growth < 100_000_000, f"peak RSS grew {growth / 1e6:.0f} MB for a 1 MB cap"


@pytest.mark.slow
def test_gzip_bomb_stops_at_the_cap_with_flat_memory(server, warc_dir):
    gzip_of_zeros(BOMB_SIZE)  # built before measuring: the server's setup is not the fetcher's memory
    server.route("/bomb", gzip_bomb(BOMB_SIZE))
    config = crawl_config(server, max_bytes=1_000_000, timeout_s=10, retries=0)
    result, growth = peak_rss_growth(lambda: fetch(config, server.url("/bomb"), warc_dir))
    assert result.status == "too_large", result
    assert growth < 100_000_000, f"peak RSS grew {growth / 1e6:.0f} MB for a 1 MB cap"


# -- redirects --------------------------------------------------------------------------------------


def test_redirect_is_followed_to_its_target(server, warc_dir):
    server.route("/moved", redirect("/page", 301))
    server.route("/page", page("<html><body><p>Moved here.</p></body></html>"))
    result = fetch(crawl_config(server), server.url("/moved"), warc_dir)
    assert result.status == "ok", result
    assert result.http_status == 200
    assert result.final_url == server.url("/page")
    assert read_response(warc_dir, result.warc).url == server.url("/page")


def test_redirect_loop_ends_in_redirect_limit(server, warc_dir):
    server.route("/loop/a", redirect("/loop/b"))
    server.route("/loop/b", redirect("/loop/a"))
    result = fetch(crawl_config(server), server.url("/loop/a"), warc_dir)
    assert result.status == "redirect_limit", result
    assert server.hits("/loop/a") + server.hits("/loop/b") <= 3


def test_more_redirects_than_max_redirects_end_in_redirect_limit(server, warc_dir):
    for hop in range(1, 11):  # /chain/10 -> /chain/9 -> ... -> /chain/0, a page
        server.route(f"/chain/{hop}", redirect(f"/chain/{hop - 1}"))
    server.route("/chain/0", page())
    config = crawl_config(server, max_redirects=3)
    too_long, short = fetch_all(config, [server.url("/chain/10"), server.url("/chain/3")], warc_dir)
    assert too_long.status == "redirect_limit", too_long
    assert server.hits("/chain/6") == 0  # gave up after 3 hops from /chain/10
    assert short.status == "ok", short
    assert short.final_url == server.url("/chain/0")


def _internal_targets(server: LoopbackServer) -> dict[str, str]:
    """Spellings of addresses that reach a listener of `server`, none of them allowed."""
    server.listen("127.0.0.2")
    trap_port = server.listen("127.0.0.1", 0)  # 127.0.0.1 itself, on a port not in crawl.allow
    targets = {
        "127.0.0.2": f"http://127.0.0.2:{server.port}/page",
        "decimal": f"http://2130706434:{server.port}/page",  # 127.0.0.2 as one number
        "hex": f"http://0x7f000002:{server.port}/page",
        "decimal-other-port": f"http://2130706433:{trap_port}/page",  # 127.0.0.1
        "hex-other-port": f"http://0x7f000001:{trap_port}/page",
    }
    if ipv6_loopback():
        server.listen("::1")
        targets["[::1]"] = f"http://[::1]:{server.port}/page"
    return targets


def test_redirects_to_internal_addresses_are_blocked(server, warc_dir):
    server.route("/page", page())  # served on every listener: only the guard keeps the fetcher out
    targets = _internal_targets(server)
    for name, target in targets.items():
        server.route(f"/to/{name}", redirect(target))
    urls = [server.url(f"/to/{name}") for name in targets]
    results = fetch_all(crawl_config(server), urls, warc_dir)
    assert {name: r.status for name, r in zip(targets, results, strict=True)} == {
        name: "blocked_address" for name in targets
    }
    assert server.hits("/page") == 0
    assert server.hits_at("127.0.0.2") == server.hits_at("::1") == 0


def test_internal_addresses_are_blocked_on_the_first_request(server, warc_dir):
    server.route("/page", page())
    targets = _internal_targets(server)
    results = fetch_all(crawl_config(server), list(targets.values()), warc_dir)
    assert {name: r.status for name, r in zip(targets, results, strict=True)} == {
        name: "blocked_address" for name in targets
    }
    assert server.hits("/page") == 0


def test_file_and_gopher_urls_are_refused(server, warc_dir):
    urls = ["file:///etc/passwd", f"gopher://127.0.0.1:{server.port}/", "gopher://127.0.0.1/"]
    results = fetch_all(crawl_config(server), urls, warc_dir)
    assert [r.status for r in results] == ["bad_scheme"] * len(urls), results
    assert [r.attempts for r in results] == [1] * len(urls)


def test_redirect_to_a_file_url_is_refused(server, warc_dir):
    server.route("/to/file", redirect("file:///etc/passwd"))
    server.route("/to/gopher", redirect(f"gopher://127.0.0.1:{server.port}/"))
    results = fetch_all(crawl_config(server), [server.url("/to/file"), server.url("/to/gopher")], warc_dir)
    assert [r.status for r in results] == ["bad_scheme", "bad_scheme"], results


# -- robots.txt -------------------------------------------------------------------------------------


def test_robots_txt_is_obeyed(server, warc_dir):
    server.route("/private/x", page())
    server.route("/public", page())
    private, public = fetch_all(crawl_config(server), [server.url("/private/x"), server.url("/public")],
                                warc_dir)
    assert private.status == "robots", private
    assert public.status == "ok", public
    assert server.hits("/private/x") == 0
    assert server.hits("/robots.txt") == 1  # cached per host


def _named_hosts(server: LoopbackServer, *names: str, **settings) -> CrawlConfig:
    return crawl_config(server, resolve={name: f"127.0.0.1:{server.port}" for name in names}, **settings)


def test_robots_txt_answering_500_disallows_the_whole_host(server, warc_dir):
    server.route("/robots.txt", failing(500), host="down.test")
    server.route("/public", page())
    config = _named_hosts(server, "down.test", retries=0)
    results = fetch_all(config, ["http://down.test/public", "http://down.test/"], warc_dir)
    assert [r.status for r in results] == ["robots", "robots"], results
    assert server.hits("/public") == 0


def test_robots_txt_404_allows_everything(server, warc_dir):
    server.route("/robots.txt", page(b"no robots here", 404), host="open.test")
    server.route("/private/x", page())
    result = fetch(_named_hosts(server, "open.test"), "http://open.test/private/x", warc_dir)
    assert result.status == "ok", result
    assert server.hits("/private/x") == 1


# -- retries ----------------------------------------------------------------------------------------


def test_500_is_retried_then_recorded(server, warc_dir):
    server.route("/broken", failing(500))
    config = crawl_config(server, retries=2)
    result = fetch(config, server.url("/broken"), warc_dir)
    assert server.hits("/broken") == config.retries + 1
    assert (result.status, result.http_status, result.attempts) == ("http_error", 500, config.retries + 1)
    assert read_response(warc_dir, result.warc).status == 500


def test_503_with_retry_after_is_retried_after_the_wait(server, warc_dir):
    server.route("/busy", failing(503, failures=1, then=page(), headers={"Retry-After": "1"}))
    config = crawl_config(server, retries=1, timeout_s=3)
    started = time.monotonic()
    result = fetch(config, server.url("/busy"), warc_dir)
    elapsed = time.monotonic() - started
    assert (result.status, result.http_status, result.attempts) == ("ok", 200, 2), result
    assert server.hits("/busy") == 2
    assert elapsed >= 0.95  # waited the server's Retry-After, not the 0.05 s backoff


def test_503_retried_until_retries_run_out(server, warc_dir):
    server.route("/down", failing(503, headers={"Retry-After": "0"}))
    result = fetch(crawl_config(server, retries=1), server.url("/down"), warc_dir)
    assert (result.status, result.http_status, result.attempts) == ("http_error", 503, 2), result
    assert server.hits("/down") == 2


def test_404_is_not_retried(server, warc_dir):
    result = fetch(crawl_config(server, retries=2), server.url("/missing"), warc_dir)
    assert (result.status, result.http_status, result.attempts) == ("http_error", 404, 1), result
    assert server.hits("/missing") == 1


# -- what comes back --------------------------------------------------------------------------------


def test_connection_reset_is_a_connection_error(server, warc_dir):
    server.route("/reset", reset)
    config = crawl_config(server, retries=1)
    result = fetch(config, server.url("/reset"), warc_dir)
    assert result.status == "connection_error", result
    assert result.attempts == 2  # a connection error is worth another try
    assert server.hits("/reset") == 2
    assert result.error


def test_empty_body_is_ok(server, warc_dir):
    server.route("/empty", page(b"", content_type="text/html"))
    result = fetch(crawl_config(server), server.url("/empty"), warc_dir)
    assert (result.status, result.http_status) == ("ok", 200), result
    assert read_response(warc_dir, result.warc).body == b""


@pytest.mark.parametrize("declared_in", ["header", "meta"])
def test_latin1_page_is_detected_and_decodes_from_the_archive(server, warc_dir, declared_in):
    if declared_in == "header":
        content_type, head = "text/html; charset=iso-8859-1", ""
    else:
        content_type, head = "text/html", '<meta charset="iso-8859-1">'
    body = f"<html><head>{head}<title>Café</title></head><body><p>{LATIN1_TEXT}</p></body></html>"
    server.route("/latin1", page(body.encode("latin-1"), content_type=content_type))
    result = fetch(crawl_config(server), server.url("/latin1"), warc_dir)
    assert result.status == "ok", result
    assert codecs.lookup(result.charset).name == "iso8859-1"
    archived = read_response(warc_dir, result.warc)
    assert LATIN1_TEXT in archived.body.decode(result.charset)


def test_pdf_is_not_html(server, warc_dir):
    server.route("/paper", page(b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n", content_type="application/pdf"))
    result = fetch(crawl_config(server), server.url("/paper"), warc_dir)
    assert (result.status, result.http_status, result.content_type) == ("not_html", 200, "application/pdf")


# -- politeness, measured at the server -------------------------------------------------------------


def test_per_host_concurrency_never_exceeds_per_host(server, warc_dir):
    server.route("/slow", page(delay=0.1))
    config = _named_hosts(server, "a.test", per_host=2)
    results = fetch_all(config, [f"http://a.test/slow?n={n}" for n in range(30)], warc_dir)
    assert Counter(r.status for r in results) == {"ok": 30}
    assert server.max_in_flight("a.test") == 2  # never more, and concurrency did happen


def test_two_hosts_each_stay_within_per_host(server, warc_dir):
    server.route("/slow", page(delay=0.1))
    config = _named_hosts(server, "a.test", "b.test", per_host=2)
    urls = [f"http://{host}/slow?n={n}" for n in range(12) for host in ("a.test", "b.test")]
    results = fetch_all(config, urls, warc_dir)
    assert Counter(r.status for r in results) == {"ok": 24}
    assert server.max_in_flight("a.test") == server.max_in_flight("b.test") == 2
    assert server.max_in_flight() > 2  # the two hosts were fetched at the same time


def test_per_host_delay_spaces_requests(server, warc_dir):
    server.route("/page", page())
    config = crawl_config(server, per_host=1, per_host_delay_s=0.2)
    urls = [server.url(f"/page?n={n}") for n in range(5)]

    async def run() -> tuple[list[FetchResult], float]:
        with WarcWriter(warc_dir, "test") as writer:
            async with Fetcher(config, writer) as fetcher:
                # robots.txt is fetched within the first request's turn: get it cached before timing
                await fetcher.fetch(server.url("/page?n=first"))
                started = time.monotonic()
                results = [result async for result in fetcher.crawl(urls)]
                return results, time.monotonic() - started

    results, elapsed = asyncio.run(run())
    assert [r.status for r in results] == ["ok"] * 5
    assert elapsed >= 0.8
    starts = server.starts("127.0.0.1")[1:]
    assert len(starts) == 5
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.15, gaps  # 0.2 s apart at the client; arrival jitters a little


# -- the archive ------------------------------------------------------------------------------------


def test_every_fetched_response_is_archived(server, warc_dir):
    html = b"<html><body><p>Archived.</p></body></html>"
    server.route("/page", page(html))
    server.route("/paper", page(b"%PDF-1.4\n", content_type="application/pdf"))
    urls = [server.url("/page"), server.url("/missing"), server.url("/paper")]
    results = fetch_all(crawl_config(server), urls, warc_dir)
    assert [r.status for r in results] == ["ok", "http_error", "not_html"]
    for result, status in zip(results, [200, 404, 200], strict=True):
        archived = read_response(warc_dir, result.warc)
        assert (archived.url, archived.status) == (result.url, status)
    assert read_response(warc_dir, results[0].warc).body == html
    assert read_response(warc_dir, results[2].warc).body == b"%PDF-1.4\n"


def test_crawl_batch_writes_one_outcome_per_url(server, tmp_path):
    server.route("/page", page())
    server.route("/private/x", page())
    urls = [server.url("/page"), server.url("/missing"), server.url("/private/x"),
            f"http://127.0.0.2:{server.port}/page", "gopher://127.0.0.1/"]
    batch = tmp_path / "batch.parquet"
    pq.write_table(pa.table({"url": urls}), batch)
    outcomes = tmp_path / "outcomes.parquet"
    counts = crawl_batch(batch, crawl_config(server, retries=0), tmp_path / "warc", "batch-00001", outcomes)
    rows = {row["url"]: row for row in pq.read_table(outcomes).to_pylist()}
    assert len(pq.read_table(outcomes)) == len(urls)
    assert {url: rows[url]["status"] for url in urls} == dict(zip(urls, [
        "ok", "http_error", "robots", "blocked_address", "bad_scheme"], strict=True))
    assert counts == Counter(row["status"] for row in rows.values())
    ok = rows[urls[0]]
    assert ok["warc_file"] and ok["warc_offset"] is not None and ok["warc_length"]
    assert rows[urls[1]]["http_status"] == 404


# -- the WARC fetcher -------------------------------------------------------------------------------


def _record(url: str, status: int, content_type: str, body: bytes, **headers: str) -> FetchRecord:
    extra = [(name.replace("_", "-"), value) for name, value in headers.items()]
    return FetchRecord(
        url=url, ip="93.184.216.34", fetched_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        request_method="GET", request_headers=[("Host", "example.com")], status=status, reason="",
        http_version="HTTP/1.1",
        response_headers=[("Content-Type", content_type), *extra],
        body=body,
    )


def test_warc_fetcher_reads_statuses_from_archives(tmp_path):
    latin1 = f'<html><head><meta charset="iso-8859-1"></head><body>{LATIN1_TEXT}</body></html>'
    with WarcWriter(tmp_path / "warc", "archive") as writer:
        writer.write(_record("http://Example.COM:80/article", 200, "text/html; charset=utf-8",
                             b"<html><body><p>An article.</p></body></html>"))
        writer.write(_record("http://example.com/gz", 200, "text/html",
                             gzip.compress(latin1.encode("latin-1")), Content_Encoding="gzip"))
        writer.write(_record("http://example.com/missing", 404, "text/html", b"gone"))
        writer.write(_record("http://example.com/paper.pdf", 200, "application/pdf", b"%PDF-1.4\n"))
        writer.write(_record("http://example.com/old", 301, "text/html", b"", Location="/article"))
    inputs = sorted((tmp_path / "warc").glob("*.warc.gz"))
    names = ["article", "gz", "missing", "paper.pdf", "old", "never-archived"]
    urls = [normalise(f"http://example.com/{name}").url for name in names]
    outcomes = tmp_path / "outcomes.parquet"
    counts = read_archives(urls, inputs, load_config(None, []).crawl, outcomes)
    rows = {row["url"]: row for row in pq.read_table(outcomes).to_pylist()}
    assert {url: (row["status"], row["http_status"]) for url, row in rows.items()} == {
        urls[0]: ("ok", 200),
        urls[1]: ("ok", 200),
        urls[2]: ("http_error", 404),
        urls[3]: ("not_html", 200),
    }  # the redirect-only and the unarchived URL stay out (pending)
    assert counts == {"ok": 2, "http_error": 1, "not_html": 1}
    assert codecs.lookup(rows[urls[1]]["charset"]).name == "iso8859-1"  # found in the decoded body
    assert rows[urls[0]]["final_url"] == "http://Example.COM:80/article"
    assert all(row["warc_file"] in {str(p.resolve()) for p in inputs} for row in rows.values())


# -- what a review of hostile inputs turned up -------------------------------------------------------


def test_url_with_a_space_is_fetched_percent_encoded(server, warc_dir):
    server.route("/a%20b", page())
    server.route("/hop", redirect("/a b"))
    direct, hop = fetch_all(crawl_config(server), [server.url("/a b"), server.url("/hop")], warc_dir)
    assert direct.status == "ok", direct
    assert hop.status == "ok" and hop.final_url == server.url("/a%20b"), hop


def test_junk_after_a_gzip_body_is_not_read(server, warc_dir):
    member = gzip.compress(b"<html><body><p>Short.</p></body></html>")
    server.route("/junk", stream_after(member, 200_000_000))
    started = time.monotonic()
    result, growth = peak_rss_growth(
        lambda: fetch(crawl_config(server, timeout_s=20, retries=0), server.url("/junk"), warc_dir))
    assert result.status == "ok", result
    assert time.monotonic() - started < 5
    assert growth < 100 * 2**20


def test_per_host_limit_holds_on_redirect_hops(server, warc_dir):
    server.route("/go", redirect("http://b.test/slow"))
    server.route("/slow", page(delay=0.1))
    names = [f"h{n}.test" for n in range(12)]
    config = _named_hosts(server, "b.test", *names, per_host=2)
    results = fetch_all(config, [f"http://{name}/go" for name in names], warc_dir)
    assert Counter(r.status for r in results) == {"ok": 12}
    assert server.max_in_flight("b.test") <= 2


def test_a_host_that_is_down_is_a_connection_error_not_robots(warc_dir):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = load_config(None, [f"crawl.allow=['127.0.0.1:{port}']", "crawl.retries=1",
                                "crawl.backoff_s=0.01", "crawl.timeout_s=2"]).crawl
    result = fetch(config, f"http://127.0.0.1:{port}/page", warc_dir)
    assert result.status == "connection_error" and result.attempts == 2, result
    assert "robots.txt unreachable" in result.error
