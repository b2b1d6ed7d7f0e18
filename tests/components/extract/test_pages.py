"""A batch of pages archived in a real WARC to one Parquet shard."""

from __future__ import annotations

import gzip
from dataclasses import replace
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webtext.components.crawl.warc import FetchRecord, WarcWriter
from webtext.components.errors import ConfigError, InputError
from webtext.components.extract.pages import PAGES, PageRef, extract_pages

PROSE = (
    "<p>The library opened its new reading room on Saturday, after two years of work on the old "
    "building by the harbour, and the first visitors queued from early morning to see it.</p>"
    "<p>Its café serves the staff as well as readers, and the librarians said they hoped the longer "
    "opening hours would bring students back to the town centre during the winter months.</p>"
)
ARTICLE = f"<html><head><title>Reading room</title></head><body><article>{PROSE}</article></body></html>"
NAV = (
    "<html><body><nav><ul>" + "".join(f"<li><a href='/s/{i}'>Section {i}</a></li>" for i in range(20))
    + "</ul></nav><footer><a href='/about'>About</a></footer></body></html>"
)
LATIN1 = ARTICLE.replace("<head>", "<head><meta charset='iso-8859-1'>")


def record(url: str, body: bytes, headers: list[tuple[str, str]]) -> FetchRecord:
    return FetchRecord(
        url=url, ip="93.184.216.34", fetched_at=datetime(2024, 5, 1, tzinfo=UTC), request_method="GET",
        request_headers=[("Host", "example.com")], status=200, reason="OK", http_version="HTTP/1.1",
        response_headers=headers, body=body,
    )


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    warc_dir = tmp_path_factory.mktemp("warc")
    utf8 = [("Content-Type", "text/html; charset=utf-8")]
    pages = [
        ("d1", "http://example.com/a", ARTICLE.encode(), utf8, "utf-8"),
        ("d2", "http://example.com/nav", NAV.encode(), [("Content-Type", "text/html")], None),
        ("d3", "http://example.com/l1", gzip.compress(LATIN1.encode("latin-1")),
         [("Content-Type", "text/html"), ("Content-Encoding", "gzip")], None),
    ]
    refs = []
    with WarcWriter(warc_dir, "crawl-00001") as writer:
        for doc_id, url, body, headers, charset in pages:
            ref = writer.write(record(url, body, headers))
            refs.append(PageRef(doc_id, url, None, ref.file, ref.offset, ref.length, charset))
    refs[2] = replace(refs[2], url="http://example.com/old", final_url="http://example.com/l1")
    return warc_dir, refs


def run(refs, out, warc_dir, extractor="trafilatura"):
    return extract_pages(refs, out, warc_dir=warc_dir, extractor=extractor, workers=1, timeout_s=30,
                         max_bytes=1 << 20)


def test_pages_to_parquet_in_order_with_a_bad_record(archive, tmp_path):
    warc_dir, refs = archive
    bad = replace(refs[0], doc_id="d0", warc_offset=refs[0].warc_offset + 7)
    out = tmp_path / "pages-00001.parquet"
    counts = run([refs[1], bad, refs[0], refs[2]], out, warc_dir)
    assert counts == {"ok": 2, "no_text": 1, "extract_timeout": 0, "extract_error": 1}

    table = pq.read_table(out)
    assert table.schema == PAGES
    assert [f.type for f in table.schema] == [pa.string()] * 8 + [pa.int64(), pa.float64()]
    rows = {row["doc_id"]: row for row in table.to_pylist()}
    assert list(rows) == ["d2", "d0", "d1", "d3"]

    assert rows["d2"]["status"] == "no_text" and rows["d2"]["text"] == ""
    assert rows["d0"]["status"] == "extract_error"
    assert "crawl-00001-00001.warc.gz at offset" in rows["d0"]["error"]
    assert str(bad.warc_offset) in rows["d0"]["error"]
    assert rows["d0"]["html_bytes"] is None and rows["d0"]["seconds"] is None

    d1, d3 = rows["d1"], rows["d3"]
    assert d1["status"] == "ok" and d1["title"] == "Reading room" and d1["error"] is None
    assert "new reading room on Saturday" in d1["text"] and "café" in d1["text"]
    assert d1["html_bytes"] == len(ARTICLE.encode()) and d1["seconds"] > 0
    assert "café" in d3["text"]  # gzip undone, Latin-1 detected from the meta
    assert (d3["url"], d3["final_url"]) == ("http://example.com/old", "http://example.com/l1")
    assert d3["html_bytes"] < len(LATIN1)  # as archived: still gzip-encoded


def test_rerun_replaces_the_file_whole(archive, tmp_path):
    warc_dir, refs = archive
    out = tmp_path / "pages.parquet"
    run(refs, out, warc_dir)
    assert run(refs[:1], out, warc_dir, extractor="resiliparse")["ok"] == 1
    assert pq.read_table(out).column("doc_id").to_pylist() == ["d1"]
    with pytest.raises(ConfigError):
        run(refs, out, warc_dir, extractor="no_such_module:extract")
    assert pq.read_table(out).column("doc_id").to_pylist() == ["d1"]  # a failed run leaves it as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pages.parquet"]  # no temporary left


def test_repeated_doc_id_is_refused(archive, tmp_path):
    warc_dir, refs = archive
    with pytest.raises(InputError, match="d1"):
        run([refs[0], refs[0]], tmp_path / "x.parquet", warc_dir)


def test_absolute_warc_path_and_empty_batch(archive, tmp_path):
    warc_dir, refs = archive
    absolute = replace(refs[0], warc_file=str(warc_dir / refs[0].warc_file))
    assert run([absolute], tmp_path / "a.parquet", tmp_path)["ok"] == 1
    assert run([], tmp_path / "b.parquet", warc_dir) == dict.fromkeys(
        ["ok", "no_text", "extract_timeout", "extract_error"], 0
    )
    assert pq.read_table(tmp_path / "b.parquet").num_rows == 0
