"""Throughput and peak memory of the `source` stage on a realistic Pushshift-style dump.

- reference: zstd decompression + splitting lines + `orjson.loads` of every line, nothing else. No
  reader of a dump does less, so it is the yardstick: the stage should run at >= 0.5x of it.
- ours: what `flows/source.py` does for one new dump, without Prefect: hash the file, stage it
  (`stage_dump`: select, normalise, filter, write Parquet batches), load the batches into a fresh
  warehouse in one transaction. Reported as dump lines per second of total wall time.
- peak RSS of the stage at 100k and 1M lines, each in a fresh process: the stage streams, so its
  memory must not grow with the dump. The reference's peak is printed beside it: a dump written
  with a long zstd window (`--long=31`, as Pushshift does) needs up to that window (2 GiB) in
  memory to decompress, whoever reads it, so the stage's own share is the difference.

Dumps are generated once (seeded, deterministic) and cached in the work directory.

    .venv/bin/python benchmarks/source_throughput.py [--lines 1000000] [--workdir DIR] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import orjson
import zstandard

GENERATOR_VERSION = 2  # bump when the generated dump changes, so cached dumps are not reused
WINDOW_LOG = 31  # Pushshift and Arctic Shift write their dumps with `zstd --long=31`
SMALL = 100_000
WORDS = ("the", "new", "city", "report", "state", "court", "plan", "says", "after", "police",
         "first", "year", "over", "could", "world", "people", "water", "study", "health", "power",
         "market", "school", "climate", "election", "data", "google", "bill", "war", "found",
         "game", "space", "energy", "law", "rise", "test", "drug", "mayor", "judge", "cancer",
         "oil", "bank", "fire", "ban")
NEWS_HOSTS = [f"{a}{b}.{tld}"
              for a in ("daily", "global", "city", "tech", "metro", "valley", "north", "open",
                        "free", "bay", "river", "sun", "star", "coast")
              for b in ("times", "post", "herald", "news", "wire", "journal", "review", "blog")
              for tld in ("com", "org", "net", "co.uk", "io")]
SUBREDDITS = ("news", "worldnews", "technology", "science", "politics", "programming", "pics",
              "funny", "videos", "gaming", "AskReddit", "todayilearned", "space", "Economics")
# The ~60 fields of a 2018-2020 submission, in the dumps' alphabetical order.
TEMPLATE = {
    "all_awardings": [], "allow_live_comments": False, "archived": False, "author": "",
    "author_flair_background_color": None, "author_flair_css_class": None,
    "author_flair_richtext": [], "author_flair_text": None, "author_flair_text_color": None,
    "author_flair_type": "text", "author_fullname": "", "author_patreon_flair": False,
    "awarders": [], "can_gild": True, "can_mod_post": False, "contest_mode": False,
    "created_utc": 0, "domain": "", "full_link": "", "gilded": 0, "gildings": {}, "id": "",
    "is_crosspostable": True, "is_meta": False, "is_original_content": False,
    "is_reddit_media_domain": False, "is_robot_indexable": True, "is_self": False,
    "is_video": False, "link_flair_background_color": "", "link_flair_css_class": None,
    "link_flair_richtext": [], "link_flair_text_color": "dark", "link_flair_type": "text",
    "locked": False, "media_only": False, "no_follow": True, "num_comments": 0,
    "num_crossposts": 0, "over_18": False, "parent_whitelist_status": "all_ads",
    "permalink": "", "pinned": False, "pwls": 6, "retrieved_on": 0, "score": 0,
    "selftext": "", "send_replies": True, "spoiler": False, "stickied": False,
    "subreddit": "", "subreddit_id": "", "subreddit_subscribers": 0, "subreddit_type": "public",
    "thumbnail": "default", "title": "", "total_awards_received": 0, "treatment_tags": [],
    "upvote_ratio": 1.0, "url": "", "whitelist_status": "all_ads", "wls": 6,
}
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def base36(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = _ALNUM[r] + out
    return out


def token(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(_ALNUM, k=n))


def link_url(rng: random.Random, recent: list[str]) -> str:
    """A link post's URL: news sites (Zipf-like), blocked hosts, media files, repeats, tracking."""
    r = rng.random()
    if r < 0.08 and recent:  # the same page again, sometimes with a tracking parameter
        url = rng.choice(recent)
        if rng.random() < 0.3:
            return url + ("&amp;" if "?" in url else "?") + "utm_source=reddit"
        return url
    if r < 0.16:
        return f"https://i.imgur.com/{token(rng, 7)}.{rng.choice(('jpg', 'png', 'gifv'))}"
    if r < 0.24:
        return rng.choice((f"https://www.youtube.com/watch?v={token(rng, 11)}",
                           f"https://youtu.be/{token(rng, 11)}"))
    if r < 0.28:
        return rng.choice((f"https://v.redd.it/{token(rng, 13)}",
                           f"https://i.redd.it/{token(rng, 13)}.jpg",
                           (f"https://www.reddit.com/r/{rng.choice(SUBREDDITS)}"
                            f"/comments/{token(rng, 6)}/")))
    if r < 0.30:
        return f"https://en.wikipedia.org/wiki/{'_'.join(w.title() for w in rng.sample(WORDS, 2))}"
    if r < 0.302:
        return rng.choice(("ftp://example.org/a.txt", "javascript:void(0)", "http://", "www.x"))
    host = NEWS_HOSTS[int(len(NEWS_HOSTS) * rng.random() ** 3)]
    slug = "-".join(rng.choices(WORDS, k=rng.randint(4, 10)))
    day = f"{rng.randint(2015, 2020)}/{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}"
    path = rng.choice((f"/{day}/{slug}/", f"/news/{slug}-{rng.randint(10**6, 10**8)}",
                       f"/article/{rng.randint(1, 10**7)}.html"))
    if rng.random() < 0.03:
        path = f"/files/{slug}.{rng.choice(('pdf', 'jpg', 'mp4'))}"
    q = rng.random()
    query = ("?utm_source=twitter&amp;utm_medium=social&amp;utm_campaign=share" if q < 0.06 else
             f"?id={rng.randint(1, 99999)}&amp;page={rng.randint(1, 5)}" if q < 0.12 else "")
    www = "www." if rng.random() < 0.6 else ""
    url = f"{rng.choice(('http', 'https'))}://{www}{host}{path}{query}"
    url += "#comments" if rng.random() < 0.02 else ""
    if len(recent) < 20_000:
        recent.append(url)
    else:
        recent[rng.randrange(20_000)] = url
    return url


