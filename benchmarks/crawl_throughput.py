"""Throughput and peak memory of the `crawl` stage against a loopback web with 50 ms latency.

- server: its own process (asyncio, hand-written HTTP/1.1 with keep-alive), listening on one port
  of 100 loopback addresses, 127.0.0.2 ... 127.0.0.101, each a distinct host to the crawler. It
  answers `/robots.txt` (allow all) and ~20 KB HTML pages, each response 50 ms after its request.
  It counts requests in flight, overall and per host, so the table shows the limits held.
- reference: a bare client with the same HTTP library (httpx.AsyncClient, HTTP/1.1, keep-alive,
  a pool as large as the concurrency) and the same concurrency: N workers fetch every URL and read
  its body. No address guard, no robots.txt, no per-host limit, no WARC, no warehouse.
- ours: the stage as `flows/crawl.py` runs it, minus Prefect: a fresh warehouse already holds the
  URLs as `pending` (the fixture, not timed); timed from writing the pending batches
  (`write_pending_batches`) through `crawl_batch` for each batch (guard, robots.txt, per-host
  limits, WARC of every response, outcomes Parquet) to `record_results` of the last batch.
  `crawl.concurrency` = the reference's, `crawl.per_host` = ceil(concurrency / 100) (so the 100
  hosts can hold the whole concurrency), `crawl.per_host_delay_s` = 0, `crawl.allow` = 127.0.0.0/25.
- peak RSS (VmHWM) of the stage at two URL counts, each in a fresh process: batches bound it, so it
  must not grow with the number of URLs.

Every measurement runs in a fresh interpreter; reference and stage alternate, best of two. The
machine's CPU time outside the client and the server during each run is printed as `other`, since
two cores are shared with whatever else runs.

    .venv/bin/python benchmarks/crawl_throughput.py [--urls 10000] [--memory-urls 50000]
        [--concurrency 64 256] [--batch-urls 2000] [--servers 1] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

HOSTS = [f"127.0.0.{i}" for i in range(2, 102)]
ALLOW = "127.0.0.0/25"
LATENCY_S = 0.05
PAGE_BYTES = 20_000


# ---------------------------------------------------------------------------------------------- server

def _page() -> bytes:
    para = ("<p>The council met on Tuesday to discuss the new plan for the river district, "
            "where water levels rose after the storm and residents asked for a report.</p>\n")
    head = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>A page</title></head><body>\n"
    body = head + para * ((PAGE_BYTES - len(head)) // len(para)) + "</body></html>\n"
    return body.encode()


def _response(body: bytes, content_type: str) -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Server: bench\r\n\r\n").encode() + body


class _Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = self.connections = self.in_flight = self.max_in_flight = 0
        self.host_in_flight: Counter = Counter()
        self.max_per_host = 0


def serve(port: int) -> None:
    """Serve until stdin closes; a `stats` line on stdin prints and resets the counters."""
    page, robots = _response(_page(), "text/html; charset=utf-8"), _response(
        b"User-agent: *\nAllow: /\n", "text/plain")
    stats = _Stats()

    class Http(asyncio.Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:
            self.transport, self.buffer, self.closing = transport, b"", False
            self.host = transport.get_extra_info("sockname")[0]
            stats.connections += 1

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while (end := self.buffer.find(b"\r\n\r\n")) >= 0:  # GETs only: no request bodies
                head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
                path = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b"/"
                close = b"connection: close" in head.lower()
                stats.requests += 1
                stats.in_flight += 1
                stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
                stats.host_in_flight[self.host] += 1
                stats.max_per_host = max(stats.max_per_host, stats.host_in_flight[self.host])
                loop.call_later(LATENCY_S, self.answer, robots if path == b"/robots.txt" else page, close)

        def answer(self, response: bytes, close: bool) -> None:
            stats.in_flight -= 1
            stats.host_in_flight[self.host] -= 1
            if not self.transport.is_closing():
                self.transport.write(response)
                if close:
                    self.transport.close()

    def report() -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print("STATS " + json.dumps({
            "requests": stats.requests, "connections": stats.connections,
            "max_in_flight": stats.max_in_flight, "max_per_host": stats.max_per_host,
            "cpu_s": usage.ru_utime + usage.ru_stime}), flush=True)
        stats.reset()

    def control() -> None:
        for line in sys.stdin:
            if line.strip() == "stats":
                loop.call_soon_threadsafe(report)
        loop.call_soon_threadsafe(loop.stop)

    async def start() -> int:
        first = await loop.create_server(Http, HOSTS[0], port, reuse_port=True, backlog=1024)
        bound = first.sockets[0].getsockname()[1]
        for host in HOSTS[1:]:
            await loop.create_server(Http, host, bound, reuse_port=True, backlog=1024)
        return bound

    loop = asyncio.new_event_loop()
    bound = loop.run_until_complete(start())
    print(f"READY {bound}", flush=True)
    threading.Thread(target=control, daemon=True).start()
    loop.run_forever()


class Servers:
    """`count` server processes sharing one port on the 100 addresses (SO_REUSEPORT)."""

    def __init__(self, count: int):
        self.procs: list[subprocess.Popen] = []
        self.cpu_s: list[float] = []
        self.port = 0
        for _ in range(count):
            proc = subprocess.Popen([sys.executable, __file__, "--serve", str(self.port)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            self.procs.append(proc)
            self.cpu_s.append(0.0)
            line = proc.stdout.readline()
            if not line.startswith("READY "):
                self.close()
                raise RuntimeError(f"loopback server did not start: {line!r}")
            self.port = int(line.split()[1])

    def stats(self) -> dict:
        """Counters since the last call, summed over the processes (maxima: the largest)."""
        out = {"requests": 0, "connections": 0, "max_in_flight": 0, "max_per_host": 0, "cpu_s": 0.0}
        for i, proc in enumerate(self.procs):
            proc.stdin.write("stats\n")
            proc.stdin.flush()
            got = json.loads(proc.stdout.readline()[6:])
            got["cpu_s"], self.cpu_s[i] = got["cpu_s"] - self.cpu_s[i], got["cpu_s"]
            for key in ("requests", "connections", "cpu_s"):
                out[key] += got[key]
            for key in ("max_in_flight", "max_per_host"):
                out[key] = max(out[key], got[key])
        return out

    def close(self) -> None:
        for proc in self.procs:
            try:
                proc.stdin.close()
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()


# ---------------------------------------------------------------------------------------------- runs

def make_urls(n: int, port: int) -> list[str]:
    return [f"http://{HOSTS[i % len(HOSTS)]}:{port}/page/{i}" for i in range(n)]


def run_reference(n: int, port: int, concurrency: int) -> dict:
    import httpx

    urls = make_urls(n, port)

    async def fetch_all() -> tuple[int, int]:
        ok = size = 0
        pending = iter(urls)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=30.0, trust_env=False) as client:
            async def worker() -> None:
                nonlocal ok, size
                for url in pending:
                    response = await client.get(url)
                    ok += response.status_code == 200
                    size += len(response.content)
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return ok, size

    start = time.perf_counter()
    ok, size = asyncio.run(fetch_all())
    return {"urls": n, "ok": ok, "bytes": size, "seconds": time.perf_counter() - start}


def run_ours(n: int, port: int, concurrency: int, batch_urls: int, workdir: Path) -> dict:
    import pyarrow as pa

    from webtext import warehouse
    from webtext.components.config import load_config
    from webtext.components.crawl.batch import crawl_batch
    from webtext.warehouse import crawl as queries

    per_host = math.ceil(concurrency / len(HOSTS))
    config = load_config(None, [
        f"crawl.concurrency={concurrency}", f"crawl.per_host={per_host}", "crawl.per_host_delay_s=0",
        f"crawl.allow=['{ALLOW}']", f"crawl.batch_urls={batch_urls}",
    ]).crawl
    root = Path(tempfile.mkdtemp(prefix="crawl-", dir=workdir))
    try:
        con = warehouse.connect(root / "warehouse.duckdb")
        urls = make_urls(n, port)
        fixture = pa.table({"url": urls, "host": [u.split("/")[2].split(":")[0] for u in urls]})
        con.register("fixture", fixture)
        con.execute("INSERT INTO urls (url, host, status, added_at, added_by) "
                    "SELECT url, host, 'pending', now(), 'benchmark' FROM fixture")
        con.unregister("fixture")
        del urls, fixture

        t0 = time.perf_counter()
        batches = queries.write_pending_batches(con, root / "batches", config.batch_urls)
        t1 = time.perf_counter()
        counts: Counter = Counter()
        fetch_s = record_s = 0.0
        for index, batch in enumerate(batches):
            outcomes = root / f"outcomes-{index:05d}.parquet"
            a = time.perf_counter()
            counts += crawl_batch(batch, config, root / "warc", f"bench-{index:05d}", outcomes)
            b = time.perf_counter()
            queries.record_results(con, outcomes)
            record_s += time.perf_counter() - b
            fetch_s += b - a
        t2 = time.perf_counter()
        statuses = queries.status_counts(con)
        warc_mb = sum(p.stat().st_size for p in (root / "warc").glob("*.warc.gz")) / 2**20
        con.close()
        return {"urls": n, "ok": statuses.get("ok", 0), "pending": statuses.get("pending", 0),
                "statuses": statuses, "batch_statuses": dict(counts), "batches": len(batches),
                "per_host": per_host, "seconds": t2 - t0, "write_s": t1 - t0, "fetch_s": fetch_s,
                "record_s": record_s, "warc_mb": warc_mb}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM rather than ru_maxrss: Linux carries ru_maxrss through
    fork+exec, so a child could report its parent's peak if that was higher."""
    try:
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(s for s in status if s.startswith("VmHWM:")).split()[1]) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace, profile: bool = False) -> None:
    n, port, concurrency = args.urls, args.port, args.concurrency[0]
    if args.child == "reference":
        result = run_reference(n, port, concurrency)
    elif profile:
        import cProfile
        import pstats
        profiler = cProfile.Profile()
        result = profiler.runcall(run_ours, n, port, concurrency, args.batch_urls, args.workdir)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(20)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    else:
        result = run_ours(n, port, concurrency, args.batch_urls, args.workdir)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    result["peak_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(result), flush=True)


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def spawn(mode: str, n: int, concurrency: int, args: argparse.Namespace, servers: Servers) -> dict:
    """One measurement in a fresh interpreter, with the server's and the machine's CPU beside it."""
    cmd = [sys.executable, __file__, "--child", mode, "--urls", str(n), "--concurrency",
           str(concurrency), "--port", str(servers.port), "--batch-urls", str(args.batch_urls),
           "--workdir", str(args.workdir)]
    servers.stats()  # reset the counters
    busy = machine_busy_s()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    busy = machine_busy_s() - busy
    result = json.loads(next(s for s in out.splitlines() if s.startswith("RESULT "))[7:])
    server = servers.stats()
    result.update(server={k: v for k, v in server.items() if k != "cpu_s"},
                  server_cpu_s=server["cpu_s"],
                  other_cpu_s=max(busy - server["cpu_s"] - result["cpu_s"], 0.0))
    if result["ok"] != result["urls"]:
        print(f"warning: {mode} at concurrency {concurrency}: {result['ok']:,} of {result['urls']:,} "
              f"pages ok: {result.get('statuses', '')}", file=sys.stderr, flush=True)
    return result


def label(n: int) -> str:
    return f"{n / 1e3:g}k" if n >= 1000 else str(n)


def main() -> None:
    from webtext.components.config import CrawlConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=10_000, help="URLs for the throughput runs")
    parser.add_argument("--memory-urls", type=int, default=50_000,
                        help="URLs for the second peak-memory run of the stage")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256],
                        help="requests in flight, for both clients")
    parser.add_argument("--batch-urls", type=int, default=CrawlConfig().batch_urls,
                        help="crawl.batch_urls for the stage (default: the config's)")
    parser.add_argument("--servers", type=int, default=1, help="server processes sharing the port")
    parser.add_argument("--repeat", type=int, default=2, help="runs per client and concurrency; best counts")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / ".work",
                        help="where runs put their warehouse, batches and WARC files")
    parser.add_argument("--profile", action="store_true",
                        help="instead: cProfile the stage once (first concurrency), print its top functions")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=("reference", "ours"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        return serve(args.serve)
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.child:
        return child(args)

    servers = Servers(args.servers)
    try:
        if args.profile:
            args.port = servers.port
            args.child = "ours"
            args.concurrency = args.concurrency[:1]
            return child(args, profile=True)
        started, load_before = time.perf_counter(), os.getloadavg()
        rows = []
        for concurrency in args.concurrency:
            refs, ours = [], []
            for _ in range(args.repeat):  # alternate, best of `repeat`
                refs.append(spawn("reference", args.urls, concurrency, args, servers))
                ours.append(spawn("ours", args.urls, concurrency, args, servers))
            rows.append((concurrency, refs, ours))
        top = args.concurrency[-1]
        big = spawn("ours", args.memory_urls, top, args, servers)
        load_after = os.getloadavg()
    finally:
        servers.close()

    print(f"crawl benchmark: {args.urls:,} URLs over {len(HOSTS)} loopback hosts, "
          f"{LATENCY_S * 1000:.0f} ms per response, {PAGE_BYTES / 1000:.0f} KB pages, "
          f"{args.servers} server process(es); batches of {args.batch_urls:,}; "
          f"measured in {time.perf_counter() - started:.0f} s")
    print(f"  {os.cpu_count()} cores; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(f"{'conc':>5} {'per_host':>8} {'bare pages/s':>13} {'ours pages/s':>13} {'ratio':>6} "
          f"{'ideal':>7}  runs bare / ours (s)")
    for concurrency, refs, ours in rows:
        ref = min(refs, key=lambda r: r["seconds"])
        our = min(ours, key=lambda r: r["seconds"])
        ref_rate, our_rate = ref["urls"] / ref["seconds"], our["urls"] / our["seconds"]
        ratio = our_rate / ref_rate
        runs = " / ".join(",".join(f"{r['seconds']:.1f}" for r in results) for results in (refs, ours))
        print(f"{concurrency:>5} {our['per_host']:>8} {ref_rate:>13,.0f} {our_rate:>13,.0f} {ratio:>6.2f} "
              f"{concurrency / LATENCY_S:>7,.0f}  {runs}{'' if ratio >= 0.7 else '  MISSED'}")
        print(f"{'':>8}ours: write {our['write_s']:.2f} s, fetch {our['fetch_s']:.1f} s, record "
              f"{our['record_s']:.2f} s over {our['batches']} batches; {our['ok']:,} ok, "
              f"{our['pending']:,} pending; WARC {our['warc_mb']:.0f} MB")
        for name, r in (("bare", ref), ("ours", our)):
            print(f"{'':>8}{name}: cpu s client {r['cpu_s']:.1f}, server {r['server_cpu_s']:.1f}, other "
                  f"{r['other_cpu_s']:.1f}; server saw {r['server']['max_in_flight']} in flight (per host "
                  f"{r['server']['max_per_host']}), {r['server']['connections']:,} connections")
    print("target: ours >= 0.7x bare at each concurrency")
    _, top_refs, top_ours = rows[-1]
    small = max(top_ours, key=lambda r: r["peak_mb"])
    small_ref = max(top_refs, key=lambda r: r["peak_mb"])
    print(f"peak RSS of the stage at concurrency {top}: {label(args.urls)} URLs "
          f"{small['peak_mb']:,.0f} MB, {label(args.memory_urls)} URLs {big['peak_mb']:,.0f} MB "
          f"(ratio {big['peak_mb'] / small['peak_mb']:.2f}; {big['ok']:,} ok in {big['seconds']:.1f} s, "
          f"{big['urls'] / big['seconds']:,.0f} pages/s); bare client at {label(args.urls)}: "
          f"{small_ref['peak_mb']:,.0f} MB")


if __name__ == "__main__":
    main()
