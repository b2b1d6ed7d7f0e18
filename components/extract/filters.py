"""Quality filters: which extracted documents enter the corpus, and why the others do not.

Each filter answers `(keep, reason)`; `judge` runs them in order and returns the first reason, which is
stored and counted. The order is FineWeb's (language, Gopher repetition, Gopher quality, C4, FineWeb)
with the cheap URL and length checks first. The rule sets follow Rae et al. 2021 (Gopher), Raffel et al.
2020 (C4) and Penedo et al. 2024 (FineWeb) as datatrove implements them; where this module counts
differently, the docstring says how and why. Thresholds and their sources live in `components.config`.

Words are counted with `str.split` (`words`): fast, and what the length and ratio rules mean by a word.
The repetition rules and the stop-word count use runs of word characters (`tokens`) instead, so that
"the" and "the," are one word, as they are for a tokenizer.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from webtext.components.config import (
    C4Config,
    FilterConfig,
    FineWebConfig,
    GopherQualityConfig,
    GopherRepetitionConfig,
)
from webtext.components.errors import ConfigError
from webtext.components.extract.language import identify, known_languages

FILTER_NAMES = ("wikipedia", "too_short", "language", "gopher_repetition", "gopher_quality", "c4", "fineweb")

# C4's end marks (. ? ! ") plus the apostrophe datatrove adds and the typographic closing quotes:
# extracted text keeps curly quotes, so a paragraph that ends in a quotation ends in ” rather than ".
TERMINAL_PUNCTUATION = (".", "?", "!", '"', "'", "”", "’")
# Gopher's stop words (Rae et al. 2021, appendix A1).
STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
# Bullet marks; "-" and "*" are how trafilatura and Markdown-like pages render list items.
BULLETS = ("•", "‣", "◦", "▪", "●", "-", "*")
# C4's cookie and terms-of-use notices (the phrase list of T5's c4_utils, kept by datatrove).
POLICY_PHRASES = (
    "terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies",
)

_TOKEN = re.compile(r"\w+")
_LETTER = re.compile(r"[^\W\d_]")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# A sentence ends in a run of . ? ! (and closing quotes or brackets) before a space or the line's end.
_SENTENCE_END = re.compile(r"[.?!]+[\"'”’)\]]*(?=\s|$)")


@dataclass
class Doc:
    """What a filter sees. `text` may be edited by a filter (C4 removes lines)."""

    text: str
    url: str
    final_url: str | None = None  # after redirects
    canonical_url: str | None = None  # <link rel=canonical>, absolute
    lang: str | None = None  # set by the language filter: best language code
    lang_score: float | None = None  # probability of config.language (0..1)


class Filter(Protocol):
    """One rule set: `(True, None)` keeps the document, `(False, reason)` drops it."""

    name: str

    def __call__(self, doc: Doc) -> tuple[bool, str | None]: ...


def words(text: str) -> list[str]:
    """Whitespace-separated words, punctuation attached: what the count and ratio rules count."""
    return text.split()


def tokens(text: str) -> list[str]:
    """Runs of word characters, punctuation dropped: what the repetition and stop-word rules compare."""
    return _TOKEN.findall(text)


def lines(text: str) -> list[str]:
    """Non-empty lines, stripped. Blank lines are paragraph breaks, not lines: counting them would
    halve every per-line ratio of a text whose paragraphs are separated by blank lines."""
    return [line for line in (raw.strip() for raw in text.splitlines()) if line]


def _host(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:  # a malformed URL (an unclosed IPv6 bracket, a bad port) has no usable host
        return None
    return host.rstrip(".") if host else None


class WikipediaFilter:
    """Drops pages served from Wikipedia: GPT-2 removed it from WebText because many evaluation sets
    are built from it. Reddit links reach it through redirects and mirrors that declare it canonical,
    so the final URL (the link itself when there was no redirect) and the canonical link are checked."""

    name = "wikipedia"

    def __init__(self, domains: list[str]):
        self.domains = tuple(domain.lower().strip(".") for domain in domains)

    def __call__(self, doc: Doc) -> tuple[bool, str | None]:
        for url in (doc.final_url or doc.url, doc.canonical_url):
            host = _host(url) if url else None
            if host and any(host == d or host.endswith("." + d) for d in self.domains):
                return False, self.name
        return True, None


class TooShortFilter:
    """Drops documents too short to teach anything (OpenWebText kept documents of 128 tokens or more)."""

    name = "too_short"

    def __init__(self, min_words: int):
        self.min_words = min_words

    def __call__(self, doc: Doc) -> tuple[bool, str | None]:
        if len(words(doc.text)) < self.min_words:
            return False, self.name
        return True, None


class LanguageFilter:
    """Keeps documents in the configured language, recording the best guess and the kept language's
    probability on the document (see `components.extract.language` for what that probability is)."""

    name = "language"

    def __init__(self, language: str, threshold: float):
        if language not in known_languages():
            raise ConfigError(f"extract.filters.language: {language!r} is not a language py3langid knows "
                              f"(use an ISO 639-1 code such as 'en')")
        self.language, self.threshold = language, threshold

    def __call__(self, doc: Doc) -> tuple[bool, str | None]:
        doc.lang, doc.lang_score = identify(doc.text, self.language)
        if doc.lang_score < self.threshold:
            return False, self.name
        return True, None


def _repeats(items: list[str]) -> tuple[int, int]:
    """How many items repeat an earlier one, and their characters."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count, chars = count + 1, chars + len(item)
        else:
            seen.add(item)
    return count, chars