def record(rng: random.Random, n: int, recent: list[str]) -> dict:
    """The n-th submission: ~70% link posts, ~20% self posts, ~10% NSFW, url-less or score-less."""
    sid, sub, kind = base36(1_000_000_000 + n), rng.choice(SUBREDDITS), rng.random()
    title = " ".join(rng.choices(WORDS, k=rng.randint(5, 16))).capitalize()
    rec = dict(TEMPLATE)
    rec.update(
        author=f"user_{token(rng, 8)}", author_fullname=f"t2_{token(rng, 8).lower()}",
        created_utc=1_500_000_000 + n * 30, id=sid, num_comments=int(rng.expovariate(1 / 20)),
        permalink=f"/r/{sub}/comments/{sid}/{'_'.join(title.lower().split()[:8])}/",
        retrieved_on=1_600_000_000 + n * 30,
        score=rng.randint(0, 2) if rng.random() < 0.5 else 3 + int(rng.paretovariate(1.2) * 10),
        subreddit=sub, subreddit_id=f"t5_{base36(zlib.crc32(sub.encode()) & 0xFFFFFF)}",
        subreddit_subscribers=rng.randint(10**4, 3 * 10**7), title=title,
        upvote_ratio=round(rng.uniform(0.5, 1.0), 2),
    )
    rec["full_link"] = f"https://www.reddit.com{rec['permalink']}"
    if 0.70 <= kind < 0.90:
        rec.update(is_self=True, domain=f"self.{sub}", url=rec["full_link"], thumbnail="self",
                   selftext=" ".join(rng.choices(WORDS, k=int(rng.expovariate(1 / 80)))))
    else:
        rec["url"] = url = link_url(rng, recent)
        rec["domain"] = url.split("/")[2] if url.count("/") >= 2 else ""
        if rng.random() < 0.2:
            image = (f"https://external-preview.redd.it/{token(rng, 43)}.jpg"
                     f"?auto=webp&amp;s={token(rng, 40)}")
            rec["preview"] = {"enabled": False, "images": [{
                "id": token(rng, 43), "resolutions": [{"height": 54, "url": image, "width": 108}],
                "source": {"height": 630, "url": image, "width": 1200}, "variants": {}}]}
            rec["thumbnail"] = f"https://b.thumbs.redditmedia.com/{token(rng, 43)}.jpg"
    if kind >= 0.95:
        rec["over_18"] = True
    elif kind >= 0.92:
        rec["url"] = rng.choice((None, "", "  "))
    elif kind >= 0.90:
        rec["score"] = None
    if rng.random() < 0.01:
        rec["created_utc"] = str(rec["created_utc"])
    return rec


