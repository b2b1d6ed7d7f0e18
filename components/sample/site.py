"""The sample web's model: pages, their kinds, and what each stage is expected to make of a kind.

One in-memory `Site` is the single source of truth: the loopback server answers from it, the dump
links to it and the ground truth describes it. Expectations are written per page kind in
`EXPECTED`, never computed by running the pipeline, so a test comparing the two means something.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

from webtext.components.config import SampleConfig

DISALLOWED_PREFIX = "/private/"  # robots.txt disallows it, for every agent, on the hosts using it


@dataclass(frozen=True)
class Expectation:
    """What the source, crawl and extract stages should record for a page's URL."""

    source: str  # "pending" or "filtered:<reason>"
    crawl: str  # a crawl terminal status, or "filtered" when never fetched
    # "kept", the filter that drops the document ("language", "gopher_repetition", ...; a rule set's
    # name matches any of its rules), "duplicate", or "none" when the crawl archived no page
    extract: str = "none"


KEPT = Expectation("pending", "ok", "kept")
EXPECTED: dict[str, Expectation] = {
    "article": KEPT,  # plain articles: `sample.articles` of them
    # an article's text again, at another URL with other furniture; its link has less karma
    "exact_duplicate": Expectation("pending", "ok", "duplicate"),
    # an article with a few sentences dropped and one added (~90% overlap); less karma too
    "near_duplicate": Expectation("pending", "ok", "duplicate"),
    # menus, banners and footer, no article: at most its heading is extracted
    "boilerplate_only": Expectation("pending", "ok", "too_short"),
    "very_short": Expectation("pending", "ok", "too_short"),  # a single 20-word paragraph
    # the same few keyword-stuffed lines, over and over
    "repetitive_spam": Expectation("pending", "ok", "gopher_repetition"),
    "non_english": Expectation("pending", "ok", "language"),  # German, French and Spanish
    # The configs resolve en.wikipedia.org to the sample server, which exempts it from the domain
    # blocklist: the page is crawled so that extract's Wikipedia filter has something to remove.
    "wikipedia": Expectation("pending", "ok", "wikipedia"),
    # a mirror whose canonical link points at en.wikipedia.org
    "wikipedia_canonical": Expectation("pending", "ok", "wikipedia"),
    "robots_disallowed": Expectation("pending", "robots"),
    "not_found": Expectation("pending", "http_error"),
    "server_error": Expectation("pending", "http_error"),
    "slow": Expectation("pending", "timeout"),  # only with `sample.slow_pages`
    # 301 to an article on another sample host: the same text as that article's own URL, less karma
    "redirect": Expectation("pending", "ok", "duplicate"),
    "redirect_loop": Expectation("pending", "redirect_limit"),
    "oversized": Expectation("pending", "too_large"),
    "non_html": Expectation("pending", "not_html"),  # a PDF at a path without an extension
    "latin1": KEPT,  # served as ISO-8859-1
    "gzip": KEPT,  # served with Content-Encoding: gzip
}
KINDS = tuple(EXPECTED)


@dataclass(frozen=True)
class Stream:
    """A body sent piece by piece: each (bytes, times) segment in order, pausing between pieces.

    It lets a 12 MB page be served without being held in memory, and a slow one trickle.
    """

    segments: tuple[tuple[bytes, int], ...]
    pause: float = 0.0  # seconds between pieces

    @property
    def length(self) -> int:
        return sum(len(data) * times for data, times in self.segments)

    def pieces(self, block: int = 1 << 16) -> Iterator[bytes]:
        """The body in order; without a pause, repeats are batched into blocks of ~`block` bytes."""
        for data, times in self.segments:
            per = 1 if self.pause else max(1, block // len(data))
            while times > 0:
                yield data * min(per, times)
                times -= per


@dataclass(frozen=True)
class Page:
    """One URL of the sample web and the response it gets."""

    url: str
    kind: str
    title: str
    body: bytes | Stream
    status: int = 200
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/html; charset=utf-8"),)
    text: str = ""  # the main text a perfect extractor returns; empty where the page has none
    lang: str = "en"
    duplicate_of: str | None = None  # the URL whose text this page repeats

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


@dataclass(frozen=True)
class Site:
    """All pages of the sample web for one config, addressable by (host, path)."""

    config: SampleConfig
    pages: tuple[Page, ...]

    @cached_property
    def _index(self) -> dict[tuple[str, str], Page]:
        return {(p.host, p.path): p for p in self.pages}

    def page(self, host: str, path: str) -> Page | None:
        return self._index.get((host.lower(), path))

    def robots_txt(self, host: str) -> str:
        """Allow everything, except the disallowed prefix on a host that has a page under it."""
        blocked = any(p.host == host and p.kind == "robots_disallowed" for p in self.pages)
        return f"User-agent: *\nDisallow: {DISALLOWED_PREFIX if blocked else ''}\n"
