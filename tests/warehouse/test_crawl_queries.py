"""The crawl stage's SQL against a real migrated warehouse: pending batches out, outcome files in."""

from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webtext import warehouse
from webtext.components.crawl.batch import OUTCOMES
from webtext.warehouse import crawl as queries

RECORDED = "url, status, http_status, attempts, error, warc_file, warc_offset, warc_length"


@pytest.fixture
def con(tmp_path):
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        yield con


def add_urls(con, status: str, urls: list[str], error: str | None = None) -> None:
    con.executemany(
        "INSERT INTO urls (url, host, status, error, added_at, added_by) VALUES (?, ?, ?, ?, now(), 'L1')",
        [[url, url.split("/")[2], status, error] for url in urls])


def outcome(url: str, status: str, http_status: int | None = None, error: str | None = None,
            warc_offset: int | None = None) -> dict:
    """One URL's row of a batch's outcomes file; archived when it has a WARC offset."""
    fetched, archived = status == "ok", warc_offset is not None
    return {"url": url, "status": status, "http_status": http_status, "attempts": 1, "error": error,
            "fetched_at": datetime(2024, 1, 1, tzinfo=UTC), "final_url": url if http_status else None,
            "content_type": "text/html" if fetched else None, "charset": "utf-8" if fetched else None,
            "warc_file": "crawl-1.warc.gz" if archived else None, "warc_offset": warc_offset,
            "warc_length": 100 if archived else None}


def write_outcomes(path, rows: list[dict]):
    pq.write_table(pa.Table.from_pylist(rows, schema=OUTCOMES), path)
    return path


def test_pending_urls_are_written_as_numbered_batches_of_the_given_size(con, tmp_path):
    pending = [f"http://h{i % 7}.example.com/{i}" for i in range(105)]
    add_urls(con, "pending", pending)
    add_urls(con, "ok", ["http://done.example.com/"])
    add_urls(con, "filtered", ["http://i.imgur.com/x"], error="blocked_domain")
    assert queries.pending_count(con) == 105

    batches = queries.write_pending_batches(con, tmp_path / "batches", 10)
    # batch=10 after batch=9: numbered order, not the order of the names
    assert [int(p.parent.name.split("=")[1]) for p in batches] == list(range(11))
    urls = [pq.read_table(p).column("url").to_pylist() for p in batches]
    assert [len(u) for u in urls] == [10] * 10 + [5]
    assert sorted(u for batch in urls for u in batch) == sorted(pending)


def test_no_pending_urls_write_no_batch(con, tmp_path):
    add_urls(con, "ok", ["http://done.example.com/"])
    assert queries.pending_count(con) == 0
    assert queries.write_pending_batches(con, tmp_path / "batches", 10) == []


def test_outcomes_are_recorded_once_and_only_on_pending_urls(con, tmp_path):
    add_urls(con, "pending", ["http://a.example.com/1", "http://a.example.com/2", "http://b.example.com/"])
    add_urls(con, "ok", ["http://c.example.com/"])
    results = write_outcomes(tmp_path / "outcomes-00000.parquet", [
        outcome("http://a.example.com/1", "ok", 200, warc_offset=0),
        outcome("http://a.example.com/2", "http_error", 404, error="HTTP 404"),
        outcome("http://c.example.com/", "timeout", error="read timed out"),  # not pending: unchanged
    ])
    assert queries.record_results(con, results) == 2
    rows = con.execute(f"SELECT {RECORDED} FROM urls ORDER BY url").fetchall()
    assert rows == [
        ("http://a.example.com/1", "ok", 200, 1, None, "crawl-1.warc.gz", 0, 100),
        ("http://a.example.com/2", "http_error", 404, 1, "HTTP 404", None, None, None),
        ("http://b.example.com/", "pending", None, 0, None, None, None, None),
        ("http://c.example.com/", "ok", None, 0, None, None, None, None),
    ]
    assert queries.record_results(con, results) == 0  # a batch loaded twice changes nothing
    assert con.execute(f"SELECT {RECORDED} FROM urls ORDER BY url").fetchall() == rows
    assert queries.status_counts(con) == {"ok": 2, "http_error": 1, "pending": 1}
    assert queries.pending_count(con) == 1


def test_a_batch_that_fails_to_load_changes_nothing(con, tmp_path):
    add_urls(con, "pending", ["http://a.example.com/"])
    broken = tmp_path / "outcomes-00001.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(duckdb.Error, match="outcomes-00001.parquet"):
        queries.record_results(con, broken)
    assert queries.status_counts(con) == {"pending": 1}


def test_failing_hosts_count_fetch_failures_only_most_first(con, tmp_path):
    add_urls(con, "pending", [f"http://slow.example.com/{i}" for i in range(3)]
             + [f"http://gone.example.com/{i}" for i in range(2)] + ["http://fine.example.com/"])
    add_urls(con, "filtered", [f"http://blocked.example.com/{i}" for i in range(5)], error="blocked_domain")
    write = [outcome(f"http://slow.example.com/{i}", "timeout", error="read timed out") for i in range(2)]
    write += [outcome("http://slow.example.com/2", "http_error", 500, error="HTTP 500"),
              outcome("http://gone.example.com/0", "connection_error", error="refused"),
              outcome("http://gone.example.com/1", "connection_error", error="refused"),
              outcome("http://fine.example.com/", "ok", 200, warc_offset=0)]
    queries.record_results(con, write_outcomes(tmp_path / "outcomes.parquet", write))

    hosts = queries.failing_hosts(con)
    assert [(h["host"], h["failures"], h["commonest_status"]) for h in hosts] == [
        ("slow.example.com", 3, "timeout"), ("gone.example.com", 2, "connection_error")]
    assert hosts[1]["example_error"] == "refused"
    assert [h["host"] for h in queries.failing_hosts(con, limit=1)] == ["slow.example.com"]
