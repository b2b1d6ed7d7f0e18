"""Writing the sample's dump and ground truth to disk, reproducibly and atomically.

The same config always yields the same bytes, so a rebuild leaves the files (and their modification
times) alone, and content-addressed stages downstream see an unchanged input.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from pathlib import Path

from webtext.components.config import SampleConfig
from webtext.components.files import write_if_changed
from webtext.components.sample.dump import DumpLine, dump_lines, encode_dump
from webtext.components.sample.instruct_sets import write_instruct_sets
from webtext.components.sample.pages import EXTRA_ARTICLES, SAMPLE_HOSTS, build_site
from webtext.components.sample.prose import Article, stdlib_articles
from webtext.components.sample.prose_tasks import write_prose_tasks
from webtext.components.sample.site import EXPECTED, Site
from webtext.components.sample.tasks import write_review_prompts, write_tasks

SAMPLE_VERSION = 6  # bump when the pages, the dump or the expectations change
DUMP_NAME = "RS_sample.ndjson.zst"
GROUND_TRUTH_NAME = "ground_truth.json"
TASKS_DIR = "tasks"  # the labelled tasks fine-tuning and evaluation use (`components.sample.tasks`)
TEXTS_DIR = "texts"  # held-out prose that evaluation scores in bits per byte
INSTRUCT_DIR = "instruct"  # demonstrations and comparisons about the served articles (`instruct_sets`)
HELD_OUT_ARTICLES = 3  # the held-out text's
TASK_ARTICLES = 40  # the zero-shot tasks', after the held-out text's (fewer where the install has fewer)


@dataclass(frozen=True)
class SampleBuild:
    """Where the sample was written, and how big it is."""

    dump: Path
    ground_truth: Path
    pages: int
    dump_lines: int
    written: bool  # False when both files already held these bytes


def _expected(kind: str) -> dict[str, str]:
    expectation = EXPECTED[kind]
    return {"source": expectation.source, "crawl": expectation.crawl, "extract": expectation.extract}


def _page_truth(site: Site) -> list[dict]:
    return [
        {"url": page.url, "kind": page.kind, "title": page.title, "status": page.status,
         "lang": page.lang, "duplicate_of": page.duplicate_of, "words": len(page.text.split()),
         "text": page.text, "expected": _expected(page.kind)}
        for page in site.pages
    ]


def _line_truth(lines: tuple[DumpLine, ...]) -> list[dict]:
    return [
        {"line": number, "case": line.case, "id": line.id, "url": line.url, "page": line.page,
         "expected": {"source": line.expected_source}}
        for number, line in enumerate(lines, start=1)
    ]


def _url_truth(site: Site, lines: tuple[DumpLine, ...]) -> list[dict]:
    """The rows the `urls` table should hold: one per page, one per other filtered link."""
    rows = {page.url: _expected(page.kind) for page in site.pages}
    for line in lines:
        if line.page is None and line.expected_source.startswith("filtered:"):
            rows[line.url] = {"source": line.expected_source, "crawl": "filtered"}
    return [{"url": url, "expected": expected} for url, expected in rows.items()]


def ground_truth(site: Site) -> dict:
    """What every page, dump line and URL of the sample should become, stage by stage."""
    lines = dump_lines(site)
    return {
        "version": SAMPLE_VERSION,
        # What decides the content: `enabled` does not, and the prose comes from this Python.
        "config": {"articles": site.config.articles, "slow_pages": site.config.slow_pages},
        "python": platform.python_version(),
        "hosts": list(SAMPLE_HOSTS),
        "dump": DUMP_NAME,
        "pages": _page_truth(site),
        "lines": _line_truth(lines),
        "urls": _url_truth(site, lines),
    }


def held_out(config: SampleConfig) -> tuple[tuple[Article, ...], tuple[Article, ...]]:
    """Articles of the same prose that the sample web does not serve, text the model never trains on:
    those of the held-out text, and those the zero-shot tasks are cut from."""
    served = config.articles + EXTRA_ARTICLES
    articles = stdlib_articles(served + HELD_OUT_ARTICLES + TASK_ARTICLES)[served:]
    if len(articles) <= HELD_OUT_ARTICLES:
        raise ValueError(f"this Python install has {len(articles)} articles of prose beyond the "
                         f"{served} the sample web serves; the held-out text and tasks need more")
    return articles[:HELD_OUT_ARTICLES], articles[HELD_OUT_ARTICLES:]


def served_articles(site: Site) -> tuple[Article, ...]:
    """The articles whose pages the sample web serves and extraction keeps, in the site's order: the
    text the model trains on."""
    return tuple(Article(page.title, tuple(page.text.split("\n\n")), page.url)
                 for page in site.pages if EXPECTED[page.kind].extract == "kept")


def held_out_text(articles: tuple[Article, ...]) -> str:
    return "\n\n".join(f"{a.title}\n\n" + "\n\n".join(a.paragraphs) for a in articles) + "\n"


def build_sample(out_dir: Path, config: SampleConfig) -> SampleBuild:
    """Write `RS_sample.ndjson.zst`, `ground_truth.json`, the labelled tasks, the held-out text, the
    instruction sets and the review prompts into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    site = build_site(config)
    lines = dump_lines(site)
    truth = json.dumps(ground_truth(site), ensure_ascii=False, indent=1) + "\n"
    dump, truth_path = out_dir / DUMP_NAME, out_dir / GROUND_TRUTH_NAME
    wrote_dump = write_if_changed(dump, encode_dump(lines))
    wrote_truth = write_if_changed(truth_path, truth.encode())
    text_articles, task_articles = held_out(config)
    wrote_tasks = write_tasks(out_dir / TASKS_DIR) | write_prose_tasks(out_dir / TASKS_DIR, task_articles)
    wrote_texts = write_if_changed(out_dir / TEXTS_DIR / "heldout.txt", held_out_text(text_articles).encode())
    wrote_instruct = write_instruct_sets(out_dir / INSTRUCT_DIR, served_articles(site))
    wrote_reviews = write_review_prompts(out_dir / INSTRUCT_DIR / "reviews")
    written = wrote_dump or wrote_truth or wrote_tasks or wrote_texts or wrote_instruct or wrote_reviews
    return SampleBuild(dump, truth_path, len(site.pages), len(lines), written)
