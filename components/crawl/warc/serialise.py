"""One fetched exchange as WARC bytes: a request record and a response record, each compressed as
its own gzip member, plus the warcinfo record that opens every file.

Records are serialised here rather than by warcio's writer, which %-escapes non-ASCII header
values (so a reader would not get the headers back) and costs twice the CPU per record; warcio
reads everything back, and the tests check every digest with it.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
import zlib
from datetime import UTC, datetime
from urllib.parse import urlsplit

from webtext.components.crawl.warc.records import TRUNCATED_REASONS, FetchRecord

WARC_VERSION = "WARC/1.1"  # 1.1 allows sub-second WARC-Date, so fetched_at survives the round trip
_GZIP_LEVEL = 6  # gzip's default; 9 costs up to 2x the CPU for <1% on text, nothing on encoded bodies


def record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def warcinfo_member(name: str, warcinfo_id: str) -> bytes:
    """The warcinfo record that opens file `name`: which software wrote it, in which format."""
    fields = [
        ("WARC-Type", "warcinfo"),
        ("WARC-Record-ID", warcinfo_id),
        ("WARC-Date", _warc_date(datetime.now(UTC))),
        ("WARC-Filename", name),
        ("Content-Type", "application/warc-fields"),
    ]
    info = f"software: {_software()}\r\nformat: WARC File Format {WARC_VERSION[5:]}\r\n"
    return _record_member(fields, info.encode())


def pair_members(record: FetchRecord, warcinfo_id: str) -> tuple[bytes, bytes]:
    """The request member and the response member of `record`, concurrent and tied to the file's
    warcinfo record; a URL or a truncation reason WARC cannot carry is a ValueError."""
    if any(c in record.url for c in "\r\n \t") or not record.url:
        raise ValueError(f"not a URL to archive: {record.url!r}")
    if record.truncated is not None and record.truncated not in TRUNCATED_REASONS:
        raise ValueError(f"truncated must be one of {TRUNCATED_REASONS}, got {record.truncated!r}")
    url, date, response_id = record.url, _warc_date(record.fetched_at), record_id()
    where = [("WARC-IP-Address", _one_line(record.ip))] if record.ip else []
    where.append(("WARC-Warcinfo-ID", warcinfo_id))
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request_line = _one_line(f"{record.request_method} {target} {record.http_version}")
    request = _record_member(
        [
            ("WARC-Type", "request"),
            ("WARC-Record-ID", record_id()),
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


def _software() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"webtext/{version('webtext')}"
    except PackageNotFoundError:
        return "webtext"
