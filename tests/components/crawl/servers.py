"""Programmable HTTP/1.1 servers on loopback for the crawl tests: real sockets, no mocks.

A `LoopbackServer` runs `asyncio.start_server` on an event loop of its own in a background thread,
so the fetcher under test (on the test's loop) talks to it over TCP as it would to anyone's server.
Routes map a path, or a (Host, path) pair, to a handler; handlers write raw HTTP through a `Reply`,
so they can misbehave in the ways the crawler must survive: trickle, stream without end, send a
gzip bomb, reset the connection, redirect anywhere. The server counts hits per path and per
listening address, and the most requests in flight at once per Host, all behind one lock.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

ROBOTS_TXT = b"User-agent: *\nDisallow: /private/\n"
_CHUNK = 1 << 16
_ALL_HOSTS = "*"  # the in-flight count over every Host (no real Host header is "*")
_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect",
            404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # the path, without the query
    query: str
    host: str  # the Host header, lower case, port removed
    headers: dict[str, str]  # lower-case names
    local_ip: str  # the listening address the connection came in on
    hit: int  # 1 for the first request to this path, 2 for the next, ...


class Reply:
    """A handler's side of one connection: whole responses, or raw pieces of one."""

    def __init__(self, writer: asyncio.StreamWriter):
        self.writer = writer
        self.keep_alive = True

    async def send(self, status: int = 200, body: bytes = b"",
                   content_type: str | None = "text/html; charset=utf-8",
                   headers: dict[str, str] | None = None) -> None:
        fields = {"Content-Length": str(len(body)), **(headers or {})}
        if content_type:
            fields["Content-Type"] = content_type
        await self.head(status, fields)
        await self.write(body)

    async def head(self, status: int, headers: dict[str, str]) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Whatever')}",
                 *(f"{name}: {value}" for name, value in headers.items()), "", ""]
        await self.write("\r\n".join(lines).encode("latin-1"))

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()  # flow control: a slow reader makes us wait, not buffer

    async def chunk(self, data: bytes) -> None:
        """One piece of a `Transfer-Encoding: chunked` body; b"" ends the body."""
        await self.write(b"%x\r\n%s\r\n" % (len(data), data))

    def reset(self) -> None:
        """Drop the connection with a TCP RST, before any response."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()
        self.keep_alive = False


Handler = Callable[[Request, Reply], Awaitable[None]]


# -- handlers ---------------------------------------------------------------------------------------


def page(body: bytes | str = b"<html><body><p>Hello.</p></body></html>", status: int = 200,
         content_type: str | None = "text/html; charset=utf-8", headers: dict[str, str] | None = None,
         delay: float = 0.0) -> Handler:
    """A plain response, after `delay` seconds."""
    data = body.encode("utf-8") if isinstance(body, str) else body

    async def handler(request: Request, reply: Reply) -> None:
        if delay:
            await asyncio.sleep(delay)
        await reply.send(status, data, content_type, headers)

    return handler


def redirect(location: str, status: int = 302) -> Handler:
    return page(b"", status, content_type=None, headers={"Location": location})


def failing(status: int, failures: int | None = None, then: Handler | None = None,
            headers: dict[str, str] | None = None) -> Handler:
    """`status` for the first `failures` hits (all hits when None), then `then`."""
    error = page(f"<html><body>error {status}</body></html>", status, headers=headers)

    async def handler(request: Request, reply: Reply) -> None:
        if failures is None or request.hit <= failures:
            await error(request, reply)
        else:
            await then(request, reply)

    return handler


def trickle(size: int = 1000, every: float = 0.2) -> Handler:
    """Declares `size` bytes, then sends one byte every `every` seconds."""

    async def handler(request: Request, reply: Reply) -> None:
        await reply.head(200, {"Content-Type": "text/html", "Content-Length": str(size)})
        for _ in range(size):
            await reply.write(b"a")
            await asyncio.sleep(every)

    return handler


def stream(total: int, declare_length: bool = False) -> Handler:
    """`total` bytes of HTML in 64 KiB pieces, chunked unless the length is declared; never held whole."""
    piece = b"<p>" + b"a" * (_CHUNK - 7) + b"</p>\n"

    async def handler(request: Request, reply: Reply) -> None:
        if declare_length:
            await reply.head(200, {"Content-Type": "text/html", "Content-Length": str(total)})
        else:
            await reply.head(200, {"Content-Type": "text/html", "Transfer-Encoding": "chunked"})
        sent = 0
        while sent < total:
            data = piece[: total - sent]
            await (reply.write(data) if declare_length else reply.chunk(data))
            sent += len(data)
        if not declare_length:
            await reply.chunk(b"")

    return handler


def stream_after(member: bytes, junk: int) -> Handler:
    """A whole gzip member followed by `junk` bytes of garbage, chunked: the junk is no body."""
    piece = b"\x00junk" * (_CHUNK // 5)

    async def handler(request: Request, reply: Reply) -> None:
        await reply.head(200, {"Content-Type": "text/html", "Content-Encoding": "gzip",
                               "Transfer-Encoding": "chunked"})
        await reply.chunk(member)
        sent = 0
        while sent < junk:
            await reply.chunk(piece)
            sent += len(piece)
        await reply.chunk(b"")

    return handler


@functools.cache
def gzip_of_zeros(size: int) -> bytes:
    """gzip of `size` zero bytes, compressed 1 MiB at a time (300 MB of zeros -> ~300 KB, ~1 s)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    parts = [compressor.compress(zeros[: size - done]) for done in range(0, size, len(zeros))]
    return b"".join([*parts, compressor.flush()])


