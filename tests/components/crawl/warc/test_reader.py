import gzip
import io
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tests.components.crawl.warc.exchanges import HTML, fetch, write_all
from webtext.components.crawl.warc import WarcRef, iter_responses, read_response
from webtext.components.errors import InputError


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
