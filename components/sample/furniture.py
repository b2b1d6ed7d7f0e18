"""Page furniture for the sample web: the menus, banners, footers and comments around an article.

Extractors earn their keep by separating an article from this material, so every sample page
carries the usual kinds of it, worded differently per site, and the boilerplate-only page carries
nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Outlet:
    """One sample website: its host, name and the labels of its furniture."""

    host: str
    name: str
    tagline: str
    sections: tuple[str, ...]
    scheme: str = "http"
    lang: str = "en"
    comments: bool = True

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}{path}"


FOOTER_LINKS = ("About us", "Contact", "Privacy policy", "Terms of use", "Advertise")
COOKIE_NOTICE = (
    "We use cookies to remember your settings and to measure how our pages are read. "
    "By continuing to browse you agree to our use of cookies."
)
COMMENTERS = ("quietfox", "m_ellis", "harbourlights", "tk421", "oldbookworm", "rainy_days")
COMMENTS = (
    "Great write-up, thanks for sharing.",
    "I had no idea it worked like this.",
    "This is the clearest explanation I have read so far.",
    "Bookmarked for later. The second part was especially useful.",
    "Not sure I agree with all of it, but a good read.",
    "Could you write a follow-up with more examples?",
    "Came here from Reddit. Worth the click.",
    "Finally someone explains the details instead of hand-waving.",
)
AUTHORS = ("Ada Whitfield", "Jonas Brandt", "Priya Natarajan", "Lucas Moreau", "Hanna Okafor")


def _nav(outlet: Outlet) -> str:
    items = "".join(f'<li><a href="/{s.lower().replace(" ", "-")}/">{escape(s)}</a></li>'
                    for s in outlet.sections)
    return f'<nav class="menu"><ul><li><a href="/">Home</a></li>{items}</ul></nav>'


def _header(outlet: Outlet) -> str:
    return (
        f'<header class="site-header"><a class="logo" href="/">{escape(outlet.name)}</a>'
        f'<p class="tagline">{escape(outlet.tagline)}</p>'
        '<form class="search" action="/search"><input name="q" placeholder="Search"></form>'
        "</header>"
    )


def _cookie_banner() -> str:
    return (
        f'<div class="cookie-banner" role="dialog"><p>{COOKIE_NOTICE}</p>'
        "<button>Accept</button> <button>Settings</button></div>"
    )


def _footer(outlet: Outlet) -> str:
    links = " | ".join(f'<a href="/{t.lower().replace(" ", "-")}">{t}</a>' for t in FOOTER_LINKS)
    return (
        f'<footer class="site-footer"><p>{links}</p>'
        f"<p>&copy; 2019 {escape(outlet.name)}. All rights reserved.</p>"
        '<p>Follow us: <a href="/rss">RSS</a> <a href="/newsletter">Newsletter</a></p></footer>'
    )


def _related(related: tuple[tuple[str, str], ...], heading: str) -> str:
    if not related:
        return ""
    items = "".join(f'<li><a href="{escape(u)}">{escape(t)}</a></li>' for t, u in related)
    return f'<aside class="related"><h2>{escape(heading)}</h2><ul>{items}</ul></aside>'


def _comments(seed: int) -> str:
    picked = [(COMMENTERS[(seed + i) % len(COMMENTERS)], COMMENTS[(seed * 3 + i) % len(COMMENTS)])
              for i in range(2 + seed % 3)]
    items = "".join(
        f'<li class="comment"><span class="user">{user}</span> <p>{escape(text)}</p>'
        '<a class="reply" href="#reply">Reply</a></li>'
        for user, text in picked
    )
    return f'<section class="comments"><h2>{len(picked)} comments</h2><ol>{items}</ol></section>'


def render(
    outlet: Outlet,
    *,
    title: str,
    paragraphs: tuple[str, ...],
    seed: int,
    related: tuple[tuple[str, str], ...] = (),
    canonical: str | None = None,
    lang: str | None = None,
    charset: str = "utf-8",
) -> str:
    """A complete HTML page: furniture around `paragraphs` (none for a boilerplate-only page).

    `seed` picks the byline and the comments, so pages of one site differ but rebuild identically.
    """
    head = [f'<meta charset="{charset}">',
            f"<title>{escape(title)} - {escape(outlet.name)}</title>",
            '<meta name="viewport" content="width=device-width, initial-scale=1">']
    if canonical:
        head.append(f'<link rel="canonical" href="{escape(canonical)}">')
    body = [_cookie_banner(), _header(outlet), _nav(outlet), "<main>"]
    if paragraphs:
        byline = f"By {AUTHORS[seed % len(AUTHORS)]} &middot; May {1 + seed % 28}, 2019"
        text = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
        body.append(f'<article><h1>{escape(title)}</h1><p class="byline">{byline}</p>\n'
                    f"{text}\n</article>")
        body.append('<p class="share">Share: <a href="#">Facebook</a> <a href="#">Twitter</a> '
                    '<a href="#">Email</a></p>')
    else:
        body.append(f"<h1>{escape(title)}</h1>")
    body.append(_related(related, "Related stories" if paragraphs else "Browse"))
    if paragraphs and outlet.comments:
        body.append(_comments(seed))
    body += ["</main>", _footer(outlet)]
    return (f'<!DOCTYPE html>\n<html lang="{lang or outlet.lang}">\n<head>\n' + "\n".join(head)
            + "\n</head>\n<body>\n" + "\n".join(b for b in body if b) + "\n</body>\n</html>\n")


def render_wikipedia(title: str, paragraphs: tuple[str, ...], canonical: str | None = None,
                     mirror: str = "") -> str:
    """A page in the shape of a Wikipedia article, or of a mirror of one that names its source."""
    site = escape(mirror or "Wikipedia")
    head = f'<meta charset="utf-8">\n<title>{escape(title)} - {site}</title>'
    if canonical:
        head += f'\n<link rel="canonical" href="{escape(canonical)}">'
    text = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    source = f"{site}: mirrored from Wikipedia" if mirror else f"From {site}, the free encyclopedia"
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n{head}\n</head>\n<body>\n'
        '<div id="mw-navigation"><ul><li><a href="/wiki/Main_Page">Main page</a></li>'
        '<li><a href="/wiki/Special:Random">Random article</a></li>'
        '<li><a href="/wiki/Help:Contents">Help</a></li></ul></div>\n'
        f'<div id="content"><h1 id="firstHeading">{escape(title)}</h1>'
        f'<div id="siteSub">{source}</div>\n<div id="mw-content-text">\n{text}\n</div></div>\n'
        '<div id="footer"><p>Text is available under the Creative Commons Attribution-ShareAlike '
        'License; additional terms may apply.</p>'
        '<p><a href="/wiki/Privacy_policy">Privacy policy</a> '
        '<a href="/wiki/About">About</a> <a href="/wiki/Disclaimers">Disclaimers</a></p></div>\n'
        "</body>\n</html>\n"
    )
