"""The crawl stage on the tiny sample: every page ends as its ground truth says, archived in WARC."""

import json

import duckdb
import pytest
from prefect.client.orchestration import get_client

from tests.flows.stages import CLI, TINY, cli_env, in_home, kill_when, tiny
from webtext.components.crawl.decoding import BoundedDecoder
from webtext.components.crawl.warc import WarcRef, read_response
from webtext.components.home import Home
from webtext.flows.cli import main
from webtext.flows.crawl import crawl
from webtext.flows.source import source

pytestmark = pytest.mark.slow

COMPARED = "url, status, http_status, attempts, final_url, content_type, charset"


ARCHIVED = "url, status, http_status, final_url, warc_file, warc_offset, warc_length, charset"


def url_rows(home, columns=ARCHIVED):
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(f"SELECT {columns} FROM urls ORDER BY url").fetchall()


@pytest.fixture(scope="module")
def crawled(tiny_run):
    """The shared tiny run's home, its source and crawl results, and the crawl run again there."""
    with in_home(tiny_run.home.root) as home:
        rerun = crawl(tiny())
    return home, tiny_run.results[:2], rerun


def test_every_sample_url_ends_in_its_expected_crawl_status(crawled):
    home, results, _ = crawled
    assert [r.stage for r in results] == ["source", "crawl"]
    truth = json.loads((home.sample / "ground_truth.json").read_text())
    got = {url: status for url, status, *_ in url_rows(home)}
    expected = {row["url"]: row["expected"]["crawl"] for row in truth["urls"]}
    assert got == expected
    assert {"ok", "http_error", "robots", "too_large", "not_html", "redirect_limit"} <= set(got.values())


def test_fetched_pages_are_archived_and_read_back(crawled):
    home, _, _ = crawled
    truth = json.loads((home.sample / "ground_truth.json").read_text())
    texts = {page["url"]: page["text"] for page in truth["pages"]}
    checked = 0
    for url, status, _, final_url, warc_file, offset, length, charset in url_rows(home):
        if status != "ok" or final_url != url:
            continue
        page = read_response(home.warc, WarcRef(warc_file, offset, length))
        decoder = BoundedDecoder(dict((k.lower(), v) for k, v in page.headers).get("content-encoding"),
                                 10_000_000)
        decoder.feed(page.body)
        first_sentence = texts[url].split(". ")[0][:60]
        html = decoder.body().decode(charset)
        if first_sentence:
            assert first_sentence.split()[0] in html
        checked += 1
    assert checked >= 15
    assert not list(home.warc.glob("*.open")), "every WARC file is closed after the crawl"


def test_crawl_rerun_is_up_to_date_and_publishes_artifacts(crawled, tiny_run):
    _, _, rerun = crawled
    assert rerun.up_to_date and "no pending URLs" in rerun.summary
    with get_client(sync_client=True) as client:
        keys = {a.key for a in client.read_latest_artifacts()}
    assert {"crawl-status", "crawl-failing-hosts", "crawl-progress", "source-funnel"} <= keys
    assert tiny_run.artifact("crawl-progress").data == 100.0  # published by the run that crawled


def test_warc_fetcher_rebuilds_statuses_from_the_archive(crawled, home):
    crawled_home = crawled[0]
    config = tiny("crawl.fetcher=warc", f"crawl.warc_inputs=['{crawled_home.warc}/*.warc.gz']")
    source(config)
    result = crawl(config)
    assert not result.up_to_date
    from_network = {u: (s, h) for u, s, h, f, *_ in url_rows(crawled_home) if f == u or s != "ok"}
    from_archive = {u: (s, h) for u, s, h, *_ in url_rows(home)}
    for url, (status, http_status) in from_network.items():
        if status in ("ok", "not_html") or (status == "http_error" and http_status == 404):
            assert from_archive[url] == (status, http_status), url
    assert from_archive != {}


def test_a_killed_crawl_resumes_and_ends_as_a_clean_run(tmp_path, crawled):
    killed = tmp_path / "killed"
    command = ["run", "--config", str(TINY)]
    staging = killed / "staging" / "crawl"
    kill_when([*CLI, *command], cli_env(killed), lambda: (staging / "outcomes-00000.parquet").exists())

    with in_home(killed):  # the stage the kill cut short, run again (in this process: the same code)
        assert main(["stage", "crawl", "--config", str(TINY)]) == 0
    assert url_rows(Home(killed), COMPARED) == url_rows(crawled[0], COMPARED)
    assert not list((killed / "warc").glob("*.open"))
