"""Selecting, normalising and filtering dump lines a chunk at a time, on every core.

Parsing JSON dominates the stage and parallelises perfectly, so the reader process hands chunks of
raw lines to worker processes and gets rows back in order. Only a bounded window of chunks is in
flight, so memory stays flat whatever the dump size. A file of one chunk runs in-process.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import chain, islice

from webtext.components.config import CrawlConfig, SourceConfig
from webtext.components.lifetime import exit_with_parent
from webtext.components.source.submissions import Submission, select
from webtext.components.source.urls import BadUrl, UrlFilter, normalise


class Selector:
    """Turns raw lines into staged rows plus the funnel counts of its rejections."""

    def __init__(self, source: SourceConfig, crawl: CrawlConfig):
        self.source = source
        self.url_filter = UrlFilter(source, crawl)

    def row(self, sub: Submission) -> tuple:
        """The staged row: (id, url, raw_url, host, score, subreddit, created_utc, reason)."""
        try:
            url = normalise(sub.url)
        except BadUrl as bad:
            return (sub.id, sub.url.strip(), sub.url, None, sub.score, sub.subreddit,
                    sub.created_utc, bad.reason)
        return (sub.id, url.url, sub.url, url.host, sub.score, sub.subreddit, sub.created_utc,
                self.url_filter.reason(url))

    def __call__(self, lines: list[bytes]) -> tuple[list[tuple], Counter]:
        """The rows of the selected submissions, and counts of lines, rejections and selected."""
        rows: list[tuple] = []
        counts: Counter = Counter()
        for line in lines:
            verdict = select(line, self.source)
            if verdict.__class__ is str:
                counts[verdict] += 1
            else:
                rows.append(self.row(verdict))
        counts.update(lines=len(lines), selected=len(rows))
        return rows, counts


_worker_selector: Selector | None = None


def _start_worker(source: SourceConfig, crawl: CrawlConfig) -> None:
    global _worker_selector
    exit_with_parent()
    _worker_selector = Selector(source, crawl)


def _in_worker(lines: list[bytes]) -> tuple[list[tuple], Counter]:
    return _worker_selector(lines)


def select_chunks(chunks: Iterator[list[bytes]], source: SourceConfig, crawl: CrawlConfig,
                  workers: int) -> Iterator[tuple[list[tuple], Counter]]:
    """`Selector` results for each chunk, in order, on `workers` processes when there is more than
    one chunk to share."""
    head = list(islice(chunks, 2))
    if workers <= 1 or len(head) < 2:
        selector = Selector(source, crawl)
        yield from map(selector, chain(head, chunks))
        return
    # spawn, not fork: the caller may be a threaded Prefect worker.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(source, crawl)) as pool:
        in_flight: deque[Future] = deque()
        for chunk in chain(head, chunks):
            in_flight.append(pool.submit(_in_worker, chunk))
            if len(in_flight) > 2 * workers:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()
