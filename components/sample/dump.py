"""The sample's Reddit dump: one submission per sample page, plus the cases real dumps contain.

Lines use Pushshift's field names and its quirks: scores at and around the karma threshold, a null
score, `created_utc` as a string, self posts, NSFW posts, a repeated id, URL spellings that
normalise to one page, missing and null URLs, links to blocked hosts, extensions and schemes, and a
few lines that are not JSON objects. Each line carries the source stage's expected fate, written
per case, with the reason names the source stage records.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import zstandard

from webtext.components.sample.pages import slug
from webtext.components.sample.site import EXPECTED, Site

SEED = 20190501  # fixes the line order, authors, subreddits and scores
BASE_UTC = 1556668800  # 2019-05-01T00:00:00Z: the sample's submissions span that day
STEP_UTC = 617  # seconds between consecutive submissions
BASE_ID = int("bj0000", 36)  # Reddit's submission ids from May 2019 are near this
ZSTD_LEVEL = 19  # fixed, so a rebuild is byte-identical
SUBREDDITS = ("news", "worldnews", "programming", "Python", "technology", "science", "europe")
AUTHORS = ("throwaway_4821", "civic_minded", "gnu_emacs_fan", "marmalade_sky", "lurker_no_more")
NO_URL = object()  # marks the submission whose record has no `url` key at all
# (case, expected source fate, url, title, fields that differ from an ordinary link post)
PLANTED: tuple[tuple[str, str, object, str, dict], ...] = (
    ("low_score", "not_selected:low_score", "http://news.sample.test/2019/05/unpopular-story-1",
     "A story few people liked", {"score": 2}),
    ("low_score", "not_selected:low_score", "http://news.sample.test/2019/05/unpopular-story-2",
     "Another story few people liked", {"score": 0}),
    ("low_score", "not_selected:low_score", "http://news.sample.test/2019/05/unpopular-story-3",
     "A story people disliked", {"score": -4}),
    ("no_score", "not_selected:no_score", "http://magazine.sample.test/features/score-unknown",
     "Score lost in the archive", {"score": None}),
    ("self_post", "not_selected:self_post", None, "What are you reading this week?",
     {"is_self": True, "selftext": "Share the best long article you read this week, and why."}),
    ("over_18", "not_selected:over_18", "http://blog.sample.test/posts/after-dark", "After dark",
     {"over_18": True}),
    ("no_url", "not_selected:no_url", NO_URL, "A link post that lost its link", {}),
    ("null_url", "not_selected:no_url", None, "A link post with a null link", {}),
    ("blocked_domain", "filtered:blocked_domain", "https://i.imgur.com/abc.jpg", "Look", {}),
    ("blocked_domain", "filtered:blocked_domain", "https://www.youtube.com/watch?v=sample00001",
     "Watch this", {}),
    ("blocked_domain", "filtered:blocked_domain",
     "https://www.reddit.com/r/Python/comments/bj0abc/a_discussion_elsewhere/", "Talk", {}),
    ("blocked_extension", "filtered:blocked_extension", "http://news.sample.test/media/photo.jpg",
     "A photo, not an article", {}),
    ("blocked_extension", "filtered:blocked_extension", "http://blog.sample.test/files/paper.pdf",
     "A paper, not an article", {}),
    ("unsupported_scheme", "filtered:unsupported_scheme", "mailto:editor@news.sample.test",
     "Write to the editor", {}),
    ("unsupported_scheme", "filtered:unsupported_scheme", "ftp://files.sample.test/pub/notes.txt",
     "Notes on an FTP server", {}),
    ("invalid_url", "filtered:invalid_url", "http:///no-host-here", "A link without a host", {}),
)
MALFORMED = (  # a line cut short, a JSON array instead of an object, an empty line
    b'{"id": "bj0zzz", "url": "http://news.sample.test/2019/05/cut-off", "sco',
    b'["bj0zzy", "http://news.sample.test/2019/05/an-array", 12]',
    b"",
)


@dataclass(frozen=True)
class DumpLine:
    """One line of the dump and what the source stage should make of it."""

    raw: bytes  # without the newline
    case: str  # why the line is there: "page", "low_score", "url_variant", "malformed", ...
    expected_source: str  # "pending", "filtered:<reason>" or "not_selected:<reason>"
    id: str | None = None
    url: str | None = None
    page: str | None = None  # the sample page this line's URL normalises to, if any


@dataclass
class _Entry:
    """A line being assembled; id, time and permalink follow from its final place in the file."""

    case: str
    expected: str
    record: dict | None = None  # None for a malformed line, which has `raw` instead
    raw: bytes = b""
    page: str | None = None
    created_as_string: bool = False
    repeats: _Entry | None = None  # a re-scraped copy of another entry: same id, newer score
    final: dict = field(default_factory=dict)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"


def _submission(url: object, title: str, rng: random.Random, **fields: object) -> dict:
    record = {
        "author": rng.choice(AUTHORS), "is_self": False, "num_comments": rng.randint(0, 400),
        "over_18": False, "score": rng.randint(3, 2500), "selftext": "",
        "subreddit": rng.choice(SUBREDDITS), "title": title, "url": url,
    }
    record.update(fields)
    if url is NO_URL:
        del record["url"]
    return record


def _variants(url: str) -> list[str]:
    """Spellings of `url` that URL normalisation must fold into it."""
    parts = urlsplit(url)
    return [
        f"{parts.scheme.upper()}://{(parts.hostname or '').upper()}:80{parts.path}",
        f"{url}#comments",
        f"{url}?utm_source=reddit&utm_medium=social&utm_campaign=may",
        f"{url}?fbclid=IwAR2sample0fbclid&gclid=Cj0KCQjwsample",
    ]


def _entries(site: Site, rng: random.Random) -> list[_Entry]:
    entries = [_Entry("page", EXPECTED[p.kind].source, _submission(p.url, p.title, rng), page=p.url)
               for p in site.pages]
    plain = [e for e, p in zip(entries, site.pages) if p.kind == "article"]
    plain[0].record["score"], plain[0].case = 3, "score_at_threshold"
    # Dedup keeps the copy with the most karma: copies get the least a selected link has, their
    # originals more, so which one survives is known in advance.
    by_url = {p.url: e for e, p in zip(entries, site.pages)}
    for entry, page in zip(entries, site.pages):
        if page.duplicate_of in by_url:
            entry.record["score"] = 3
            original = by_url[page.duplicate_of].record
            original["score"] = max(original["score"], 4)
    for entry in plain[1:3]:
        entry.created_as_string, entry.case = True, "created_utc_string"
    repeated = plain[3 % len(plain)]
    entries.append(_Entry("duplicate_id", "pending", page=repeated.page, repeats=repeated))
    target = plain[4 % len(plain)].page
    entries += [_Entry("url_variant", "pending", _submission(v, "Same story", rng), page=target)
                for v in _variants(target)]
    entries += [_Entry(case, fate, _submission(url, title, rng, **fields))
                for case, fate, url, title, fields in PLANTED]
    entries += [_Entry("malformed", "not_selected:malformed", raw=raw) for raw in MALFORMED]
    return entries


def _finish(entry: _Entry, position: int) -> dict:
    """The record as written, its id, time, permalink and domain following from `position`."""
    if entry.repeats is not None:
        seen = entry.repeats.final
        return {**seen, "score": seen["score"] + 7, "num_comments": seen["num_comments"] + 2}
    record = dict(entry.record)
    sid, sub = _base36(BASE_ID + position), record["subreddit"]
    created = BASE_UTC + position * STEP_UTC
    permalink = f"/r/{sub}/comments/{sid}/{slug(record['title']).replace('-', '_')[:50]}/"
    if record["is_self"]:
        record["url"] = f"https://www.reddit.com{permalink}"
        domain = f"self.{sub}"
    else:
        url = record.get("url")
        domain = re.sub(r"^www\.", "", urlsplit(url).hostname or "") if isinstance(url, str) else ""
    record.update(id=sid, created_utc=str(created) if entry.created_as_string else created,
                  domain=domain, permalink=permalink,
                  subreddit_id=f"t5_{_base36(1000 + SUBREDDITS.index(sub))}")
    return dict(sorted(record.items()))


def dump_lines(site: Site) -> tuple[DumpLine, ...]:
    """Every line of the sample dump, in file order, with its expected source fate."""
    rng = random.Random(SEED)
    entries = _entries(site, rng)
    rng.shuffle(entries)
    for copy in [e for e in entries if e.repeats is not None]:
        i, j = entries.index(copy), entries.index(copy.repeats)
        if i < j:  # a copy comes after the line it repeats
            entries[i], entries[j] = entries[j], entries[i]
    if entries[0].record is None:  # open with a readable line, as format sniffers expect
        entries.append(entries.pop(0))
    lines = []
    for position, entry in enumerate(entries):
        if entry.record is None and entry.repeats is None:
            lines.append(DumpLine(entry.raw, entry.case, entry.expected))
            continue
        entry.final = _finish(entry, position)
        raw = json.dumps(entry.final, ensure_ascii=False, separators=(",", ":")).encode()
        lines.append(DumpLine(raw, entry.case, entry.expected, entry.final["id"],
                              entry.final.get("url"), entry.page))
    return tuple(lines)


def encode_dump(lines: tuple[DumpLine, ...]) -> bytes:
    """The dump file's bytes: NDJSON, one line per entry, zstd-compressed at a fixed level."""
    data = b"".join(line.raw + b"\n" for line in lines)
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data)
