"""What the archive holds, shared by the writer, the repair and the reader: a fetched exchange going
in, a response page coming out, the ref that finds one, and how a file still being written is named."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

OPEN_SUFFIX = ".open"  # `NAME.warc.gz.open` while its writer appends; renamed once complete
TRUNCATED_REASONS = ("length", "time", "disconnect", "unspecified")  # the values WARC 1.1 names
CHUNK = 1 << 16  # bytes read (or inflated) at a time, so memory stays flat whatever a record's size


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
