"""The raw archive: request/response pairs appended to rotating gzip WARC files, and read back.

Every record is its own gzip member (a standard `.warc.gz`), so a `WarcRef` (file, offset,
length) reads one response without touching the rest of the file.

Crash safety. A writer appends to `NAME.warc.gz.open` and renames it to `NAME.warc.gz` only once
the file is complete and fsynced; later stages read `*.warc.gz` only. Each `write` hands both
members of a pair to the kernel in one `os.write` before it returns a ref, so a ref never points
at bytes a killed process still held in a buffer, and an ENOSPC half-write is cut back at once.
`recover` repairs what a killed writer left: it keeps the longest prefix of whole gzip members
that ends on a whole request/response pair, so every ref handed out before the kill still reads.

Durability against power loss costs an fsync. Measured here (10 KB bodies, ext4 on a 2-core VM),
flush-only wrote 2,000-6,000 records/s and one fsync per record 250-2,100, 3-8x fewer, with the
caller blocked for every flush; on disks without a write cache the gap is wider. So the writer
fsyncs on rotation and close; the crawl closes a batch's writer before it records the batch's refs.

Records are serialised here rather than by warcio's writer, which %-escapes non-ASCII header
values (so a reader would not get the headers back) and costs twice the CPU per record; warcio
reads everything back, and the tests check every digest with it.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import os
import re
import threading
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeadersParserException
from warcio.timeutils import iso_date_to_datetime

from components.errors import InputError

OPEN_SUFFIX = ".open"
WARC_VERSION = "WARC/1.1"  # 1.1 allows sub-second WARC-Date, so fetched_at survives the round trip
TRUNCATED_REASONS = ("length", "time", "disconnect", "unspecified")  # the values WARC 1.1 names
_GZIP_LEVEL = 6  # gzip's default; 9 costs up to 2x the CPU for <1% on text, nothing on encoded bodies
_CHUNK = 1 << 16


class _Damaged(Exception):
    """A cut or corrupt archive (not EOFError, which warcio takes for a clean end)."""


_READ_ERRORS = (_Damaged, ArchiveLoadFailed, StatusAndHeadersParserException, zlib.error, ValueError)


@dataclass(frozen=True)
class WarcRef:
    file: str  # file name relative to the WARC directory
    offset: int  # byte offset of the response record's gzip member
    length: int  # compressed length of that member


@dataclass(frozen=True)
class FetchRecord:
    """One HTTP exchange as the fetcher saw it."""

    url: str  # the URL requested (this hop)
    ip: str  # address connected to -> WARC-IP-Address
    fetched_at: datetime  # UTC (a naive value is taken as UTC) -> WARC-Date
    request_method: str
    request_headers: list[tuple[str, str]]
    status: int
    reason: str  # HTTP reason phrase, may be ""
    http_version: str  # "HTTP/1.1"
    response_headers: list[tuple[str, str]]  # as received (raw Content-Encoding etc.)
    body: bytes  # as received, still content-encoded, possibly cut at the cap
    truncated: str | None = None  # None, or a TRUNCATED_REASONS value when the body was cut


@dataclass(frozen=True)
class WarcPage:
    url: str  # WARC-Target-URI
    status: int
    headers: list[tuple[str, str]]  # HTTP response headers as archived
    body: bytes  # Transfer-Encoding removed, Content-Encoding NOT decoded
    ref: WarcRef | None
    fetched_at: datetime | None
    ip: str | None
    truncated: str | None = None  # WARC-Truncated: the body was cut ("length", "time", ...)


def _http_head(first_line: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [first_line, *(f"{name}: {value}" for name, value in headers), "", ""]
    return "\r\n".join(lines).encode("utf-8")  # warcio decodes heads as UTF-8 first


def _digest(*parts: bytes) -> str:
    sha1 = hashlib.sha1()
    for part in parts:
        sha1.update(part)
    return "sha1:" + base64.b32encode(sha1.digest()).decode("ascii")


def _record_member(fields: list[tuple[str, str]], head: bytes, payload: bytes = b"") -> bytes:
    """One WARC record (`head` + `payload` as its block) compressed as one gzip member."""
    fields = [
        *fields,
        ("WARC-Block-Digest", _digest(head, payload)),
        ("Content-Length", str(len(head) + len(payload))),
    ]
    warc_head = "".join(f"{name}: {value}\r\n" for name, value in fields)
    compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip wrapper
    parts = (f"{WARC_VERSION}\r\n{warc_head}\r\n".encode(), head, payload, b"\r\n\r\n")
    return b"".join([*(compressor.compress(part) for part in parts), compressor.flush()])


def _record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def _one_line(text: str) -> str:
    """A header value from a stranger's server must not end the head early."""
    return text.replace("\r", " ").replace("\n", " ")


