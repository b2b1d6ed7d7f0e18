"""Article text for the sample web, harvested from prose that every Python install carries.

The sample must build offline and without shipping a corpus, yet its articles must look like real
writing so that extractors and quality filters behave as they would on the web. The language
reference (`pydoc_data.topics`) and the docstrings of a few long-lived stdlib modules are such
prose once code listings, interpreter sessions, bullet lists and tables are dropped. The same
install always yields the same articles; another Python version may yield different ones.
"""

from __future__ import annotations

import ast
import re
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from pydoc_data.topics import topics

MIN_WORDS = 300  # a shorter tail joins the article before it, or is dropped
TARGET_WORDS = 320  # an article is closed at the first paragraph boundary past this
MIN_PARAGRAPH_WORDS = 15  # shorter blocks are captions, headings or list fragments
MAX_SYMBOL_SHARE = 0.04  # more non-prose characters than this marks code or a table
# Reference prose that keeps repeating its phrases ("the context precision", "is rounded to") reads
# as a template, not an article: Gopher's repetition rule drops a page past 0.15 of its characters in
# repeated word 5-grams, so plain articles stay well under it.
MAX_REPEATED_5GRAM_SHARE = 0.10
_PROSE_CHARS = frozenset(".,;:'\"()-?!*’“”")
_UNDERLINE = re.compile(r"^([=*\-~^])\1{2,}$")
_BULLET = re.compile(r"^(\*|-|\+|\d+\.|\(\w\))\s")
# Stdlib modules and packages richest in docstring prose, most first, none removed by Python 3.13;
# one missing from an install is skipped. A package's modules make one source. Parsed from source,
# never imported.
DOCSTRING_SOURCES = (
    "_pydecimal", "logging", "email", "turtle", "doctest", "asyncio", "difflib", "threading", "xml",
    "pdb", "typing", "unittest", "http", "urllib", "inspect", "codecs", "shutil", "tarfile",
    "smtplib", "statistics", "os", "ast", "fileinput", "socket", "importlib", "traceback", "bdb",
    "platform", "lzma", "pathlib", "configparser", "pkgutil", "tempfile", "pickle", "ssl",
    "socketserver", "xmlrpc", "timeit", "mimetypes", "optparse", "subprocess", "zipfile",
    "functools", "bz2", "code", "gzip", "pydoc", "textwrap", "queue", "ftplib", "base64", "random",
    "uuid", "site", "imaplib", "calendar", "wsgiref", "datetime", "locale", "graphlib", "cmd",
    "sched", "re", "tokenize", "pstats", "weakref", "collections", "getopt", "shelve", "zipimport",
    "json", "dis", "pickletools", "enum", "multiprocessing", "concurrent", "argparse", "contextlib",
    "dataclasses", "heapq", "csv", "fractions", "numbers", "pprint", "selectors", "string",
    "tracemalloc", "warnings", "ipaddress", "glob", "linecache", "plistlib", "poplib", "runpy",
    "shlex", "sysconfig", "trace", "types", "webbrowser", "zoneinfo", "sqlite3", "dbm", "html",
)
_SKIPPED_DIRS = frozenset({"test", "tests", "idle_test", "__pycache__"})


@dataclass(frozen=True)
class Article:
    """A titled run of prose paragraphs and where it came from."""

    title: str
    paragraphs: tuple[str, ...]
    source: str

    @property
    def words(self) -> int:
        return sum(len(p.split()) for p in self.paragraphs)


@dataclass(frozen=True)
class _Source:
    name: str
    title: str
    passages: tuple[tuple[str, str], ...]  # (heading, paragraph) in reading order


def prose_paragraphs(text: str) -> Iterator[tuple[str, str]]:
    """The prose paragraphs of reStructuredText-like `text` with the heading each one sits under.

    A block is kept when no line is indented (code, literal blocks, list continuations), none holds
    `>>>`, it is not a bullet, it ends like a sentence, it is long enough and has few symbols.
    """
    heading = ""
    for block in re.split(r"\n[ \t]*\n", text):
        lines = [line.rstrip() for line in block.strip("\n").split("\n") if line.strip()]
        if len(lines) >= 2 and _UNDERLINE.match(lines[-1]):
            heading = lines[-2].strip()
            continue
        if not lines or any(line[:1].isspace() or ">>>" in line for line in lines):
            continue
        paragraph = " ".join(line.strip() for line in lines)
        if (_BULLET.match(paragraph) or not paragraph.endswith((".", "?", "!"))
                or len(paragraph.split()) < MIN_PARAGRAPH_WORDS):
            continue
        symbols = sum(not (c.isalnum() or c.isspace() or c in _PROSE_CHARS) for c in paragraph)
        if symbols / len(paragraph) <= MAX_SYMBOL_SHARE:
            yield heading, paragraph


