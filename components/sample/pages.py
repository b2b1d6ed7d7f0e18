"""The pages of the sample web, kind by kind, at stable fake hostnames.

Hosts under `.sample.test` (a reserved TLD) cannot collide with the real web; `en.wikipedia.org`
is the one real name, because the Wikipedia filter matches it. Plain articles rotate over three
English sites; each special kind sits where such a page would plausibly be.
"""

from __future__ import annotations

import gzip
import re
from html import escape

from webtext.components.config import SampleConfig
from webtext.components.errors import ConfigError
from webtext.components.sample import furniture
from webtext.components.sample.furniture import Outlet
from webtext.components.sample.prose import Article, handwritten, stdlib_articles
from webtext.components.sample.site import DISALLOWED_PREFIX, Page, Site, Stream

NEWS = Outlet("news.sample.test", "The Sample Herald", "News from the sample valley",
              ("World", "Politics", "Science", "Technology", "Opinion"))
BLOG = Outlet("blog.sample.test", "Notes from the Workshop", "A blog about building things",
              ("Archive", "Projects", "Reading list", "About"))
MAGAZINE = Outlet("magazine.sample.test", "Long Reads Monthly", "Features worth your evening",
                  ("Features", "Essays", "Interviews", "Reviews"))
ARCHIVE = Outlet("archive.sample.test", "The Old Town Archive", "Stories since 1999",
                 ("Index", "Letters", "Photos"), comments=False)
EUROPA = Outlet("europa.sample.test", "Europa Notizie", "Nachrichten, nouvelles, noticias",
                ("Deutsch", "Français", "Español"))
ENCYCLOPEDIA = Outlet("encyclopedia.sample.test", "Sample Encyclopedia", "", ())
# Plain http, as Reddit links of its day often were: the sample server speaks no TLS.
WIKIPEDIA = Outlet("en.wikipedia.org", "Wikipedia", "", ())
SAMPLE_HOSTS: tuple[str, ...] = tuple(
    o.host for o in (NEWS, BLOG, MAGAZINE, ARCHIVE, EUROPA, ENCYCLOPEDIA, WIKIPEDIA)
)
ARTICLE_PATHS = {NEWS: "/2019/05/", BLOG: "/posts/", MAGAZINE: "/features/"}

OVERSIZED_BYTES = 12 * 1024 * 1024  # past a 10 MiB per-page cap with room to spare
SLOW_PIECES, SLOW_PAUSE = 60, 1.0  # one piece a second for a minute: past any per-page deadline
EXTRA_ARTICLES = 6  # prose articles the special kinds use, taken before the plain articles
SHORT_PARAGRAPH = (  # exactly 20 words
    "Road works on the harbour bridge will close two lanes from Monday until the end of the "
    "month, officials said."
)
SPAM_LINES = (
    "Best cheap watches online, cheap watches discount, buy cheap watches now.",
    "Cheap watches free shipping. Cheap watches best price. Cheap watches sale today!",
    "Click here for cheap watches, cheap watches deals and cheap watches coupons.",
)
SPAM_REPEATS = 40
FOREIGN_TITLES = {
    "de": ("Stadtbibliothek öffnet nach Umbau wieder", "/de/stadtbibliothek-wieder-geoeffnet"),
    "fr": ("Le marché du samedi fête ses cent ans", "/fr/le-marche-fete-ses-cent-ans"),
    "es": ("El puerto celebra su fiesta del mar", "/es/fiesta-del-mar-en-el-puerto"),
}
UTF8 = ("Content-Type", "text/html; charset=utf-8")


