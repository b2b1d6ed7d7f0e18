"""One archived page to its main text: undo the transfer coding, decode the characters, extract.

Two built-in extractors, chosen by `extract.extractor`. Both were scored on the scrapinghub article
benchmark (119-page split, token 4-gram shingles; `benchmarks/extract_quality.py`):

- trafilatura with `favor_precision` and no comments: F1 0.958, ~45 pages/s on one core. Its
  default settings score 0.949 and keep reader comments, which are not the article.
- resiliparse main-content without alt texts, comment sections or post metadata: F1 0.932 at
  ~300 pages/s (0.896 with only `main_content=True`: image alt texts, comments and bylines are
  all counted as extra text against the article).

An extractor may also be named `module:function`, a callable `(html, url) -> Extracted`: the
extension point for custom extractors, and how tests plant pathological pages in the pool.

Title and canonical URL come from the same parse the extractor uses (one lxml tree for
trafilatura, one Lexbor tree for resiliparse), so they cost a few tree lookups, not a second parse.
"""

from __future__ import annotations

import codecs
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

from webtext.components.crawl.decoding import BoundedDecoder, detect_charset
from webtext.components.errors import ConfigError

BUILT_IN = ("trafilatura", "resiliparse")
# The benchmark's best settings (module docstring); benchmarks/extract_quality.py runs them bare too.
TRAFILATURA_OPTIONS = {"favor_precision": True, "include_comments": False}
RESILIPARSE_OPTIONS = {"main_content": True, "alt_texts": False, "comments": False, "post_meta": False}


@dataclass(frozen=True)
class Extracted:
    text: str  # main text, paragraphs separated by newlines as the extractor gives them; "" when none
    title: str | None
    canonical_url: str | None  # <link rel="canonical"> made absolute against the page URL


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


def decode_body(body: bytes, headers: list[tuple[str, str]], charset: str | None, limit: int) -> str:
    """The archived body as text: Content-Encoding undone (at most `limit` bytes), then decoded.

    `charset` is what the crawl recorded; without it the charset is detected as the crawl would.
    Raises `TooLarge` past `limit` and `UnsupportedEncoding` for a coding the crawl never asks for.
    """
    decoder = BoundedDecoder(_header(headers, "content-encoding"), limit)
    decoder.feed(body)
    data = decoder.body()
    charset = charset or detect_charset(_header(headers, "content-type"), data)
    # Detection reads only the first 64 KiB, so a page whose non-ASCII text starts later is named
    # ASCII (3 of the benchmark's 119 pages). UTF-8 reads every ASCII byte the same and the rest right.
    if codecs.lookup(charset).name == "ascii":
        charset = "utf-8"
    return data.decode(charset, errors="replace")


def extractor_function(name: str) -> Callable[[str, str], Extracted]:
    """The extractor `name` denotes: a built-in, or a `module:function` importable from here.

    trafilatura is imported here, not with this module: it takes 0.4 s, which a worker pays once
    at its start and only when it extracts with trafilatura (resiliparse takes 10 ms).
    """
    if name == "trafilatura":
        import trafilatura  # noqa: F401
        return _trafilatura
    if name == "resiliparse":
        return _resiliparse
    module, _, attribute = name.partition(":")
    if not module or not attribute:
        raise ConfigError(f"extractor {name!r}: use one of {', '.join(BUILT_IN)} or module:function")
    try:
        function = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"extractor {name!r} cannot be loaded: {exc}") from exc
    if not callable(function):
        raise ConfigError(f"extractor {name!r} is not a function")
    return function


def extract(html: str, url: str, extractor: str) -> Extracted:
    """Main text, title and canonical URL of one decoded page."""
    return extractor_function(extractor)(html, url)


def _trafilatura(html: str, url: str) -> Extracted:
    import trafilatura
    from trafilatura.utils import load_html

    tree = load_html(html)  # trafilatura's own parse, so its output matches extract(html) exactly
    if tree is None:
        return Extracted("", None, None)
    title = _clean(tree.findtext(".//title"))
    head = tree.find("head")
    href = base = None
    if head is not None:
        links = head.iterfind("link[@href]")
        href = next((link.get("href") for link in links if _is_canonical(link.get("rel"))), None)
        base_node = head.find("base[@href]")
        base = base_node.get("href") if base_node is not None else None
    # trafilatura copies a tree it is given, so the lookups above saw the page as parsed.
    text = trafilatura.extract(tree, url=url, **TRAFILATURA_OPTIONS)
    return Extracted((text or "").strip(), title, _canonical(url, base, href))


def _resiliparse(html: str, url: str) -> Extracted:
    tree = HTMLTree.parse(html)
    href = base = None
    if tree.head is not None:
        # Selectors, not a loop over the head's links: each step through a Lexbor node collection
        # costs ~0.1 ms, which for the ~20 links of a news page is longer than the extraction.
        link = tree.head.query_selector('link[rel~="canonical" i][href]')
        base_node = tree.head.query_selector("base[href]")
        href = link.getattr("href") if link is not None else None
        base = base_node.getattr("href") if base_node is not None else None
    text = extract_plain_text(tree, **RESILIPARSE_OPTIONS)
    return Extracted(text.strip(), _clean(tree.title), _canonical(url, base, href))


def _clean(title: str | None) -> str | None:
    """A title with its runs of whitespace (often newlines and indentation) made single spaces."""
    collapsed = " ".join((title or "").split())
    return collapsed or None


def _is_canonical(rel: str | None) -> bool:
    return rel is not None and "canonical" in rel.lower().split()


def _canonical(url: str, base: str | None, href: str | None) -> str | None:
    """The head's `rel=canonical` href made absolute (through any `<base>`); None unless http(s).

    Only the head is searched, as HTML specifies and search engines honour: a canonical link in
    the body is usually a widget's, not the page's.
    """
    if href is None or not href.strip():
        return None
    try:
        absolute = urljoin(urljoin(url, base.strip()) if base else url, href.strip())
        parts = urlsplit(absolute)
    except ValueError:  # e.g. a malformed IPv6 host
        return None
    return absolute if parts.scheme in ("http", "https") and parts.hostname else None