def _topic_sources() -> Iterator[_Source]:
    # Big topics first: the small ones repeat sections of `compound`, `types` and `specialnames`.
    for key in sorted(topics, key=lambda k: (-len(topics[k]), k)):
        text = topics[key]
        title = text.split("\n", 1)[0].strip()
        yield _Source(f"pydoc topic {key!r}", title, tuple(prose_paragraphs(text)))


def _docstrings(tree: ast.AST) -> Iterator[tuple[str, str]]:
    """(name, docstring) for `tree` and its classes and functions, in source order."""
    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                yield node.name, doc
            yield from _docstrings(node)


def _module_files(stdlib: Path, name: str) -> list[Path]:
    """The source files of module or package `name`, tests left out; none if it is missing."""
    if (stdlib / name).is_dir():
        return sorted(p for p in (stdlib / name).rglob("*.py")
                      if not _SKIPPED_DIRS & set(p.relative_to(stdlib).parts))
    return [stdlib / f"{name}.py"] if (stdlib / f"{name}.py").is_file() else []


def _module_sources() -> Iterator[_Source]:
    stdlib = Path(sysconfig.get_path("stdlib"))
    for name in DOCSTRING_SOURCES:
        files = _module_files(stdlib, name)
        passages: list[tuple[str, str]] = []
        for path in files:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            passages += [("", p) for _, p in prose_paragraphs(ast.get_docstring(tree) or "")]
            for owner, doc in _docstrings(tree):
                passages += [(owner, p) for _, p in prose_paragraphs(doc)]
        noun = "package" if (stdlib / name).is_dir() else "module"
        yield _Source(f"{noun} {name}", f"The {name} {noun}", tuple(passages))


def _sources() -> Iterator[_Source]:
    yield from _topic_sources()
    yield from _module_sources()


def _title(source: _Source, heading: str) -> str:
    if not heading or heading == source.title or heading.startswith("_"):
        return source.title
    return f"{source.title}: {heading}"


def _cut(source: _Source, seen: set[str]) -> Iterator[tuple[str, list[str]]]:
    """(title, paragraphs) articles from one source; a short tail joins the article before it."""
    title, current, previous = "", [], None
    for heading, paragraph in source.passages:
        if paragraph in seen:
            continue
        seen.add(paragraph)
        if not current:
            title = _title(source, heading)
        current.append(paragraph)
        if sum(len(p.split()) for p in current) >= TARGET_WORDS:
            if previous:
                yield previous
            previous, current = (title, current), []
    if previous and sum(len(p.split()) for p in current) < MIN_WORDS:
        previous[1].extend(current)
        current = []
    if previous:
        yield previous
    if sum(len(p.split()) for p in current) >= MIN_WORDS:
        yield title, current


def repeated_5gram_share(paragraphs: list[str]) -> float:
    """Share of the words' characters covered by word 5-grams that occur more than once."""
    words = re.findall(r"\w+", " ".join(paragraphs))
    grams = [tuple(words[i:i + 5]) for i in range(len(words) - 4)]
    counts: dict[tuple[str, ...], int] = {}
    for gram in grams:
        counts[gram] = counts.get(gram, 0) + 1
    covered = [False] * len(words)
    for i, gram in enumerate(grams):
        if counts[gram] > 1:
            covered[i:i + 5] = [True] * 5
    total = sum(len(w) for w in words)
    return sum(len(w) for w, c in zip(words, covered) if c) / total if total else 0.0


@lru_cache(maxsize=4)
def stdlib_articles(count: int) -> tuple[Article, ...]:
    """The first `count` articles of this install's prose (fewer if it runs out), in a fixed order.

    No paragraph is used twice. Sources are read lazily, so a small sample parses few modules, and
    the first `n` articles are the same whatever the `count` above `n`.
    """
    seen: set[str] = set()
    articles: list[Article] = []
    titles: dict[str, int] = {}
    for source in _sources():
        for title, paragraphs in _cut(source, seen):
            if len(articles) == count:
                return tuple(articles)
            if repeated_5gram_share(paragraphs) > MAX_REPEATED_5GRAM_SHARE:
                continue
            number = titles[title] = titles.get(title, 0) + 1
            title = title if number == 1 else f"{title}, part {number}"
            articles.append(Article(title, tuple(paragraphs), source.name))
    return tuple(articles)


@lru_cache(maxsize=1)
def handwritten() -> dict[str, tuple[str, ...]]:
    """The paragraphs of `foreign.txt` by section: `de`, `fr`, `es` and `en-accents`."""
    sections: dict[str, list[str]] = {}
    key = ""
    text = Path(__file__).with_name("foreign.txt").read_text(encoding="utf-8")
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.strip().split("\n") if line and not line.startswith("#")]
        if lines and re.fullmatch(r"\[[\w-]+\]", lines[0]):
            key = lines.pop(0)[1:-1]
        if lines:
            sections.setdefault(key, []).append(" ".join(lines))
    return {k: tuple(v) for k, v in sections.items()}