def slug(title: str) -> str:
    """A URL path segment for `title`: lower-case ASCII words joined by hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60].rstrip("-")


def _text(paragraphs: tuple[str, ...]) -> str:
    return "\n\n".join(paragraphs)


def _article_page(
    outlet: Outlet, path: str, kind: str, article: Article, seed: int,
    related: tuple[tuple[str, str], ...] = (), duplicate_of: str | None = None,
) -> Page:
    html = furniture.render(outlet, title=article.title, paragraphs=article.paragraphs, seed=seed,
                            related=related, canonical=outlet.url(path))
    return Page(outlet.url(path), kind, article.title, html.encode(),
                text=_text(article.paragraphs), duplicate_of=duplicate_of)


def _plain(articles: tuple[Article, ...]) -> list[Page]:
    """Articles rotating over the English sites, each linking to three others on its site."""
    outlets = list(ARTICLE_PATHS)
    places = []
    for i, article in enumerate(articles):
        outlet = outlets[i % len(outlets)]
        places.append((outlet, f"{ARTICLE_PATHS[outlet]}{slug(article.title)}-{i + 1}"))
    pages = []
    for i, (article, (outlet, path)) in enumerate(zip(articles, places)):
        siblings = [j for j in range(len(articles)) if j != i and places[j][0] is outlet][:3]
        related = tuple((articles[j].title, places[j][1]) for j in siblings)
        pages.append(_article_page(outlet, path, "article", article, i, related))
    return pages


def _near_duplicate(article: Article) -> Article:
    """The story trimmed by an editor: every 12th sentence dropped, a note added (~90% overlap)."""
    paragraphs, index = [], 0
    for paragraph in article.paragraphs:
        kept = []
        for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z\"“])", paragraph):
            if index % 12 != 5:
                kept.append(sentence)
            index += 1
        if kept:
            paragraphs.append(" ".join(kept))
    note = "Updated: this story was revised after publication to correct several details."
    return Article(article.title, (note, *paragraphs), article.source)


def _low_quality() -> list[Page]:
    spam = tuple(SPAM_LINES[i % len(SPAM_LINES)] for i in range(SPAM_REPEATS * len(SPAM_LINES)))
    pages = []
    for outlet, path, kind, title, paragraphs in (
        (NEWS, "/sections/archive", "boilerplate_only", "Archive of all stories", ()),
        (NEWS, "/2019/05/harbour-bridge-lane-closures", "very_short",
         "Harbour bridge lane closures", (SHORT_PARAGRAPH,)),
        (BLOG, "/posts/best-cheap-watches-discount", "repetitive_spam",
         "Best cheap watches discount", spam),
    ):
        related = tuple((s, f"/{s.lower()}/") for s in outlet.sections)
        html = furniture.render(outlet, title=title, paragraphs=paragraphs, seed=len(pages),
                                related=related)
        pages.append(Page(outlet.url(path), kind, title, html.encode(), text=_text(paragraphs)))
    return pages


def _foreign() -> list[Page]:
    pages = []
    for i, (lang, (title, path)) in enumerate(FOREIGN_TITLES.items()):
        paragraphs = handwritten()[lang]
        html = furniture.render(EUROPA, title=title, paragraphs=paragraphs, seed=i, lang=lang)
        pages.append(Page(EUROPA.url(path), "non_english", title, html.encode(),
                          text=_text(paragraphs), lang=lang))
    return pages


def _encyclopedia(article: Article) -> list[Page]:
    """A Wikipedia article and a mirror of it on a sample host that names it as canonical."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", article.title.split(":")[-1]).strip("_")
    wiki_url = WIKIPEDIA.url(f"/wiki/{name}")
    wiki = furniture.render_wikipedia(article.title, article.paragraphs)
    mirror = furniture.render_wikipedia(article.title, article.paragraphs, wiki_url,
                                        ENCYCLOPEDIA.name)
    text = _text(article.paragraphs)
    return [
        Page(wiki_url, "wikipedia", article.title, wiki.encode(), text=text),
        Page(ENCYCLOPEDIA.url(f"/wiki/{name}"), "wikipedia_canonical", article.title,
             mirror.encode(), text=text, duplicate_of=wiki_url),
    ]


def _failures() -> list[Page]:
    """Pages a crawl fetches but cannot use: a 404, a 500 and a PDF that hides its type."""
    def error(outlet: Outlet, title: str) -> bytes:
        return furniture.render(outlet, title=title, paragraphs=(), seed=0).encode()

    pdf = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
           b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
           b"trailer << /Root 1 0 R >>\n%%EOF\n")
    return [
        Page(NEWS.url("/2019/04/story-that-was-removed"), "not_found",
             "Council approves the harbour budget", error(NEWS, "Page not found"), status=404),
        Page(MAGAZINE.url("/features/database-outage"), "server_error",
             "Why our database went down", error(MAGAZINE, "Internal Server Error"), status=500),
        Page(NEWS.url("/files/annual-report-2019"), "non_html", "Annual report 2019", pdf,
             headers=(("Content-Type", "application/pdf"),)),
    ]


def _redirects(target: Page) -> list[Page]:
    def moved(url: str, kind: str, title: str, location: str, duplicate_of: str | None = None) -> Page:
        body = f'<html><body><p>Moved to <a href="{location}">{location}</a>.</p></body></html>\n'
        return Page(url, kind, title, body.encode(), status=301,
                    headers=(UTF8, ("Location", location)), duplicate_of=duplicate_of)

    first, second = BLOG.url("/moved/first"), BLOG.url("/moved/second")
    return [
        moved(NEWS.url(f"/go/{slug(target.title)}"), "redirect", target.title, target.url,
              duplicate_of=target.url),
        moved(first, "redirect_loop", "Our new address", second),
        moved(second, "redirect_loop", "Our old address", first),
    ]


