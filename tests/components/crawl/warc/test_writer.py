import gzip
import os

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.components.crawl.warc.exchanges import HTML, WHEN, fetch, write_all
from webtext.components.crawl.warc import WarcWriter, iter_responses, read_response
from webtext.components.crawl.warc import writer as warc_writer

CASES = {
    "gzip-encoded": fetch(
        1,
        gzip.compress(HTML),
        [("Content-Type", "text/html"), ("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")],
    ),
    "latin-1": fetch(
        2, "<p>caf\u00e9 na\u00efve \u00a3</p>".encode("latin-1"), [("Content-Type", "text/html")]
    ),
    "empty": fetch(3, b"", [("Content-Length", "0")], status=204, reason=""),
    "truncated": fetch(4, bytes(range(256)) * 40, [("Content-Length", "999999")], truncated="length"),
    "odd headers": fetch(5, HTML, [("X-Name", "caf\u00e9 \u65e5\u672c"), ("X-Split", "a\r\nInjected: 1")]),
}


def test_pages_read_back_by_iteration_and_by_ref(tmp_path):
    records = list(CASES.values())
    refs, names = write_all(tmp_path, records)
    assert names == ["crawl-00042-00001.warc.gz"] and sorted(os.listdir(tmp_path)) == names
    pages = list(iter_responses([tmp_path / names[0]]))
    assert [p.ref for p in pages] == refs
    for record, ref, page in zip(records, refs, pages, strict=True):
        assert read_response(tmp_path, ref) == page
        assert page.body == record.body
        assert (page.url, page.status, page.ip, page.fetched_at) == (
            record.url,
            record.status,
            record.ip,
            WHEN,
        )
    gz = pages[0]
    assert ("Content-Encoding", "gzip") in gz.headers and gzip.decompress(gz.body) == HTML
    assert ("X-Crawler-Transfer-Encoding", "chunked") in gz.headers  # the body is stored de-chunked
    assert pages[4].headers == [("X-Name", "caf\u00e9 \u65e5\u672c"), ("X-Split", "a  Injected: 1")]


def test_every_record_passes_warcio_digest_checks_and_pairs_are_linked(tmp_path):
    write_all(tmp_path, CASES.values())
    with open(tmp_path / "crawl-00042-00001.warc.gz", "rb") as fh:
        records = []
        for record in ArchiveIterator(fh, check_digests="raise"):
            record.content_stream().read()
            records.append(record.rec_headers)
    assert [h.get_header("WARC-Type") for h in records] == ["warcinfo"] + ["request", "response"] * len(CASES)
    assert records[0].get_header("WARC-Filename") == "crawl-00042-00001.warc.gz"
    for request, response in zip(records[1::2], records[2::2], strict=True):
        assert request.get_header("WARC-Concurrent-To") == response.get_header("WARC-Record-ID")
        assert response.get_header("WARC-Payload-Digest").startswith("sha1:")
        assert response.get_header("WARC-Date") == "2024-05-01T12:30:15.250000Z"
    assert [r.get_header("WARC-Truncated") for r in records[2::2]] == [None, None, None, "length", None]
    with gzip.open(tmp_path / "crawl-00042-00001.warc.gz", "rb") as fh:
        assert b"software: webtext" in fh.read(1000)


def test_rotation_makes_several_files_and_every_ref_resolves(tmp_path):
    records = [fetch(i, os.urandom(3000)) for i in range(30)]
    refs, names = write_all(tmp_path, records, max_bytes=20_000)
    assert len(names) >= 4 and sorted(os.listdir(tmp_path)) == sorted(names)
    assert len({ref.file for ref in refs}) == len(names)
    for record, ref in zip(records, refs, strict=True):
        assert read_response(tmp_path, ref).body == record.body
    pages = list(iter_responses(sorted(tmp_path.glob("*.warc.gz"))))
    assert [p.body for p in pages] == [r.body for r in records]
    # A second writer with the same prefix numbers on after the files already there.
    more, more_names = write_all(tmp_path, records[:1])
    assert more_names == [f"crawl-00042-{len(names) + 1:05d}.warc.gz"]


def test_a_ref_reads_while_its_file_is_still_open(tmp_path):
    with WarcWriter(tmp_path, "live") as writer:
        ref = writer.write(fetch(7))
        assert os.listdir(tmp_path) == ["live-00001.warc.gz.open"]
        assert read_response(tmp_path, ref).body == HTML
    assert read_response(tmp_path, ref).body == HTML


def test_bad_input_and_use_after_close_are_refused(tmp_path):
    writer = WarcWriter(tmp_path, "bad")
    with pytest.raises(ValueError, match="truncated"):
        writer.write(fetch(1, truncated="because"))
    with pytest.raises(ValueError, match="URL"):
        writer.write(fetch(1, url="http://x.example/a b"))
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(fetch(1))
    with pytest.raises(ValueError, match="max_bytes"):
        WarcWriter(tmp_path, "bad", max_bytes=0)


def test_writers_sharing_a_prefix_take_distinct_files(tmp_path):
    first, second = WarcWriter(tmp_path, "same"), WarcWriter(tmp_path, "same")
    a, b = first.write(fetch(1)), second.write(fetch(2))
    assert (a.file, b.file) == ("same-00001.warc.gz", "same-00002.warc.gz")
    assert first.close() + second.close() == [a.file, b.file]
    assert read_response(tmp_path, a).body == read_response(tmp_path, b).body == HTML


def test_a_failed_write_leaves_no_partial_pair(tmp_path, monkeypatch):
    writer = WarcWriter(tmp_path, "full")
    first = writer.write(fetch(1))
    real_write_all = warc_writer._write_all

    def disk_full(fd, data):
        real_write_all(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(warc_writer, "_write_all", disk_full)
    with pytest.raises(OSError):
        writer.write(fetch(2))
    monkeypatch.setattr(warc_writer, "_write_all", real_write_all)
    third = writer.write(fetch(3))
    writer.close()
    assert [p.ref for p in iter_responses([tmp_path / first.file])] == [first, third]