class GopherRepetitionFilter:
    """Drops pages that repeat themselves: boilerplate, spam, generated text (Gopher's table A1).

    Every fraction counts as datatrove does: the characters of what repeats an earlier occurrence (of
    words only, for n-grams) over the text's length. n-grams are of `tokens`, case kept; a token is
    counted once however many repeated n-grams cover it, as Gopher asks. Only a repeated n-gram can be
    a top n-gram, so a short page of distinct words passes.
    """

    name = "gopher_repetition"

    def __init__(self, config: GopherRepetitionConfig):
        self.config = config

    def __call__(self, doc: Doc) -> tuple[bool, str | None]:
        c, text = self.config, doc.text
        size = len(text) or 1
        paragraphs = [p.strip() for p in _PARAGRAPH_BREAK.split(text.strip()) if p.strip()]
        repeated, chars = _repeats(paragraphs)
        if repeated / (len(paragraphs) or 1) > c.dup_para_frac:
            return False, f"{self.name}:dup_para_frac"
        if chars / size > c.dup_para_char_frac:
            return False, f"{self.name}:dup_para_char_frac"
        page_lines = lines(text)
        repeated, chars = _repeats(page_lines)
        if repeated / (len(page_lines) or 1) > c.dup_line_frac:
            return False, f"{self.name}:dup_line_frac"
        if chars / size > c.dup_line_char_frac:
            return False, f"{self.name}:dup_line_char_frac"

        vocabulary: dict[str, int] = {}
        ids = [vocabulary.setdefault(token, len(vocabulary)) for token in tokens(text)]
        length_of = [len(token) for token in vocabulary]
        lengths = [length_of[i] for i in ids]
        # A repeated n-gram contains repeated shorter ones, so once no n-gram repeats, no longer one does.
        for n, limit in sorted(c.top_ngram_char_frac.items()):
            top = Counter(zip(*(ids[k:] for k in range(n)))).most_common(1)
            if not top or top[0][1] == 1:
                break
            gram, count = top[0]
            if count * sum(length_of[i] for i in gram) / size > limit:
                return False, f"{self.name}:top_{n}gram"
        for n, limit in sorted(c.dup_ngram_char_frac.items()):
            chars = _covered_chars(ids, lengths, n)
            if not chars:
                break
            if chars / size > limit:
                return False, f"{self.name}:dup_{n}gram"
        return True, None


def _covered_chars(ids: list[int], lengths: list[int], n: int) -> int:
    """Characters of the tokens covered by n-grams that repeat an earlier n-gram, each token once."""
    seen: set[tuple[int, ...]] = set()
    covered = bytearray(len(ids))
    mark = b"\x01" * n
    for start, gram in enumerate(zip(*(ids[k:] for k in range(n)))):
        if gram in seen:
            covered[start:start + n] = mark
        else:
            seen.add(gram)
    return sum(length for length, hit in zip(lengths, covered) if hit)


class GopherQualityFilter:
    """Drops pages that do not read like prose: too few or too many words, words too short or too long
    (tables of numbers, URLs), many `#` (hashtags) or ellipses (truncated teasers), lists of bullets,
    symbols rather than words, and too few of the function words every English sentence uses.

    Words are `words` (punctuation attached), not datatrove's tokenizer output: a separate "," token
    would count as a word without a letter. Bullet and ellipsis ratios are over non-empty lines.
    """

    name = "gopher_quality"

    def __init__(self, config: GopherQualityConfig):
        self.config = config

    def __call__(self, doc: Doc) -> tuple[bool, str | None]:
        c, text = self.config, doc.text
        page_words = words(text)
        n = len(page_words)
        if not c.min_words <= n <= c.max_words:
            return False, f"{self.name}:word_count"
        if not c.min_mean_word_length <= sum(map(len, page_words)) / (n or 1) <= c.max_mean_word_length:
            return False, f"{self.name}:mean_word_length"
        if text.count("#") / (n or 1) > c.max_symbol_word_ratio:
            return False, f"{self.name}:hash_ratio"
        if (text.count("...") + text.count("…")) / (n or 1) > c.max_symbol_word_ratio:
            return False, f"{self.name}:ellipsis_ratio"
        page_lines = lines(text)
        n_lines = len(page_lines) or 1
        if sum(line.startswith(BULLETS) for line in page_lines) / n_lines > c.max_bullet_lines_ratio:
            return False, f"{self.name}:bullet_lines"
        if sum(line.endswith(("...", "…")) for line in page_lines) / n_lines > c.max_ellipsis_lines_ratio:
            return False, f"{self.name}:ellipsis_lines"
        if sum(not _LETTER.search(word) for word in page_words) / (n or 1) > c.max_non_alpha_words_ratio:
            return False, f"{self.name}:non_alpha_words"
        if sum(token.lower() in STOP_WORDS for token in tokens(text)) < c.min_stop_words:
            return False, f"{self.name}:stop_words"
        return True, None