def gzip_bomb(decoded_size: int = 300_000_000) -> Handler:
    """A small gzip body that inflates to `decoded_size` bytes, sent as `Content-Encoding: gzip`."""

    async def handler(request: Request, reply: Reply) -> None:
        body = gzip_of_zeros(decoded_size)
        await reply.head(200, {"Content-Type": "text/html", "Content-Encoding": "gzip",
                               "Content-Length": str(len(body))})
        for start in range(0, len(body), _CHUNK):
            await reply.write(body[start : start + _CHUNK])

    return handler


async def reset(request: Request, reply: Reply) -> None:
    reply.reset()


# -- the server -------------------------------------------------------------------------------------


class LoopbackServer:
    """An HTTP/1.1 server (keep-alive) on 127.0.0.1; use as `with LoopbackServer() as server`."""

    def __init__(self) -> None:
        robots = page(ROBOTS_TXT, content_type="text/plain")
        self.routes: dict[tuple[str | None, str], Handler] = {(None, "/robots.txt"): robots}
        self.port = 0
        self._lock = threading.Lock()
        self._hits: Counter[str] = Counter()
        self._hits_at: Counter[str] = Counter()
        self._in_flight: Counter[str] = Counter()
        self._max_in_flight: Counter[str] = Counter()
        self._starts: list[tuple[str, str, float]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="loopback-server", daemon=True)
        self._servers: list[asyncio.Server] = []
        self._connections: set[asyncio.Task] = set()

    # -- set-up

    def route(self, path: str, handler: Handler, host: str | None = None) -> None:
        """Serve `path` (for Host `host` only, when given) with `handler`."""
        self.routes[(host, path)] = handler

    def listen(self, ip: str = "127.0.0.1", port: int | None = None) -> int:
        """Listen on `ip` too (default: this server's port); returns the port."""
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, ip, self.port if port is None else port), self._loop,
        ).result()
        self._servers.append(server)
        return server.sockets[0].getsockname()[1]

    def url(self, path: str, ip: str = "127.0.0.1") -> str:
        return f"http://{ip}:{self.port}{path}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        self.port = self.listen("127.0.0.1", 0)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def _shutdown(self) -> None:
        for server in self._servers:
            server.close()
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    # -- what the server saw

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits[path]

    def hits_at(self, ip: str) -> int:
        """Requests that came in on listening address `ip`."""
        with self._lock:
            return self._hits_at[ip]

    def max_in_flight(self, host: str | None = None) -> int:
        """The most requests for Host `host` (any host when None) being answered at one moment."""
        with self._lock:
            return self._max_in_flight[_ALL_HOSTS if host is None else host]

    def starts(self, host: str) -> list[float]:
        """When each request for Host `host` arrived (time.monotonic)."""
        with self._lock:
            return [at for h, path, at in self._starts if h == host and path != "/robots.txt"]

    # -- serving

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        local_ip = writer.get_extra_info("sockname")[0]
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                request = self._request(head, local_ip)
                handler = (self.routes.get((request.host, request.path))
                           or self.routes.get((None, request.path))
                           or page(b"<html><body>not here</body></html>", 404))
                reply = Reply(writer)
                self._begin(request)
                try:
                    await handler(request, reply)
                finally:
                    self._end(request)
                if not reply.keep_alive or request.headers.get("connection", "").lower() == "close":
                    return
        except ConnectionError:
            pass  # the client hung up mid-answer: what a capped fetch does
        finally:
            self._connections.discard(task)
            writer.close()

    def _request(self, head: bytes, local_ip: str) -> Request:
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        path, _, query = target.partition("?")
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        host = headers.get("host", "").lower()
        name, colon, port = host.rpartition(":")
        if colon and port.isdigit():
            host = name
        with self._lock:
            self._hits[path] += 1
            self._hits_at[local_ip] += 1
            return Request(method, path, query, host.strip("[]"), headers, local_ip, self._hits[path])

    def _begin(self, request: Request) -> None:
        with self._lock:
            self._starts.append((request.host, request.path, time.monotonic()))
            for key in (request.host, _ALL_HOSTS):
                self._in_flight[key] += 1
                self._max_in_flight[key] = max(self._max_in_flight[key], self._in_flight[key])

    def _end(self, request: Request) -> None:
        with self._lock:
            for key in (request.host, _ALL_HOSTS):
                self._in_flight[key] -= 1