def generate(path: Path, lines: int, seed: int = 1) -> None:
    """Write `lines` submissions as zstd NDJSON (level 3, long window), streaming."""
    rng, recent = random.Random(seed), []
    params = zstandard.ZstdCompressionParameters.from_level(
        3, window_log=WINDOW_LOG, enable_ldm=True)
    tmp = path.with_name(path.name + ".tmp")
    cctx = zstandard.ZstdCompressor(compression_params=params)
    with open(tmp, "wb") as fh, cctx.stream_writer(fh) as out:
        block = []
        for n in range(lines):
            line = orjson.dumps(record(rng, n, recent)).replace(b"/", b"\\/")  # dumps escape '/'
            if rng.random() < 0.001:  # malformed: cut short, not an object, no id, not JSON
                line = rng.choice((line[: len(line) // 2], b"[]", b'{"id":null}', b"<html>"))
            block.append(line)
            if len(block) == 1000 or n == lines - 1:
                out.write(b"\n".join(block) + b"\n")
                block = []
    os.replace(tmp, path)


def dump_for(workdir: Path, lines: int) -> Path:
    path = workdir / f"RS_synthetic_v{GENERATOR_VERSION}_{lines}.zst"
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        generate(path, lines)
        print(f"  done in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return path


def run_reference(path: Path) -> dict:
    lines = malformed = 0
    start = time.perf_counter()
    dctx = zstandard.ZstdDecompressor(max_window_size=2**31)
    with open(path, "rb") as fh, dctx.stream_reader(fh) as reader:
        rest = b""
        while chunk := reader.read(1 << 20):
            parts = (rest + chunk).split(b"\n")
            rest = parts.pop()
            for line in parts:
                lines += 1
                try:
                    orjson.loads(line)
                except orjson.JSONDecodeError:
                    malformed += 1
    return {"lines": lines, "malformed": malformed, "seconds": time.perf_counter() - start}


def run_ours(path: Path, workdir: Path) -> dict:
    """The body of `flows.source.source` for one new dump, minus Prefect and the funnel artifact."""
    from webtext import warehouse
    from webtext.components.config import load_config
    from webtext.components.files import sha256_file, stable_hash
    from webtext.components.source.ingest import config_hash, stage_dump
    from webtext.warehouse import source as queries

    config = load_config(None, [])
    root = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    try:
        t0 = time.perf_counter()
        sha, chash, info = sha256_file(path), config_hash(config.source, config.crawl), path.stat()
        load_id = stable_hash([sha, chash])[:16]
        t1 = time.perf_counter()
        staged = stage_dump(path, config.source, config.crawl, root / "staging" / load_id)
        t2 = time.perf_counter()
        con = warehouse.connect(root / "warehouse.duckdb")
        queries.load(con, [queries.DumpLoad(
            load_id=load_id, path=str(path), sha256=sha, size=info.st_size,
            mtime_ns=info.st_mtime_ns, config_hash=chash, counts=dict(staged.counts),
            batches=staged.batches)])
        shutil.rmtree(root / "staging" / load_id, ignore_errors=True)
        t3 = time.perf_counter()
        (subs,), (urls, pending) = (con.execute(sql).fetchone() for sql in (
            "SELECT count(*) FROM submissions",
            "SELECT count(*), count(*) FILTER (WHERE status = 'pending') FROM urls"))
        con.close()
        return {"lines": staged.counts["lines"], "selected": staged.counts["selected"],
                "submissions": subs, "urls": urls, "pending": pending, "seconds": t3 - t0,
                "hash_s": t1 - t0, "stage_s": t2 - t1, "load_s": t3 - t2}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM rather than ru_maxrss: Linux carries ru_maxrss through
    fork+exec, so a child would report the parent's (the generator's) peak if it was higher."""
    try:
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(s for s in status if s.startswith("VmHWM:")).split()[1]) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, dump: Path, workdir: Path, profile: bool = False) -> None:
    if profile:
        import cProfile
        import pstats
        profiler = cProfile.Profile()
        result = profiler.runcall(run_ours, dump, workdir)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(15)
    else:
        result = run_reference(dump) if mode == "reference" else run_ours(dump, workdir)
    result["peak_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(result), flush=True)


def spawn(mode: str, dump: Path, workdir: Path) -> dict:
    """One measurement in a fresh interpreter: neither the generator nor an earlier run counts."""
    cmd = [sys.executable, __file__, "--child", mode, "--dump", str(dump), "--workdir", workdir]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(next(s for s in out.splitlines() if s.startswith("RESULT "))[7:])


def label(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k" if n >= 1000 else str(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines in the benchmark dump")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / ".work",
                        help="where dumps are cached and runs stage their files")
    parser.add_argument("--profile", action="store_true",
                        help="instead: cProfile the stage once and print the top 15 by cumulative")
    parser.add_argument("--child", choices=("reference", "ours"), help=argparse.SUPPRESS)
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.child:
        return child(args.child, args.dump, args.workdir)
    big = dump_for(args.workdir, args.lines)
    if args.profile:
        return child("ours", big, args.workdir, profile=True)
    small = dump_for(args.workdir, SMALL if args.lines > SMALL else max(args.lines // 10, 1))

    started = time.perf_counter()
    refs, ours = [], []
    for _ in range(2):  # alternate, best of two
        refs.append(spawn("reference", big, args.workdir))
        ours.append(spawn("ours", big, args.workdir))
    small_ref = spawn("reference", small, args.workdir)
    small_our = spawn("ours", small, args.workdir)
    ref, our = min(refs, key=lambda r: r["seconds"]), min(ours, key=lambda r: r["seconds"])
    ref_rate, our_rate = ref["lines"] / ref["seconds"], our["lines"] / our["seconds"]
    ratio = our_rate / ref_rate
    peak, ref_peak = max(r["peak_mb"] for r in ours), max(r["peak_mb"] for r in refs)
    small_n, big_n = label(small_our["lines"]), label(our["lines"])
    runs = ["/".join(f"{r['seconds']:.1f}" for r in results) for results in (refs, ours)]

    print(f"source benchmark: {ref['lines']:,} lines ({big.stat().st_size / 2**20:,.0f} MB zst, "
          f"window 2^{WINDOW_LOG}); measured in {time.perf_counter() - started:.0f} s")
    print(f"reference (zstd + orjson.loads):  {ref_rate:9,.0f} lines/s   (runs {runs[0]} s)")
    print(f"webtext source stage:             {our_rate:9,.0f} lines/s   (runs {runs[1]} s)  "
          f"ratio {ratio:.2f} (target >= 0.5{'' if ratio >= 0.5 else ': MISSED'})")
    print(f"  hash {our['hash_s']:.1f} s, stage {our['stage_s']:.1f} s, load {our['load_s']:.1f} s;"
          f" {our['selected']:,} selected -> {our['submissions']:,} submissions, "
          f"{our['urls']:,} urls ({our['pending']:,} pending)")
    print(f"peak RSS: {small_n} lines {small_our['peak_mb']:,.0f} MB, "
          f"{big_n} lines {peak:,.0f} MB (ratio {peak / small_our['peak_mb']:.2f})")
    print(f"  reference (mostly the zstd window): {small_ref['peak_mb']:,.0f} MB, "
          f"{ref_peak:,.0f} MB; stage above reference: "
          f"{small_our['peak_mb'] - small_ref['peak_mb']:,.0f} MB, {peak - ref_peak:,.0f} MB")


if __name__ == "__main__":
    main()
