"""The HTTP fetcher: polite, bounded, and safe against whatever a Reddit link points at.

Every URL ends in exactly one terminal status. Each attempt runs under a wall-clock deadline
(`crawl.timeout_s`, redirects and body included), because per-read timeouts let a server trickle a
byte a second forever. Each hop of every redirect chain, and every robots.txt fetch, goes through
the address guard and connects to the address the guard vetted. Bodies are read raw and decoded
with a cap, so neither a huge page nor a compression bomb is ever held whole. Every response is
archived in WARC before its URL is given a status.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import SplitResult, quote, urljoin, urlsplit

import brotli
import httpx

from webtext.components.config import CrawlConfig
from webtext.components.crawl.decoding import (
    ACCEPT_ENCODING,
    BoundedDecoder,
    TooLarge,
    UnsupportedEncoding,
    classify,
    media_type,
)
from webtext.components.crawl.guard import AddressGuard, Refused, Target, Unresolvable
from webtext.components.crawl.robots import RobotsPolicy, policy_for, robots_url
from webtext.components.crawl.status import UrlStatus
from webtext.components.crawl.warc import FetchRecord, WarcRef, WarcWriter
from webtext.components.source.urls import DEFAULT_PORTS

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309 asks parsers to read at least 500 KiB
_ROBOTS_REDIRECTS = 5  # RFC 9309: follow at least five hops
_MAX_CRAWL_DELAY_S = 30.0  # a robots.txt Crawl-delay is honoured up to this
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"  # reserved characters and `%` stay; anything else is escaped


@dataclass(frozen=True)
class FetchResult:
    """The terminal status of one URL and where its final response is archived."""

    url: str
    status: UrlStatus  # terminal: never `pending`
    http_status: int | None = None
    attempts: int = 0
    error: str | None = None
    final_url: str | None = None
    warc: WarcRef | None = None
    content_type: str | None = None
    charset: str | None = None
    fetched_at: datetime | None = None
    retry_after: float | None = None  # a server's Retry-After, for the retry loop only

    @property
    def retryable(self) -> bool:
        if self.status in (UrlStatus.connection_error, UrlStatus.timeout):
            return True
        overloaded = self.http_status == 429 or (self.http_status or 0) >= 500
        return self.status == UrlStatus.http_error and overloaded


@dataclass
class _Response:
    status: int
    headers: httpx.Headers
    body: bytes  # decoded, at most the cap
    ref: WarcRef
    fetched_at: datetime
    unsupported: str | None = None  # a Content-Encoding that was archived but not decoded


class _Oversized(Exception):
    """The body passed the cap; it is archived, truncated, at `ref`."""

    def __init__(self, message: str, status: int, ref: WarcRef):
        super().__init__(message)
        self.status, self.ref = status, ref


class _HostSlot:
    """At most `per_host` requests in flight to one host, starting at least `delay` apart."""

    def __init__(self, per_host: int, delay: float):
        self.semaphore = asyncio.Semaphore(per_host)
        self.delay = delay
        self.next_start = 0.0

    @asynccontextmanager
    async def turn(self):
        async with self.semaphore:
            loop = asyncio.get_running_loop()
            start = max(loop.time(), self.next_start)
            self.next_start = start + self.delay
            if start > loop.time():
                await asyncio.sleep(start - loop.time())
            yield


def _retry_after(value: str | None, cap: float) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), cap)


class Fetcher:
    """Fetches URLs into WARC and terminal statuses; use as `async with Fetcher(...) as f`."""

    def __init__(self, config: CrawlConfig, writer: WarcWriter):
        self.config = config
        self.writer = writer
        self.guard = AddressGuard(config.allow, config.resolve)
        self._global = asyncio.Semaphore(config.concurrency)
        self._hosts: dict[str, _HostSlot] = {}
        self._robots: dict[tuple[str, str, int | None], asyncio.Task[RobotsPolicy]] = {}
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Fetcher:
        c = self.config
        self._client = httpx.AsyncClient(
            # No idle connections kept: a crawl spread over many hosts almost never reuses one, and
            # httpcore scans its whole pool per idle connection (most of the CPU at concurrency 256
            # in benchmarks/crawl_throughput.py).
            limits=httpx.Limits(max_connections=c.concurrency, max_keepalive_connections=0),
            timeout=httpx.Timeout(connect=c.connect_timeout_s, read=c.read_timeout_s,
                                  write=c.read_timeout_s, pool=None),
            follow_redirects=False,
            trust_env=False,  # no proxy or netrc from the environment: the guard decides where we go
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    def _slot(self, host: str) -> _HostSlot:
        if host not in self._hosts:
            self._hosts[host] = _HostSlot(self.config.per_host, self.config.per_host_delay_s)
        return self._hosts[host]

    async def crawl(self, urls: Iterable[str]) -> AsyncIterator[FetchResult]:
        """Fetch every URL concurrently (within the limits), yielding results as they finish."""
        tasks = [asyncio.create_task(self.fetch(url)) for url in urls]
        try:
            for next_done in asyncio.as_completed(tasks):
                yield await next_done
        finally:
            for task in tasks:
                task.cancel()

    async def fetch(self, url: str) -> FetchResult:
        """All attempts at `url`: retries with backoff for transient failures, a fresh deadline each.

        Waiting for the host's turn happens before the deadline starts, so a busy host queues
        its URLs instead of timing them out.
        """
        host = (urlsplit(url).hostname or "").lower()
        result = FetchResult(url, UrlStatus.connection_error, error="not attempted")
        for attempt in range(1, self.config.retries + 2):
            async with self._slot(host).turn(), self._global:
                try:
                    async with asyncio.timeout(self.config.timeout_s):
                        result = await self._attempt(url, host)
                except TimeoutError:
                    result = FetchResult(url, UrlStatus.timeout,
                                         error=f"no complete answer within {self.config.timeout_s:g} s")
                except (ValueError, OSError, httpx.HTTPError) as failure:
                    # Whatever a stranger's URL or server provokes, the URL still gets a status.
                    result = FetchResult(url, UrlStatus.connection_error,
                                         error=f"{type(failure).__name__}: {failure}"[:500])
            result = replace(result, attempts=attempt)
            if not result.retryable or attempt > self.config.retries:
                break
            backoff = self.config.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random())
            await asyncio.sleep(max(backoff, result.retry_after or 0.0))
        return replace(result, retry_after=None)

    async def _attempt(self, url: str, host: str) -> FetchResult:
        """One attempt: follow redirects by hand, each hop guarded, obeying robots.txt, and taking
        its own host's turn when it leaves the host whose turn `fetch` holds."""
        current, seen = _wire(url), {url}
        for _hop in range(self.config.max_redirects + 1):
            hop_host = (urlsplit(current).hostname or "").lower()
            try:
                await self.guard.check(current)  # refuse a bad scheme or address before robots.txt
                async with AsyncExitStack() as turn:
                    if hop_host != host:
                        await turn.enter_async_context(self._slot(hop_host).turn())
                    policy = await self._robots_for(current)
                    if policy.failure:
                        status = _failure_status("Timeout" in policy.failure)
                        return FetchResult(url, status, final_url=current,
                                           error=f"robots.txt unreachable: {policy.failure}"[:500])
                    if not policy.allows(current, self.config.user_agent):
                        return FetchResult(url, UrlStatus.robots, error=f"robots.txt disallows {current}")
                    response = await self._get(current, self.config.max_bytes)
            except Refused as refused:
                return FetchResult(url, refused.status, error=str(refused), final_url=current)
            except _Oversized as large:
                return FetchResult(url, UrlStatus.too_large, http_status=large.status, error=str(large),
                                   final_url=current, warc=large.ref)
            except (Unresolvable, httpx.TransportError, zlib.error, brotli.error) as failure:
                status = _failure_status(isinstance(failure, httpx.TimeoutException))
                return FetchResult(url, status, error=f"{type(failure).__name__}: {failure}"[:500],
                                   final_url=current)
            location = response.headers.get("location")
            if response.status in _REDIRECTS and location:
                current = _wire(urljoin(current, location.strip()))
                if current in seen:
                    return FetchResult(url, UrlStatus.redirect_limit, http_status=response.status,
                                       error=f"redirect loop back to {current}", final_url=current)
                seen.add(current)
                continue
            return self._judge(url, current, response)
        return FetchResult(url, UrlStatus.redirect_limit, final_url=current,
                           error=f"more than {self.config.max_redirects} redirects")

    def _judge(self, url: str, final_url: str, response: _Response) -> FetchResult:
        content_type = response.headers.get("content-type")
        status, charset = classify(response.status, content_type, response.body)
        error = None
        if status == UrlStatus.http_error:
            error = f"HTTP {response.status}"
        elif response.unsupported:
            status, charset, error = UrlStatus.not_html, None, response.unsupported
        elif status == UrlStatus.not_html:
            error = f"content type {media_type(content_type) or 'missing'}"
        return FetchResult(
            url, status, http_status=response.status, error=error, final_url=final_url,
            warc=response.ref, fetched_at=response.fetched_at, charset=charset,
            content_type=media_type(content_type) or None,
            retry_after=_retry_after(response.headers.get("retry-after"), self.config.max_retry_after_s),
        )

    async def _robots_for(self, url: str) -> RobotsPolicy:
        parts = urlsplit(url)
        key = (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)
        if key not in self._robots:
            self._robots[key] = asyncio.create_task(self._fetch_robots(robots_url(*key)))
        policy = await asyncio.shield(self._robots[key])
        if policy.failure:
            self._robots.pop(key, None)  # a host that was down gets asked again on the next attempt
        elif delay := policy.crawl_delay(self.config.user_agent):
            slot = self._slot(key[1])
            slot.delay = max(slot.delay, min(float(delay), _MAX_CRAWL_DELAY_S))
        return policy

    async def _fetch_robots(self, url: str) -> RobotsPolicy:
        """robots.txt through the same guarded path, under its own deadline.

        An unreachable robots.txt means "disallow all" (RFC 9309), but the URL is then recorded
        as the connection failure it is, and retried, rather than as a robots.txt verdict.
        """
        try:
            async with asyncio.timeout(self.config.robots_timeout_s):
                for _ in range(_ROBOTS_REDIRECTS + 1):
                    response = await self._get(_wire(url), _ROBOTS_MAX_BYTES, truncate=True)
                    location = response.headers.get("location")
                    if response.status in _REDIRECTS and location:
                        url = urljoin(url, location.strip())
                        continue
                    return policy_for(response.status, response.body)
                return policy_for(None, b"", "too many robots.txt redirects")
        except TimeoutError:
            return policy_for(None, b"", f"Timeout after {self.config.robots_timeout_s:g} s")
        except (Refused, Unresolvable, ValueError, OSError, httpx.HTTPError, zlib.error,
                brotli.error) as failure:
            return policy_for(None, b"", f"{type(failure).__name__}: {failure}")

    async def _get(self, url: str, limit: int, truncate: bool = False) -> _Response:
        """One guarded GET, no redirects followed, archived in WARC.

        Raises _Oversized past `limit` decoded bytes, unless `truncate` keeps the first `limit`
        bytes (robots.txt: RFC 9309 reads the first 500 KiB).
        """
        target = await self.guard.check(url)
        parts = urlsplit(url)
        headers = self._request_headers(parts, target)
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = self._client.build_request("GET", target.connect_url(_path_of(parts)), headers=headers,
                                             extensions=extensions)
        fetched_at = datetime.now(UTC)
        response = await self._client.send(request, stream=True)
        try:
            body = await _read_body(response, limit, truncate)
        finally:
            await response.aclose()
        ref = self._archive(url, target, headers, fetched_at, response, body)
        if body.truncated and not truncate:
            raise _Oversized(f"body exceeds crawl.max_bytes={limit:,} decoded bytes",
                             response.status_code, ref)
        return _Response(response.status_code, response.headers, body.decoder.body()[:limit], ref, fetched_at,
                         body.unsupported)

    def _request_headers(self, parts: SplitResult, target: Target) -> dict[str, str]:
        """The headers of a GET to the vetted `target`, in the order they are sent and archived."""
        host = f"[{target.host}]" if ":" in target.host else target.host  # ASCII (IDNA) form
        if parts.port and parts.port != DEFAULT_PORTS[target.scheme]:
            host = f"{host}:{parts.port}"
        headers = {
            "Host": host,
            "User-Agent": self.config.user_agent,
            "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        if target.scheme == "https":
            # Pooled connections are keyed by address, not by TLS name: never reuse one for another host.
            headers["Connection"] = "close"
        return headers

    def _archive(self, url: str, target: Target, headers: dict[str, str], fetched_at: datetime,
                 response: httpx.Response, body: _Body) -> WarcRef:
        """Archive the exchange as it went over the wire: the headers as sent and received, the body
        still content-encoded and cut where reading stopped."""
        return self.writer.write(FetchRecord(
            url=url, ip=target.ip, fetched_at=fetched_at, request_method="GET",
            request_headers=list(headers.items()), status=response.status_code,
            reason=response.reason_phrase, http_version=response.http_version,
            response_headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw],
            body=body.raw, truncated=body.truncated,
        ))


