"""Bodies as they come off the wire: bounded decompression, the HTML check, and the charset.

A hostile server can lie about its size or send a 1000:1 gzip bomb. HTTP clients decode
`Content-Encoding` into buffers of their own choosing (httpx handed over one 64 MiB chunk of a
1 GiB bomb), so webtext reads raw bytes and decodes them here, never producing more than
`limit + 1` bytes before it knows the page is too large.
"""

from __future__ import annotations

import codecs
import re
import zlib

import brotli
from charset_normalizer import from_bytes

from webtext.components.crawl.status import UrlStatus

# What the fetcher advertises; zstd is left out because its Python decoder cannot bound its output.
ACCEPT_ENCODING = "gzip, deflate, br"
HTML_TYPES = ("text/html", "application/xhtml+xml")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)


class TooLarge(Exception):
    """The decoded body passed the cap."""


class UnsupportedEncoding(Exception):
    """A Content-Encoding webtext did not ask for and cannot decode safely."""


class BoundedDecoder:
    """Accumulates a body, decoding its Content-Encoding, and raises TooLarge past `limit` bytes."""

    def __init__(self, content_encoding: str | None, limit: int):
        encoding = (content_encoding or "identity").strip().lower()
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        if encoding in ("identity", ""):
            self._step = self._identity
        elif encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header, detected
            self._step = self._inflate
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()  # RFC 9110 deflate is zlib-wrapped; raw is retried below
            self._raw_deflate_tried = False
            self._step = self._inflate
        elif encoding == "br":
            self._brotli = brotli.Decompressor()
            self._step = self._unbrotli
        else:
            raise UnsupportedEncoding(f"unsupported Content-Encoding {encoding!r}")

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise TooLarge(f"decoded body exceeds {self.limit:,} bytes")
        self.parts.append(data)

    def _identity(self, data: bytes) -> None:
        self._keep(data)

    def _inflate(self, data: bytes) -> None:
        while data:
            try:
                out = self._zlib.decompress(data, self.limit - self.size + 1)
            except zlib.error:
                if getattr(self, "_raw_deflate_tried", True) or self.size:
                    raise
                self._raw_deflate_tried = True  # some servers send raw deflate without the wrapper
                self._zlib = zlib.decompressobj(wbits=-15)
                continue
            self._keep(out)
            data = self._zlib.unconsumed_tail
            if self._zlib.eof:
                return

    def _unbrotli(self, data: bytes) -> None:
        out = self._brotli.process(data, output_buffer_limit=self.limit - self.size + 1)
        self._keep(out)
        while not self._brotli.can_accept_more_data():
            self._keep(self._brotli.process(b"", output_buffer_limit=self.limit - self.size + 1))

    def feed(self, data: bytes) -> None:
        """Decode the next raw bytes; raises TooLarge, or zlib.error / brotli.error if corrupt."""
        self._step(data)

    @property
    def identity(self) -> bool:
        return self._step == self._identity

    @property
    def done(self) -> bool:
        """The compressed stream has ended: whatever a server sends after it is junk, not body."""
        if self._step == self._inflate:
            return self._zlib.eof
        if self._step == self._unbrotli:
            return self._brotli.is_finished()
        return False

    def body(self) -> bytes:
        return b"".join(self.parts)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_html(content_type: str | None, body: bytes) -> bool:
    """HTML by its declared type; with no type at all, by what the body starts with."""
    declared = media_type(content_type)
    if declared:
        return declared in HTML_TYPES
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<body" in head


def _known(name: str | bytes | None) -> str | None:
    """Python's name for a declared charset, or None when Python does not know it."""
    if not name:
        return None
    label = name.decode("ascii", "ignore") if isinstance(name, bytes) else name
    try:
        return codecs.lookup(label.strip()).name
    except LookupError:
        return None


def detect_charset(content_type: str | None, body: bytes) -> str:
    """The body's character set: the Content-Type header, then `<meta>`, then a BOM, then detection."""
    header = _HEADER_CHARSET.search(content_type or "")
    if charset := _known(header and header.group(1)):
        return charset
    meta = _META_CHARSET.search(body[:4096])
    if charset := _known(meta and meta.group(1)):
        return charset
    if body.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    best = from_bytes(body[:65536]).best()
    return best.encoding if best else "utf-8"


def classify(http_status: int, content_type: str | None, body: bytes) -> tuple[UrlStatus, str | None]:
    """The terminal status of a final (non-redirect) response and, for an HTML page, its charset."""
    if not 200 <= http_status < 300:
        return UrlStatus.http_error, None
    if not is_html(content_type, body):
        return UrlStatus.not_html, None
    return UrlStatus.ok, detect_charset(content_type, body)