class C4Filter:
    """C4's cleaning (Raffel et al. 2020): remove lines that are not sentences of prose (no terminal
    punctuation, too few words, "enable javascript" and cookie notices), then drop the page if too
    little prose is left. "lorem ipsum" (placeholder pages) and "{" (code) drop the page wherever they
    appear, as the paper states; T5's code only looks at lines that survived the line rules.

    Sentences are counted with a regular expression rather than NLTK's punkt model, which would have to
    be downloaded; abbreviations ("Dr.", "U.S.") make it count more sentences than punkt, a lenient error.

    A kept page keeps its paragraphs: a kept line follows the previous one after a blank line if the
    original had a blank line anywhere between them, after a single line break otherwise.
    """

    name = "c4"

    def __init__(self, config: C4Config):
        self.config = config

    def __call__(self, doc: Doc) -> tuple[bool, str | None]:
        c = self.config
        if c.lorem_ipsum and "lorem ipsum" in doc.text.lower():
            return False, f"{self.name}:lorem_ipsum"
        if c.curly_brace and "{" in doc.text:
            return False, f"{self.name}:curly_brace"
        parts: list[str] = []
        sentences, separator = 0, ""
        for raw in doc.text.splitlines():
            line = raw.strip()
            if not line:
                separator = "\n\n" if parts else ""
            elif self._keeps(line):
                parts += [separator, line]
                sentences += max(1, len(_SENTENCE_END.findall(line)))
                separator = "\n"
        if not parts:
            return False, f"{self.name}:no_lines"
        if sentences < c.min_sentences:
            return False, f"{self.name}:min_sentences"
        doc.text = "".join(parts)
        return True, None

    def _keeps(self, line: str) -> bool:
        c, lower = self.config, line.lower()
        if c.terminal_punctuation and (not line.endswith(TERMINAL_PUNCTUATION) or line.endswith("...")):
            return False
        if len(words(line)) < c.min_words_per_line:
            return False
        if c.javascript_lines and "javascript" in lower:
            return False
        return not (c.policy_lines and any(phrase in lower for phrase in POLICY_PHRASES))


class FineWebFilter:
    """FineWeb's own rules (Penedo et al. 2024), aimed at what C4 and Gopher let through: pages of
    menu-like short lines, pages with few sentence endings, repeated lines, and lists.

    Ratios are over non-empty lines, as in datatrove. The list ratio counts line breaks between
    non-empty lines rather than newline characters: FineWeb's trafilatura text had one newline between
    paragraphs, and counting both newlines of a blank-line paragraph break would double the ratio.
    """

    name = "fineweb"

    def __init__(self, config: FineWebConfig):
        self.config = config

    def __call__(self, doc: Doc) -> tuple[bool, str | None]:
        c, text = self.config, doc.text
        page_lines = lines(text)
        n = len(page_lines) or 1
        if sum(line.endswith(TERMINAL_PUNCTUATION) for line in page_lines) / n < c.min_line_punct_ratio:
            return False, f"{self.name}:line_punct_ratio"
        if sum(len(line) <= c.short_line_chars for line in page_lines) / n > c.max_short_line_ratio:
            return False, f"{self.name}:short_line_ratio"
        if _repeats(page_lines)[1] / (len(text.replace("\n", "")) or 1) > c.max_char_dup_ratio:
            return False, f"{self.name}:char_dup_ratio"
        if max(len(page_lines) - 1, 0) / (len(words(text)) or 1) > c.max_newline_ratio:
            return False, f"{self.name}:list_ratio"
        return True, None


def build_filters(config: FilterConfig) -> list[Filter]:
    """The filters in application order (`FILTER_NAMES`); disabled rule sets are left out.

    Raises ConfigError if `config.language` is not a language py3langid knows.
    """
    filters: list[Filter] = [
        WikipediaFilter(config.wikipedia_domains),
        TooShortFilter(config.min_words),
        LanguageFilter(config.language, config.language_threshold),
    ]
    if config.gopher_repetition.enabled:
        filters.append(GopherRepetitionFilter(config.gopher_repetition))
    if config.gopher_quality.enabled:
        filters.append(GopherQualityFilter(config.gopher_quality))
    if config.c4.enabled:
        filters.append(C4Filter(config.c4))
    if config.fineweb.enabled:
        filters.append(FineWebFilter(config.fineweb))
    return filters


def judge(doc: Doc, filters: list[Filter]) -> str | None:
    """Run `filters` in order on `doc`; the first failing filter's reason, or None if all keep it."""
    for check in filters:
        keep, reason = check(doc)
        if not keep:
            return reason
    return None