@dataclass
class _Body:
    """A response body as read under the cap: the raw bytes to archive, the decoder holding it decoded."""

    raw: bytes  # as received, still content-encoded, possibly cut
    decoder: BoundedDecoder
    truncated: str | None  # "length" when the body was cut at the cap
    unsupported: str | None  # a Content-Encoding that is archived but not decoded


async def _read_body(response: httpx.Response, limit: int, truncate: bool) -> _Body:
    """Read `response`'s body raw, decoding it as it comes, and stop once it passes `limit`.

    An unencoded body declared larger than `limit` is believed and not read at all, unless
    `truncate` asks for its first `limit` bytes. A corrupt encoding raises zlib.error or brotli.error.
    """
    decoder, unsupported = _decoder(response.headers.get("content-encoding"), limit)
    identity = decoder.identity
    raw: list[bytes] = decoder.parts if identity else []  # one copy of an unencoded body
    raw_size, truncated = 0, None
    declared = response.headers.get("content-length", "")
    if identity and declared.isdigit() and int(declared) > limit and not truncate:
        truncated = "length"  # a declared size past the cap is believed, and not read
    else:
        async for chunk in response.aiter_raw():
            raw_size += len(chunk)
            if not identity:
                raw.append(chunk)
            try:
                decoder.feed(chunk)
            except TooLarge:
                truncated = "length"
                break
            if decoder.done:
                break  # bytes after the end of a compressed stream are junk
            if raw_size > limit:  # a compressed body that expands little is capped raw
                truncated = "length"
                break
    return _Body(b"".join(raw), decoder, truncated, unsupported)


def _decoder(content_encoding: str | None, limit: int) -> tuple[BoundedDecoder, str | None]:
    """A decoder for `content_encoding`, and why it is not decoded when it cannot be: such a body is
    archived as is and judged by its status code alone."""
    try:
        return BoundedDecoder(content_encoding, limit), None
    except UnsupportedEncoding as refusal:
        return BoundedDecoder(None, limit), str(refusal)


def _failure_status(timed_out: bool) -> UrlStatus:
    """An attempt that got no answer either ran out of time or never connected; both are retried."""
    return UrlStatus.timeout if timed_out else UrlStatus.connection_error


def _wire(url: str) -> str:
    """`url` as it may go on the wire: spaces and other unsafe characters percent-encoded,
    existing escapes kept."""
    return quote(url, safe=_URL_SAFE)


def _path_of(parts: SplitResult) -> str:
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
