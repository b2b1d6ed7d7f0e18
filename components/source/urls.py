"""URL normalisation and the pre-fetch URL filter.

Two submissions that link one page under different spellings (`HTTP://Example.com:80/a#top`,
`http://example.com/a?utm_source=x`) must become one row, so URLs are normalised before dedupe:
scheme and host lower-cased, default ports and fragments dropped, tracking parameters removed.
Paths and the remaining query keep their case and order: servers may treat them as significant.
"""

from __future__ import annotations

import html
import posixpath
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from components.config import CrawlConfig, SourceConfig

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Click-tracking parameters that never change the page (utm_* is matched by prefix).
_TRACKING = frozenset({
    "fbclid", "gclid", "dclid", "gclsrc", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid",
    "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id", "wickedid",
})


@dataclass(frozen=True)
class NormalisedUrl:
    url: str
    host: str
    path: str


class BadUrl(ValueError):
    """A URL that cannot be fetched; `reason` is the filter reason recorded for it."""

    def __init__(self, reason: str, url: str):
        super().__init__(f"{reason}: {url}")
        self.reason = reason


def _is_tracking(key: str) -> bool:
    key = key.lower()
    return key.startswith("utm_") or key in _TRACKING


def normalise(raw: str) -> NormalisedUrl:
    """The canonical spelling of `raw`; raises BadUrl for non-http(s) or unparseable URLs."""
    # Reddit's API HTML-escapes URLs (`&amp;`), and dumps keep the escaped form.
    text = html.unescape(raw.strip())
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise BadUrl("invalid_url", raw) from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise BadUrl("unsupported_scheme" if scheme else "invalid_url", raw)
    host = (parts.hostname or "").rstrip(".")
    if not host or any(c.isspace() for c in host):
        raise BadUrl("invalid_url", raw)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = parts.path or "/"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not _is_tracking(k)]
        if len(kept) != len(pairs):
            query = urlencode(kept)
    return NormalisedUrl(urlunsplit((scheme, netloc, path, query, "")), host, path)


class UrlFilter:
    """Drops links that WebText never fetched: blocked domains and non-article file types.

    Hosts the crawl config names in `allow` or `resolve` always pass: they are the operator's own.
    """

    def __init__(self, source: SourceConfig, crawl: CrawlConfig):
        self._blocked = frozenset(source.blocked_domains)
        self._extensions = frozenset(source.blocked_extensions)
        self._trusted = frozenset(crawl.resolve) | frozenset(
            entry.rpartition(":")[0].strip("[]").lower() for entry in crawl.allow if "/" not in entry
        )

    def _blocked_domain(self, host: str) -> bool:
        # Walk up the labels: `i.imgur.com` matches `imgur.com`.
        labels = host.split(".")
        return any(".".join(labels[i:]) in self._blocked for i in range(len(labels)))

    def reason(self, url: NormalisedUrl) -> str | None:
        """The filter reason for `url`, or None when it may be fetched."""
        if url.host in self._trusted:
            return None
        if self._blocked_domain(url.host):
            return "blocked_domain"
        extension = posixpath.splitext(url.path)[1].lower()
        if extension in self._extensions:
            return "blocked_extension"
        return None
