"""Extraction in worker processes, with a hard time limit on every page.

An extractor is a tree walk over a stranger's HTML: a pathological page can run for minutes,
exhaust memory or crash the parser, and none of that can be interrupted from inside the process.
So each worker is a process of its own, fed one page at a time over its own pipe; the parent
waits on all pipes and process sentinels at once, with a timeout set to the nearest deadline. A
worker past its deadline is killed and replaced, and the page is `extract_timeout`; a worker that
dies is replaced, and the page is `extract_error` naming how it died. An exception inside
extraction is an ordinary `extract_error` and the worker carries on.

Workers are started with "spawn": the caller may hold threads (Prefect does), and forking a
threaded process can copy a lock held by a thread that does not exist in the child.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from webtext.components.errors import ConfigError

STATUSES = ("ok", "no_text", "extract_timeout", "extract_error")
_STARTUP_S = 120  # a worker starts (interpreter + trafilatura import) in ~0.5 s here; past this it is stuck
_KILL_GRACE_S = 1.0  # SIGTERM ends a worker at once unless it is stuck in the kernel; then SIGKILL
_MAX_ERROR_CHARS = 300  # an exception message can quote a whole page; the error column holds one line


@dataclass(frozen=True)
class PageJob:
    key: str  # the caller's id for the page (a doc_id)
    url: str  # the URL the page was fetched from, for resolving relative links
    body: bytes  # the body as archived: Content-Encoding not undone
    headers: list[tuple[str, str]]  # the archived HTTP response headers
    charset: str | None  # the charset the crawl recorded; None to detect it


@dataclass(frozen=True)
class PageResult:
    key: str
    status: str  # one of STATUSES
    text: str  # "" unless ok
    title: str | None
    canonical_url: str | None
    error: str | None  # one line for extract_error and extract_timeout
    seconds: float  # time spent on the page: in the worker, or until it was given up


def one_line(message: str) -> str:
    return " ".join(message.split())[:_MAX_ERROR_CHARS]


def _serve(conn: Connection, extractor: str, max_bytes: int) -> None:
    """A worker's life: load the extractor once, then answer one page per message until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent stops us
    # Imported here, not at the top: the parent never extracts and need not pay for trafilatura.
    from webtext.components.extract.html import decode_body, extractor_function

    try:
        function = extractor_function(extractor)
    except Exception as exc:
        conn.send(one_line(str(exc)))
        return
    conn.send(None)  # ready
    while True:
        try:
            job = conn.recv()
        except EOFError:  # the parent is gone
            return
        if job is None:
            return
        start = time.perf_counter()
        try:
            html = decode_body(job.body, job.headers, job.charset, max_bytes)
            found = function(html, job.url)
            status = "ok" if found.text else "no_text"
            seconds = time.perf_counter() - start
            result = PageResult(job.key, status, found.text, found.title, found.canonical_url, None, seconds)
        except Exception as exc:
            error = one_line(f"{type(exc).__name__}: {exc}")
            result = PageResult(job.key, "extract_error", "", None, None, error, time.perf_counter() - start)
        conn.send(result)


class _Worker:
    def __init__(self, process, conn: Connection):
        self.process = process
        self.conn = conn
        self.job: PageJob | None = None
        self.started = 0.0  # when `job` was sent

    def stop(self) -> None:
        """End the process however it is doing, and reap it."""
        self.conn.close()
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(_KILL_GRACE_S)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.process.close()


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"the extraction process was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            pass
    return f"the extraction process exited with code {exitcode}"


