"""The loopback web server that answers for every sample host.

The crawler is pointed at it with `crawl.resolve` (curl's --resolve): it connects to 127.0.0.1:PORT
while the URL, and so the Host header, keep the sample hostname. One thread per connection lets a
slow page trickle while the others answer; stopping the server wakes slow handlers so they end too.

Run `python -m webtext.components.sample --port 8000` to poke at it:
`curl -H 'Host: news.sample.test' http://127.0.0.1:8000/robots.txt`.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from webtext.components.config import SampleConfig
from webtext.components.errors import ConfigError
from webtext.components.sample.pages import SAMPLE_HOSTS, build_site
from webtext.components.sample.site import Site, Stream

_NOT_FOUND = b"<!DOCTYPE html>\n<html><head><title>Not Found</title></head><body></body></html>\n"


class _Handler(BaseHTTPRequestHandler):
    site: Site
    stopping: threading.Event
    server_version = "SampleWeb/1"
    sys_version = ""
    timeout = 30  # a client that stops reading cannot hold a thread for longer

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: a crawl makes thousands of requests."""

    def _answer(self, send_body: bool) -> None:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip().lower()
        path = urlsplit(self.path).path
        if host in SAMPLE_HOSTS and path == "/robots.txt":
            robots = self.site.robots_txt(host).encode()
            self._send(200, (("Content-Type", "text/plain; charset=utf-8"),), robots, send_body)
            return
        page = self.site.page(host, path)
        if page is None:
            self._send(404, (("Content-Type", "text/html; charset=utf-8"),), _NOT_FOUND, send_body)
        else:
            self._send(page.status, page.headers, page.body, send_body)

    def _send(self, status: int, headers: tuple[tuple[str, str], ...], body: bytes | Stream,
              send_body: bool) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        length = body.length if isinstance(body, Stream) else len(body)
        self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()
        if not send_body:
            return
        try:
            if isinstance(body, bytes):
                self.wfile.write(body)
                return
            for index, piece in enumerate(body.pieces()):
                if self.stopping.wait(body.pause if index else 0):
                    return  # the server is stopping: a slow page must not hold it up
                self.wfile.write(piece)  # unbuffered: each piece leaves at once
        except (ConnectionError, TimeoutError):
            return  # the client hung up or stalled: nothing left to do for it


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


@contextmanager
def serve_sample(site: Site, host: str = "127.0.0.1", port: int = 0) -> Iterator[tuple[str, int]]:
    """Serve `site` on (host, port) in a background thread; yields the bound (host, port)."""
    stopping = threading.Event()
    handler = type("SampleHandler", (_Handler,), {"site": site, "stopping": stopping})
    server = _Server((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="sample-web", daemon=True)
    thread.start()
    try:
        bound_host, bound_port = server.server_address[:2]
        yield str(bound_host), int(bound_port)
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()


def sample_address(resolve: dict[str, str]) -> tuple[str, int]:
    """The one `ip:port` that `crawl.resolve` maps every sample host to: where to serve the sample."""
    targets = {resolve.get(host) for host in SAMPLE_HOSTS}
    if len(targets) != 1 or None in targets:
        missing = [host for host in SAMPLE_HOSTS if host not in resolve]
        raise ConfigError(
            "crawl.resolve must map every sample host to one ip:port "
            f"({'missing: ' + ', '.join(missing) if missing else 'found: ' + ', '.join(sorted(targets))})"
        )
    ip, _, port = targets.pop().rpartition(":")
    return ip.strip("[]"), int(port)


def main(argv: list[str] | None = None) -> None:
    """Serve the sample until interrupted (`python -m webtext.components.sample`)."""
    parser = argparse.ArgumentParser(description="Serve the embedded sample web on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--articles", type=int, default=SampleConfig().articles)
    parser.add_argument("--no-slow-pages", action="store_true",
                        help="leave out the pages that answer slowly")
    args = parser.parse_args(argv)
    site = build_site(SampleConfig(articles=args.articles, slow_pages=not args.no_slow_pages))
    with serve_sample(site, args.host, args.port) as (host, port):
        print(f"serving {len(site.pages)} pages of {', '.join(SAMPLE_HOSTS)} on {host}:{port}")
        print(f"try: curl -H 'Host: {SAMPLE_HOSTS[0]}' http://{host}:{port}/robots.txt")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