def _archived_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # The body arrives de-chunked, so a kept `Transfer-Encoding: chunked` would make readers
    # de-chunk it again. Common Crawl keeps such headers under an `X-Crawler-` prefix; so do we.
    out = []
    for name, value in headers:
        if name.lower() == "transfer-encoding":
            name = "X-Crawler-Transfer-Encoding"
        out.append((_one_line(name), _one_line(value)))
    return out


def _warc_date(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{moment.microsecond:06d}Z" if moment.microsecond else f"{text}Z"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WarcWriter:
    """Appends request+response record pairs to rotating gzip WARC files under `directory`.

    Files are `{prefix}-{NNNNN}.warc.gz`, numbered after every file (finished or open) already
    there. A file is rotated once it reaches `max_bytes`, so it holds at least one pair. Thread-safe.
    """

    def __init__(
        self, directory: Path, prefix: str, max_bytes: int = 1_000_000_000
    ):
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        if not prefix or "/" in prefix or prefix.startswith("."):
            raise ValueError(f"prefix must be a plain file-name prefix, got {prefix!r}")
        self.directory = Path(directory)
        self.prefix = prefix
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._name = ""
        self._size = 0
        self._warcinfo_id = ""
        self._completed: list[str] = []
        self._closed = False

    def write(self, record: FetchRecord) -> WarcRef:
        """Append the request then the response; return the response's ref once its bytes are written."""
        with self._lock:
            if self._closed:
                raise ValueError(f"WARC writer for {self.directory / self.prefix}-* is closed")
            if self._fd is None:
                self._open_next()
            request, response = self._pair(record)
            self._append(request + response)
            ref = WarcRef(self._name, self._size - len(response), len(response))
            if self._size >= self.max_bytes:
                self._finish()
            return ref

    def close(self) -> list[str]:
        """Finish the open file; return the names of all files this writer completed."""
        with self._lock:
            if self._fd is not None:
                self._finish()
            self._closed = True
            return list(self._completed)

    def __enter__(self) -> WarcWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _open_next(self) -> None:
        number = _next_number(self.directory, self.prefix)
        while True:
            name = f"{self.prefix}-{number:05d}.warc.gz"
            number += 1
            open_path = self.directory / (name + OPEN_SUFFIX)
            try:
                fd = os.open(open_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue  # another writer with the same prefix took it
            fcntl.flock(fd, fcntl.LOCK_EX)  # tells `recover` in other processes the file is live
            # recover() may have seen our empty file before we locked it and deleted it.
            if os.fstat(fd).st_nlink == 0:
                os.close(fd)
                continue
            if (self.directory / name).exists():  # finished by a writer that scanned before us
                open_path.unlink()
                os.close(fd)
                continue
            break
        self._fd, self._name, self._size = fd, name, 0
        self._warcinfo_id = _record_id()
        fields = [
            ("WARC-Type", "warcinfo"),
            ("WARC-Record-ID", self._warcinfo_id),
            ("WARC-Date", _warc_date(datetime.now(UTC))),
            ("WARC-Filename", name),
            ("Content-Type", "application/warc-fields"),
        ]
        info = f"software: {_software()}\r\nformat: WARC File Format {WARC_VERSION[5:]}\r\n"
        self._append(_record_member(fields, info.encode()))
        _fsync_dir(self.directory)

    def _append(self, data: bytes) -> None:
        try:
            _write_all(self._fd, data)
        except BaseException:
            # A half-written pair (disk full) would hide every later pair from recover(): cut it off
            # (O_APPEND puts the next write at the new end), or failing that, leave the file to
            # recover() and start a new one on the next write.
            try:
                os.ftruncate(self._fd, self._size)
            except OSError:
                os.close(self._fd)
                self._fd = None
            raise
        self._size += len(data)

    def _finish(self) -> None:
        open_path = self.directory / (self._name + OPEN_SUFFIX)
        os.fsync(self._fd)
        os.rename(open_path, self.directory / self._name)
        _fsync_dir(self.directory)
        os.close(self._fd)  # releases the flock
        self._completed.append(self._name)
        self._fd = None

    def _pair(self, record: FetchRecord) -> tuple[bytes, bytes]:
        if any(c in record.url for c in "\r\n \t") or not record.url:
            raise ValueError(f"not a URL to archive: {record.url!r}")
        if record.truncated is not None and record.truncated not in TRUNCATED_REASONS:
            raise ValueError(f"truncated must be one of {TRUNCATED_REASONS}, got {record.truncated!r}")
        url, date, response_id = record.url, _warc_date(record.fetched_at), _record_id()
        where = [("WARC-IP-Address", _one_line(record.ip))] if record.ip else []
        where.append(("WARC-Warcinfo-ID", self._warcinfo_id))
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request_line = _one_line(f"{record.request_method} {target} {record.http_version}")
        request = _record_member(
            [
                ("WARC-Type", "request"),
                ("WARC-Record-ID", _record_id()),
                ("WARC-Target-URI", url),
                ("WARC-Date", date),
                ("WARC-Concurrent-To", response_id),
                *where,
                ("Content-Type", "application/http; msgtype=request"),
            ],
            _http_head(request_line, _archived_headers(record.request_headers)),
        )
        status_line = _one_line(f"{record.http_version} {record.status} {record.reason}")
        truncated = [("WARC-Truncated", record.truncated)] if record.truncated else []
        response = _record_member(
            [
                ("WARC-Type", "response"),
                ("WARC-Record-ID", response_id),
                ("WARC-Target-URI", url),
                ("WARC-Date", date),
                *where,
                *truncated,
                ("Content-Type", "application/http; msgtype=response"),
                ("WARC-Payload-Digest", _digest(record.body)),
            ],
            _http_head(status_line, _archived_headers(record.response_headers)),
            record.body,
        )
        return request, response


def _software() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"webtext/{version('webtext')}"
    except PackageNotFoundError:
        return "webtext"


def _next_number(directory: Path, prefix: str) -> int:
    pattern = re.compile(rf"{re.escape(prefix)}-(\d+)\.warc\.gz(?:{re.escape(OPEN_SUFFIX)})?")
    numbers = [int(m.group(1)) for p in directory.iterdir() if (m := pattern.fullmatch(p.name))]
    return max(numbers, default=0) + 1


# -- recovery -----------------------------------------------------------------------------------------


def recover(directory: Path) -> list[str]:
    """Finish the `*.warc.gz.open` files a killed writer left; return the names made readable.

    Each keeps its longest prefix of whole records that ends on a whole request/response pair; a
    file with no such pair is deleted. Files a live writer holds (its flock) are left alone.
    """
    directory = Path(directory)
    repaired = []
    for open_path in sorted(directory.glob(f"*.warc.gz{OPEN_SUFFIX}")):
        try:
            fd = os.open(open_path, os.O_RDWR)
        except FileNotFoundError:
            continue  # finished by its writer meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer
            if not _same_file(fd, open_path):
                continue  # renamed by its writer between our open and lock
            end, pairs = _complete_prefix(fd)
            final = open_path.with_name(open_path.name[: -len(OPEN_SUFFIX)])
            if pairs == 0:
                open_path.unlink()
            else:
                if final.exists():
                    raise InputError(f"{open_path}: cannot recover, {final.name} already exists")
                os.ftruncate(fd, end)
                os.fsync(fd)
                os.rename(open_path, final)
                repaired.append(final.name)
            _fsync_dir(directory)
        finally:
            os.close(fd)
    return repaired


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _complete_prefix(fd: int) -> tuple[int, int]:
    """Length of the longest prefix of whole records ending after a whole pair, and its pair count."""
    end = pairs = 0
    request_pending = False
    for member_end, record_type in _whole_members(fd):
        if record_type == "request":
            request_pending = True
        elif record_type == "response":
            request_pending = False
            pairs += 1
            end = member_end
        elif not request_pending:
            end = member_end
    return end, pairs


def _whole_members(fd: int) -> Iterator[tuple[int, str]]:
    """(end offset, WARC-Type) of each leading gzip member holding one whole WARC record.

    Stops at the first member that is cut, corrupt (zlib checks the gzip CRC and length) or not
    exactly one record. Output is not kept beyond the record head, so memory stays flat.
    """
    os.lseek(fd, 0, os.SEEK_SET)
    data, data_offset = b"", 0  # `data` holds the file bytes from `data_offset` on, unconsumed
    while True:
        inflater = zlib.decompressobj(wbits=31)
        head, size, tail = b"", 0, b""
        while not inflater.eof:
            if not data:
                data = os.read(fd, _CHUNK)
                if not data:
                    return  # the file ends here: at a member boundary, or inside a cut member
            try:
                out = inflater.decompress(data)
            except zlib.error:
                return
            if not inflater.eof:
                data_offset += len(data)
                data = b""
            if len(head) < _CHUNK:
                head += out[: _CHUNK - len(head)]
            size += len(out)
            tail = (tail + out)[-4:]
        member_end = data_offset + len(data) - len(inflater.unused_data)
        data, data_offset = inflater.unused_data, member_end
        record_type = _whole_record_type(head, size, tail)
        if record_type is None:
            return
        yield member_end, record_type


def _whole_record_type(head: bytes, size: int, tail: bytes) -> str | None:
    """The WARC-Type of a decompressed member that is exactly one whole record, else None."""
    head_end = head.find(b"\r\n\r\n")
    if not head.startswith(b"WARC/") or head_end < 0 or tail != b"\r\n\r\n":
        return None
    fields = {}
    for line in head[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    try:
        length = int(fields.get(b"content-length", b""))
    except ValueError:
        return None
    if size != head_end + 4 + length + 4:
        return None
    return fields.get(b"warc-type", b"").decode("ascii", "replace")


# -- reading ------------------------------------------------------------------------------------------


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
            self._inflater.decompress(pending, _CHUNK)  # output bounded; warcio keeps its own
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
    while record.raw_stream.read(_CHUNK):
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
    body = b"".join(iter(lambda: stream.read(_CHUNK), b""))
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
