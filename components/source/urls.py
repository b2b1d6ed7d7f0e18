"""URL normalisation and the pre-fetch URL filter.

Two submissions that link one page under different spellings (`HTTP://Example.com:80/a#top`,
`http://example.com/a?utm_source=x`) must become one row, so URLs are normalised before dedupe:
scheme and host lower-cased, default ports and fragments dropped, tracking parameters removed.
Paths and the remaining query keep their case, order and escapes: servers may treat them as
significant. Unicode hosts become IDNA, and credentials (`user:pw@`) are dropped: they never belong
in a crawl.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from functools import lru_cache

from webtext.components.config import CrawlConfig, SourceConfig

DEFAULT_PORTS = {"http": 80, "https": 443}  # the schemes webtext fetches
# Click-tracking parameters that never change the page (utm_* is matched by prefix).
_TRACKING = frozenset({
    "fbclid", "gclid", "dclid", "gclsrc", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid",
    "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id", "wickedid",
})


# scheme ":" ["//" netloc] path ["?" query] ["#" fragment], as urllib.parse.urlsplit splits it,
# in one regex pass: normalisation runs once per selected submission, hundreds of millions of times.
_PARTS = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?", re.DOTALL)
_HOST_PORT = re.compile(r"(\[[^\]]*\]|[^:]*)(?::([0-9]*))?")
_HAS_TRACKING = re.compile(
    r"(?:^|&)(?:utm_[^=&]*|" + "|".join(sorted(_TRACKING)) + r")(?:=|&|$)", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class NormalisedUrl:
    url: str
    host: str
    path: str


class BadUrl(ValueError):
    """A URL that cannot be fetched; `reason` is the filter reason recorded for it."""

    def __init__(self, reason: str, url: str):
        super().__init__(f"{reason}: {url}")
        self.reason = reason


def _is_tracking(pair: str) -> bool:
    key = pair.partition("=")[0].lower()
    return key.startswith("utm_") or key in _TRACKING


def _host(text: str) -> str | None:
    """The lower-case ASCII host (IDNA for Unicode names), or None when it is not a host."""
    host = text.strip("[]").rstrip(".")
    if not host or not host.isprintable() or " " in host or "\\" in host:
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host.lower()


def normalise(raw: str) -> NormalisedUrl:
    """The canonical spelling of `raw`; raises BadUrl for non-http(s) or unparseable URLs."""
    # Reddit's API HTML-escapes `&` in URLs, and dumps keep the escaped form. Only `&amp;` is
    # undone: a general unescape would read `&region=` as `®ion=`.
    text = raw.strip().replace("&amp;", "&")
    parts = _PARTS.match(text)
    if parts is None:
        raise BadUrl("invalid_url", raw)
    scheme, netloc, path, query = parts.groups()
    scheme = scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise BadUrl("unsupported_scheme" if "." not in scheme else "invalid_url", raw)
    if not netloc:
        raise BadUrl("invalid_url", raw)
    host_port = _HOST_PORT.fullmatch(netloc.rpartition("@")[2])
    if host_port is None:
        raise BadUrl("invalid_url", raw)
    host, port = _host(host_port[1]), host_port[2]
    if host is None:
        raise BadUrl("invalid_url", raw)
    netloc = f"[{host}]" if ":" in host else host
    if port:
        if int(port) > 65535:
            raise BadUrl("invalid_url", raw)
        if int(port) != DEFAULT_PORTS[scheme]:
            netloc = f"{netloc}:{int(port)}"
    path = path or "/"
    if query and _HAS_TRACKING.search(query):
        # Drop tracking pairs; every other byte of the query stays as the server expects it.
        query = "&".join(pair for pair in query.split("&") if pair and not _is_tracking(pair))
    url = f"{scheme}://{netloc}{path}?{query}" if query else f"{scheme}://{netloc}{path}"
    return NormalisedUrl(url, host, path)


class UrlFilter:
    """Drops links that WebText never fetched: blocked domains and non-article file types.

    Hosts the crawl config names in `allow` or `resolve` are the operator's own and pass the domain
    blocklist; a `.jpg` is never an article, whoever serves it, so the extension rule still applies.
    """

    def __init__(self, source: SourceConfig, crawl: CrawlConfig):
        self._blocked = frozenset(source.blocked_domains)
        self._extensions = frozenset(source.blocked_extensions)
        self._trusted = frozenset(crawl.resolve) | frozenset(
            entry.rpartition(":")[0].strip("[]").lower() for entry in crawl.allow if "/" not in entry
        )

        # Hosts repeat across a dump; remember the latest verdicts.
        self._blocked_domain = lru_cache(maxsize=1 << 16)(self._walk_labels)

    def _walk_labels(self, host: str) -> bool:
        # Walk up the labels: `i.imgur.com` matches `imgur.com`.
        labels = host.split(".")
        return any(".".join(labels[i:]) in self._blocked for i in range(len(labels)))

    def reason(self, url: NormalisedUrl) -> str | None:
        """The filter reason for `url`, or None when it may be fetched."""
        if url.host not in self._trusted and self._blocked_domain(url.host):
            return "blocked_domain"
        extension = posixpath.splitext(url.path)[1].lower()
        if extension in self._extensions:
            return "blocked_extension"
        return None