def _encoded(zipped: Article, old: Article) -> list[Page]:
    """An article sent gzip-compressed, and an old site's article sent as ISO-8859-1."""
    html = furniture.render(BLOG, title=zipped.title, paragraphs=zipped.paragraphs, seed=7)
    old = Article(old.title, (handwritten()["en-accents"][0], *old.paragraphs), old.source)
    latin1 = furniture.render(ARCHIVE, title=old.title, paragraphs=old.paragraphs, seed=3,
                              charset="iso-8859-1")
    return [
        Page(BLOG.url(f"/posts/{slug(zipped.title)}"), "gzip", zipped.title,
             gzip.compress(html.encode(), mtime=0), headers=(UTF8, ("Content-Encoding", "gzip")),
             text=_text(zipped.paragraphs)),
        # Characters outside Latin-1 (typographic quotes) become character references, as on
        # old sites, so the text a browser shows is still exactly `text`.
        Page(ARCHIVE.url(f"/1999/{slug(old.title)}"), "latin1", old.title,
             latin1.encode("iso-8859-1", "xmlcharrefreplace"),
             headers=(("Content-Type", "text/html; charset=iso-8859-1"),),
             text=_text(old.paragraphs)),
    ]


def _oversized(article: Article) -> Page:
    """The article, then its paragraphs again and again until the page is past OVERSIZED_BYTES."""
    html = furniture.render(MAGAZINE, title=article.title, paragraphs=article.paragraphs, seed=5)
    head, end, tail = html.partition("</article>")
    head_b, tail_b = head.encode(), (end + tail).encode()
    unit = "".join(f"<p>{escape(p)}</p>\n" for p in article.paragraphs).encode()
    count = -(-(OVERSIZED_BYTES - len(head_b) - len(tail_b)) // len(unit))
    return Page(MAGAZINE.url("/features/the-complete-archive"), "oversized", article.title,
                Stream(((head_b, 1), (unit, count), (tail_b, 1))))


def _slow(article: Article) -> Page:
    """An article cut into SLOW_PIECES pieces sent SLOW_PAUSE apart."""
    html = furniture.render(MAGAZINE, title=article.title, paragraphs=article.paragraphs, seed=4)
    html = html.encode()
    size = -(-len(html) // SLOW_PIECES)
    pieces = tuple((html[i:i + size], 1) for i in range(0, len(html), size))
    return Page(MAGAZINE.url(f"/features/{slug(article.title)}"), "slow", article.title,
                Stream(pieces, SLOW_PAUSE), text=_text(article.paragraphs))


def build_site(config: SampleConfig) -> Site:
    """The sample web: `config.articles` plain articles plus one page (a few for some) per kind."""
    pool = stdlib_articles(config.articles + EXTRA_ARTICLES)
    if config.articles + EXTRA_ARTICLES > len(pool):
        raise ConfigError(
            f"sample.articles={config.articles}: the prose of this Python install supports at most "
            f"{len(pool) - EXTRA_ARTICLES} articles; lower sample.articles"
        )
    wiki, zipped, old, private, slow, big = pool[:EXTRA_ARTICLES]
    articles = pool[EXTRA_ARTICLES:EXTRA_ARTICLES + config.articles]
    plain = _plain(articles)
    # Not plain[0]: its link sits at the karma threshold, and each copy's link must have less karma.
    # Plain articles rotate over news, blog, magazine: each copy lands on another host than its original.
    first, second, third = 2, 1, 4
    pages = [
        *plain,
        _article_page(BLOG, f"/posts/{slug(articles[first].title)}-repost", "exact_duplicate",
                      articles[first], 11, duplicate_of=plain[first].url),
        _article_page(MAGAZINE, f"/features/{slug(articles[second].title)}-updated",
                      "near_duplicate", _near_duplicate(articles[second]), 12,
                      duplicate_of=plain[second].url),
        *_low_quality(),
        *_foreign(),
        *_encyclopedia(wiki),
        _article_page(NEWS, f"{DISALLOWED_PREFIX}{slug(private.title)}", "robots_disallowed",
                      private, 13),
        *_failures(),
        *_redirects(plain[third]),
        _oversized(big),
        *([_slow(slow)] if config.slow_pages else []),
        *_encoded(zipped, old),
    ]
    return Site(config, tuple(pages))
