"""Reading HTTP responses back from WARC files: a whole file in order, or one record by its ref.

warcio parses the records; what it lets pass in silence (a file cut inside a gzip member, a cut
record head, a block shorter than its Content-Length) is checked here, so a damaged file is an
`InputError` naming it rather than a short read.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeadersParserException
from warcio.timeutils import iso_date_to_datetime

from webtext.components.crawl.warc.records import CHUNK, OPEN_SUFFIX, WarcPage, WarcRef
from webtext.components.errors import InputError


class _Damaged(Exception):
    """A cut or corrupt archive (not EOFError, which warcio takes for a clean end)."""


_READ_ERRORS = (_Damaged, ArchiveLoadFailed, StatusAndHeadersParserException, zlib.error, ValueError)


def iter_responses(paths: Iterable[Path]) -> Iterator[WarcPage]:
    """HTTP response records of WARC files (ours or Common Crawl's; `.warc.gz` or `.warc`), in order.

    Request, metadata, warcinfo, revisit and non-HTTP (dns:) records are skipped. One record's
    body is in memory at a time. A cut or corrupt file is an `InputError` naming it.
    """
    for path in paths:
        path = Path(path)
        try:
            with open(path, "rb") as fh:
                records = ArchiveIterator(_checked(fh))
                end = 0
                for record in _parsed(records):
                    page = _page(record)
                    _read_to_end(record)
                    offset, length = records.get_record_offset(), records.get_record_length()
                    end = offset + length
                    if page is not None:
                        yield replace(page, ref=WarcRef(path.name, offset, length))
                # warcio also ends in silence at a record head it cannot finish: bytes left over
                # past the last whole record (other than a `.warc`'s blank lines) mean a cut.
                fh.seek(end)
                rest = fh.read(65)
                if len(rest) > 64 or rest.strip(b"\r\n"):
                    raise _Damaged(f"the file goes on past its last whole record (at {end})")
        except FileNotFoundError as exc:
            raise InputError(f"{path}: no such WARC file") from exc
        except _READ_ERRORS as exc:
            raise InputError(f"{path}: not a readable WARC file ({exc})") from exc


def read_response(directory: Path, ref: WarcRef) -> WarcPage:
    """The response record at `ref`, reading only its gzip member.

    A ref into a file its writer still has open reads from `NAME.warc.gz.open`: refs are handed
    out only after their bytes are written.
    """
    path = Path(directory) / ref.file
    data = _read_range(path, ref.offset, ref.length)
    where = f"{path} at {ref.offset}+{ref.length}"
    if len(data) != ref.length:
        raise InputError(f"{where}: the file ends before the record does")
    try:
        record = next(_parsed(ArchiveIterator(_checked(io.BytesIO(data)))))
        page = _page(record)
        _read_to_end(record)
    except StopIteration as exc:
        raise InputError(f"{where}: no WARC record there") from exc
    except _READ_ERRORS as exc:
        raise InputError(f"{where}: no readable WARC record there ({exc})") from exc
    if page is None:
        raise InputError(f"{where}: not an HTTP response record")
    return replace(page, ref=ref)


class _GzipChecked:
    """A gzip file as warcio reads it, inflated a second time on the side: warcio ends the
    iteration in silence at a cut member, and a cut download must fail, named, not read short."""

    def __init__(self, fh):
        self._fh = fh
        self._inflater = zlib.decompressobj(wbits=31)
        self._in_member = False

    def tell(self) -> int:
        return self._fh.tell()

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        if not data and self._in_member:
            raise _Damaged("the file ends inside a gzip member")
        pending = data
        while pending:
            self._inflater.decompress(pending, CHUNK)  # output bounded; warcio keeps its own
            if self._inflater.eof:
                pending = self._inflater.unused_data
                self._inflater = zlib.decompressobj(wbits=31)
                self._in_member = False
            else:
                pending = self._inflater.unconsumed_tail
                self._in_member = True
        return data


def _checked(fh):
    start = fh.tell()
    magic = fh.read(2)
    fh.seek(start)
    return _GzipChecked(fh) if magic == b"\x1f\x8b" else fh


def _read_range(path: Path, offset: int, length: int) -> bytes:
    open_path = path.with_name(path.name + OPEN_SUFFIX)
    for candidate in (path, open_path, path):  # the last try: renamed between the first two
        try:
            with open(candidate, "rb") as fh:
                fh.seek(offset)
                return fh.read(length)
        except FileNotFoundError:
            continue
    raise InputError(f"{path}: no such WARC file")


def _parsed(records: ArchiveIterator) -> Iterator:
    """warcio's records, with its stumbles over a cut record head raised as `_Damaged`."""
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except (AttributeError, TypeError) as exc:  # e.g. a head cut before its WARC-Target-URI
            raise _Damaged(f"a record head is cut or malformed ({exc!r})") from exc
        yield record


def _read_to_end(record) -> None:
    """Consume the record; a block shorter than its Content-Length means the file was cut."""
    if record.format == "warc" and record.rec_headers.get_header("Content-Length") is None:
        raise _Damaged("a record head is cut (it has no Content-Length)")
    while record.raw_stream.read(CHUNK):
        pass
    if getattr(record.raw_stream, "limit", 0) > 0:  # warcio's LimitReader, bytes still owed
        raise _Damaged(f"the record of {record.rec_headers.get_header('WARC-Target-URI')} is cut")


def _page(record) -> WarcPage | None:
    """The fields of an HTTP response record, ref left empty; None for any other record."""
    head = record.http_headers
    if record.rec_type != "response" or head is None or not head.protocol.upper().startswith("HTTP"):
        return None
    try:
        status = int(head.get_statuscode())
    except ValueError:
        return None
    stream = record.raw_stream
    if "chunked" in (head.get_header("Transfer-Encoding") or "").lower():
        stream = ChunkedDataReader(stream)  # as other crawlers archive it; no decompression
    body = b"".join(iter(lambda: stream.read(CHUNK), b""))
    rec = record.rec_headers
    try:
        fetched_at = iso_date_to_datetime(rec.get_header("WARC-Date"), tz_aware=True)
    except (TypeError, ValueError):
        fetched_at = None
    return WarcPage(
        url=rec.get_header("WARC-Target-URI") or "",
        status=status,
        headers=list(head.headers),
        body=body,
        ref=None,
        fetched_at=fetched_at,
        ip=rec.get_header("WARC-IP-Address"),
        truncated=rec.get_header("WARC-Truncated"),
    )
