import gzip
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from components.crawl import warc
from components.crawl.warc import FetchRecord, WarcRef, WarcWriter, iter_responses, read_response, recover
from components.errors import InputError

WHEN = datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)
HTML = b"<html><head><title>t</title></head><body><p>Hello, web.</p></body></html>"


def fetch(i=0, body=HTML, headers=None, truncated=None, url=None, status=200, reason="OK"):
    return FetchRecord(
        url=url or f"http://site{i % 3}.example/page/{i}?q={i}",
        ip=f"93.184.216.{i % 250}",
        fetched_at=WHEN,
        request_method="GET",
        request_headers=[("Host", f"site{i % 3}.example"), ("User-Agent", "webtext-test (+http://x.test)")],
        status=status,
        reason=reason,
        http_version="HTTP/1.1",
        response_headers=headers if headers is not None else [("Content-Type", "text/html")],
        body=body,
        truncated=truncated,
    )


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


def write_all(directory, records, **kwargs):
    with WarcWriter(directory, "crawl-00042", **kwargs) as writer:
        refs = [writer.write(r) for r in records]
    return refs, writer.close()


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
    real_write_all = warc._write_all

    def disk_full(fd, data):
        real_write_all(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(warc, "_write_all", disk_full)
    with pytest.raises(OSError):
        writer.write(fetch(2))
    monkeypatch.setattr(warc, "_write_all", real_write_all)
    third = writer.write(fetch(3))
    writer.close()
    assert [p.ref for p in iter_responses([tmp_path / first.file])] == [first, third]


# -- recovery -----------------------------------------------------------------------------------------


def crashed_copy(tmp_path, n):
    """Write n pairs, then copy the open file as a killed process would have left it."""
    source, crashed = tmp_path / "live", tmp_path / "crashed"
    crashed.mkdir()
    writer = WarcWriter(source, "crawl-00007")
    refs = [writer.write(fetch(i, os.urandom(500 + 100 * i))) for i in range(n)]
    data = (source / f"{refs[0].file}{warc.OPEN_SUFFIX}").read_bytes()
    writer.close()
    return crashed, crashed / f"{refs[0].file}{warc.OPEN_SUFFIX}", data, refs


def ends(refs):
    return [ref.offset + ref.length for ref in refs]


def test_recover_keeps_exactly_the_whole_pairs_before_any_cut(tmp_path):
    crashed, open_path, data, refs = crashed_copy(tmp_path, 4)
    final = crashed / refs[0].file
    for cut in range(0, len(data) + 1, 23):
        open_path.write_bytes(data[:cut])
        kept = [ref for ref in refs if ref.offset + ref.length <= cut]
        assert recover(crashed) == ([final.name] if kept else [])
        assert not open_path.exists()
        if not kept:
            assert not final.exists()
            continue
        assert final.stat().st_size == ends(kept)[-1]
        assert [p.ref for p in iter_responses([final])] == kept
        assert all(read_response(crashed, ref).ref == ref for ref in kept)
        final.unlink()


@pytest.mark.parametrize(
    "tail",
    ["half a member", "a request without its response", "zeros", "one byte short"],
)
def test_recover_cuts_a_torn_tail_back_to_the_last_pair(tmp_path, tail):
    crashed, open_path, data, refs = crashed_copy(tmp_path, 3)
    last = refs[-1]
    request_start = ends(refs)[-2]
    if tail == "half a member":
        torn, kept = data + data[last.offset : last.offset + last.length // 2], refs
    elif tail == "a request without its response":
        torn, kept = data[: last.offset], refs[:-1]
    elif tail == "zeros":  # what a power loss can leave past the last flushed page
        torn, kept = data + bytes(8192), refs
    else:
        torn, kept = data[: len(data) - 1], refs[:-1]
    assert request_start < last.offset
    open_path.write_bytes(torn)
    assert recover(crashed) == [last.file]
    assert (crashed / last.file).read_bytes() == data[: ends(kept)[-1]]
    for ref in kept:
        assert read_response(crashed, ref).ref == ref


def test_recover_leaves_a_live_writer_alone(tmp_path):
    with WarcWriter(tmp_path, "live") as writer:
        ref = writer.write(fetch(1))
        assert recover(tmp_path) == []
        writer.write(fetch(2))
    assert read_response(tmp_path, ref).body == HTML


CHILD = """
import json, os, sys
from datetime import UTC, datetime
from pathlib import Path
from components.crawl.warc import FetchRecord, WarcWriter

writer = WarcWriter(Path(sys.argv[1]), "killed", max_bytes=150_000)
i = 0
while True:
    body = (b"%06d" % i) * (50 + (i * 7919) % 8000)
    ref = writer.write(FetchRecord(f"http://k.example/{i}", "10.1.2.3", datetime.now(UTC), "GET", [],
                                   200, "OK", "HTTP/1.1", [("Content-Type", "text/html")], body))
    print(json.dumps([i, ref.file, ref.offset, ref.length]), flush=True)
    i += 1
"""


def expected_body(i):
    return (b"%06d" % i) * (50 + (i * 7919) % 8000)


@pytest.mark.parametrize("delay_s", [0.05, 0.2, 0.4])
def test_a_writer_killed_mid_stream_loses_no_ref_it_handed_out(tmp_path, delay_s):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, cwd=Path(__file__).parents[3]
    )
    lines = []
    started = threading.Event()

    def drain():
        for line in child.stdout:
            lines.append(line)
            started.set()

    reader = threading.Thread(target=drain)
    reader.start()
    assert started.wait(30), "the writer never wrote"
    time.sleep(delay_s)
    child.send_signal(signal.SIGKILL)
    child.wait()
    reader.join()
    printed = []
    for line in lines:
        try:
            i, file, offset, length = json.loads(line)
        except ValueError:
            continue  # the last line, cut by the kill
        printed.append((i, WarcRef(file, offset, length)))
    assert printed
    open_files = [path.name for path in tmp_path.glob(f"*{warc.OPEN_SUFFIX}")]
    assert len(open_files) <= 1  # none when the kill fell between a rotation and the next file
    repaired = recover(tmp_path)
    assert repaired in ([], [name[: -len(warc.OPEN_SUFFIX)] for name in open_files])
    assert not list(tmp_path.glob("*.open"))
    for i, ref in printed:
        assert read_response(tmp_path, ref).body == expected_body(i)
    pages = list(iter_responses(sorted(tmp_path.glob("*.warc.gz"))))
    assert len(pages) >= len(printed)
    assert all(page.body == expected_body(int(page.url.rsplit("/", 1)[1])) for page in pages)


# -- reading what others wrote ------------------------------------------------------------------------


def write_plain_warcio(path, compress):
    """A WARC as Common Crawl or Heritrix might write it, with records we must skip."""
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=compress)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "other"}))
        request = b"GET / HTTP/1.1\r\nHost: cc.example\r\n\r\n"
        writer.write_record(
            writer.create_warc_record("http://cc.example/", "request", payload=io.BytesIO(request))
        )
        chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        head = StatusAndHeaders("200 OK", [("Transfer-Encoding", "chunked")], protocol="HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(
                "http://cc.example/",
                "response",
                payload=io.BytesIO(chunked),
                length=len(chunked),
                http_headers=head,
            )
        )
        writer.write_record(
            writer.create_warc_record(
                "dns:cc.example", "response", payload=io.BytesIO(b"cc.example. 60 IN A 1.2.3.4"), length=27
            )
        )
        writer.write_record(
            writer.create_warc_record(
                "http://cc.example/", "metadata", payload=io.BytesIO(b"a: b\r\n"), length=6
            )
        )
        encoded = gzip.compress(HTML)
        head = StatusAndHeaders("404 Not Found", [("Content-Encoding", "gzip")], protocol="HTTP/1.0")
        writer.write_record(
            writer.create_warc_record(
                "http://cc.example/gone",
                "response",
                payload=io.BytesIO(encoded),
                length=len(encoded),
                http_headers=head,
            )
        )
        revisit = writer.create_revisit_record(
            "http://cc.example/again", "sha1:AAAA", "http://cc.example/", "2024-01-01T00:00:00Z"
        )
        writer.write_record(revisit)


