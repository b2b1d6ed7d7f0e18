"""The extraction pool: hard per-page deadlines, dead workers replaced, nothing left behind."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from tests.components.extract.slow_extractors import PATH
from webtext.components.errors import ConfigError
from webtext.components.extract.pool import ExtractionPool, PageJob

TIMEOUT_S = 1.5
HEADERS = [("Content-Type", "text/html; charset=utf-8")]


def job(key: str, html: str | None = None) -> PageJob:
    return PageJob(key, f"http://example.com/{key}", (html or f"<p>page {key}</p>").encode(), HEADERS, None)


@pytest.fixture(scope="module")
def pool():
    with ExtractionPool(PATH, workers=2, timeout_s=TIMEOUT_S) as pool:
        yield pool


def by_key(results) -> dict:
    return {r.key: r for r in results}


def test_pages_come_back_ok_with_their_fields(pool):
    results = by_key(pool.map([job("a"), job("b", "EMPTY")]))
    a = results["a"]
    assert (a.status, a.text, a.title, a.canonical_url, a.error) == (
        "ok", "<p>page a</p>", f"pid {a.title[4:]}", "http://example.com/a", None
    )
    assert a.seconds >= 0
    assert (results["b"].status, results["b"].text) == ("no_text", "")


def test_a_hanging_page_is_cut_at_the_limit_and_later_pages_still_come_back(pool):
    start = time.monotonic()
    results = by_key(pool.map([job("first"), job("hang", "SLEEP"), *(job(f"after{i}") for i in range(6))]))
    hang = results.pop("hang")
    assert hang.status == "extract_timeout" and hang.text == ""
    assert TIMEOUT_S <= hang.seconds < TIMEOUT_S + 2
    assert "longer than 1.5 s" in hang.error
    assert {r.status for r in results.values()} == {"ok"} and len(results) == 7
    assert time.monotonic() - start < TIMEOUT_S + 10  # the replacement worker starts in a second or two
    assert by_key(pool.map([job("later")]))["later"].status == "ok"  # the pool is whole again


def test_a_worker_that_exits_is_an_error_and_the_pool_goes_on(pool):
    results = by_key(pool.map([job("exit", "EXIT"), job("x"), job("kill", "KILL"), job("y")]))
    assert results["exit"].status == results["kill"].status == "extract_error"
    assert results["exit"].error == "the extraction process exited with code 3"
    assert results["kill"].error == "the extraction process was killed by SIGKILL"
    assert results["x"].status == results["y"].status == "ok"


def worker_pids(pool) -> set[str]:
    """The pids of all workers: a map's first jobs go one to each idle worker."""
    return {r.title for r in pool.map([job("p1"), job("p2")])}


def test_an_exception_is_a_one_line_error_and_the_worker_survives(pool):
    pids = worker_pids(pool)
    results = by_key(pool.map([job("raise", "RAISE"), job("z")]))
    assert results["raise"].status == "extract_error"
    assert results["raise"].error == "ValueError: planted failure with a second line"
    assert results["z"].status == "ok"
    assert worker_pids(pool) == pids and len(pids) == 2


def test_too_large_or_undecodable_bodies_are_errors(pool):
    big = PageJob("big", "http://example.com/big", b"x" * (11 * 2**20), HEADERS, None)
    odd = PageJob("odd", "http://example.com/odd", b"abc", [("Content-Encoding", "zstd")], None)
    results = by_key(pool.map([big, odd]))
    assert results["big"].status == "extract_error" and "TooLarge" in results["big"].error
    assert results["odd"].status == "extract_error" and "zstd" in results["odd"].error


def test_results_in_completion_order_with_bounded_jobs_in_flight(pool):
    pulled = 0

    def jobs():
        nonlocal pulled
        yield job("slow", "SLOW")
        for i in range(40):
            pulled += 1
            yield job(str(i))

    received = []
    for result in pool.map(jobs()):
        received.append(result.key)
        assert pulled + 1 - len(received) <= 2  # never more pages out than workers
    assert received.index("slow") > 0  # fast pages overtook it
    assert sorted(received) == sorted(["slow", *map(str, range(40))])


def test_bad_arguments_fail_before_any_work():
    with pytest.raises(ConfigError, match="cannot be loaded"):
        ExtractionPool("no_such_module:extract", workers=1, timeout_s=1)
    with pytest.raises(ConfigError, match="workers"):
        ExtractionPool(PATH, workers=0, timeout_s=1)
    with pytest.raises(ConfigError, match="timeout_s"):
        ExtractionPool(PATH, workers=1, timeout_s=0)


def test_leaving_early_by_an_exception_leaves_no_child_process():
    before = set(multiprocessing.active_children())
    with pytest.raises(KeyboardInterrupt):
        with ExtractionPool(PATH, workers=2, timeout_s=60) as pool:
            mine = {p.pid for p in set(multiprocessing.active_children()) - before}
            assert len(mine) == 2
            for _ in pool.map([job("ok"), job("hang", "SLEEP")]):
                raise KeyboardInterrupt  # while the other worker hangs on its page
    assert set(multiprocessing.active_children()) == before
    for pid in mine:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # gone, and reaped


def test_one_worker_and_the_built_in_extractor():
    html = "<html><body><article>" + "<p>A sentence of plain prose that goes on for a while.</p>" * 20
    with ExtractionPool("trafilatura", workers=1, timeout_s=30) as pool:
        results = by_key(pool.map([job("one", html + "</article></body></html>"), job("two", "<p></p>")]))
    assert results["one"].status == "ok" and "plain prose" in results["one"].text
    assert results["two"].status == "no_text"