class ExtractionPool:
    """`workers` extraction processes; `map` sends pages through them, each under `timeout_s`.

    `extractor` is "trafilatura", "resiliparse" or "module:function" (see `components.extract.html`).
    `max_bytes` caps a page's decoded body; a larger one is an `extract_error`. Use it as a context
    manager: leaving the block, normally or by an exception, ends every worker.
    """

    def __init__(self, extractor: str, workers: int, timeout_s: float, max_bytes: int = 10 * 2**20):
        if workers < 1:
            raise ConfigError(f"extract.workers must be at least 1, got {workers}")
        if timeout_s <= 0:
            raise ConfigError(f"extract.timeout_s must be positive, got {timeout_s}")
        self.extractor = extractor
        self.workers = workers
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        try:
            self._start(workers)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ExtractionPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """End every worker process (idempotent)."""
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.stop()

    def _start(self, count: int) -> None:
        """Start `count` workers together and wait until each has loaded the extractor."""
        starting = []
        for _ in range(count):
            parent_end, child_end = self._context.Pipe(duplex=True)
            process = self._context.Process(
                target=_serve, args=(child_end, self.extractor, self.max_bytes), daemon=True
            )
            process.start()
            child_end.close()  # so a dead worker reads as EOF here
            worker = _Worker(process, parent_end)
            self._workers.append(worker)
            starting.append(worker)
        deadline = time.monotonic() + _STARTUP_S
        for worker in starting:
            if not worker.conn.poll(max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"an extraction worker did not start within {_STARTUP_S} s")
            try:
                failure = worker.conn.recv()
            except (EOFError, OSError):
                worker.process.join()
                raise RuntimeError(_death(worker.process.exitcode) + " while starting") from None
            if failure is not None:
                raise ConfigError(failure)

    def _retire(self, worker: _Worker) -> None:
        self._workers.remove(worker)
        worker.stop()

    def map(self, jobs: Iterable[PageJob]) -> Iterator[PageResult]:
        """One result per job, in the order they finish (match them up by `key`).

        Jobs are drawn from `jobs` only as workers free up, so at most `workers` pages are held at
        once, whatever the number of jobs. Stopping the iteration early kills the pages in flight.
        """
        pending = iter(jobs)
        more = True
        try:
            while True:
                if len(self._workers) < self.workers:  # replace the killed and the dead
                    self._start(self.workers - len(self._workers))
                idle = [w for w in self._workers if w.job is None]
                while more and idle:
                    job = next(pending, None)
                    if job is None:
                        more = False
                    else:
                        yield from self._dispatch(idle.pop(), job)
                if not any(w.job is not None for w in self._workers):
                    return
                yield from self._collect()
        finally:
            for worker in [w for w in self._workers if w.job is not None]:
                self._retire(worker)  # else its answer would arrive in the next map

    def _dispatch(self, worker: _Worker, job: PageJob) -> Iterator[PageResult]:
        worker.job, worker.started = job, time.monotonic()
        try:
            worker.conn.send(job)
        except OSError:  # it died while idle
            yield self._died(worker)

    def _collect(self) -> Iterator[PageResult]:
        """Wait for the first answer, death or deadline among busy workers; yield what came of it."""
        busy = [w for w in self._workers if w.job is not None]
        nearest = min(w.started for w in busy) + self.timeout_s
        ready = set(wait(
            [w.conn for w in busy] + [w.process.sentinel for w in busy],
            max(0.0, nearest - time.monotonic()),
        ))
        now = time.monotonic()
        for worker in busy:
            if worker.conn in ready or worker.process.sentinel in ready:
                try:
                    result = worker.conn.recv()
                except (EOFError, OSError):
                    yield self._died(worker)
                    continue
                worker.job = None
                yield result
            elif now - worker.started >= self.timeout_s:
                key, seconds = worker.job.key, now - worker.started
                self._retire(worker)
                error = f"extraction took longer than {self.timeout_s:g} s"
                yield PageResult(key, "extract_timeout", "", None, None, error, seconds)

    def _died(self, worker: _Worker) -> PageResult:
        key, seconds = worker.job.key, time.monotonic() - worker.started
        worker.process.join(_KILL_GRACE_S)
        error = _death(worker.process.exitcode)
        self._retire(worker)
        return PageResult(key, "extract_error", "", None, None, error, seconds)