@pytest.mark.parametrize("name", ["CC-MAIN-test.warc.gz", "CC-MAIN-test.warc"])
def test_warc_files_written_by_plain_warcio_read(tmp_path, name):
    path = tmp_path / name
    write_plain_warcio(path, compress=name.endswith(".gz"))
    pages = list(iter_responses([path]))
    assert [(p.url, p.status, p.body) for p in pages] == [
        ("http://cc.example/", 200, b"hello world"),
        ("http://cc.example/gone", 404, gzip.compress(HTML)),
    ]
    for page in pages:
        assert read_response(tmp_path, page.ref) == page


def test_unreadable_files_and_refs_are_errors_naming_them(tmp_path):
    refs, _ = write_all(tmp_path, [fetch(1)])
    with pytest.raises(InputError, match="missing.warc.gz"):
        list(iter_responses([tmp_path / "missing.warc.gz"]))
    with pytest.raises(InputError, match="at 0"):
        read_response(tmp_path, WarcRef(refs[0].file, 0, refs[0].offset - 10))  # the warcinfo member
    with pytest.raises(InputError, match="ends before"):
        read_response(tmp_path, WarcRef(refs[0].file, refs[0].offset, refs[0].length + 100))


@pytest.mark.parametrize("name", ["cut.warc.gz", "cut.warc"])
def test_a_cut_file_is_an_error_not_a_short_read(tmp_path, name):
    # warcio alone ends the iteration in silence at a cut record; a cut download must fail, named.
    whole = tmp_path / f"whole{''.join(Path(name).suffixes)}"
    write_plain_warcio(whole, compress=name.endswith(".gz"))
    data = whole.read_bytes()
    pages = list(iter_responses([whole]))
    for cut in (pages[0].ref.offset + pages[0].ref.length // 2, pages[1].ref.offset + 40, len(data) // 3):
        (tmp_path / name).write_bytes(data[:cut])
        with pytest.raises(InputError, match=name):
            list(iter_responses([tmp_path / name]))
