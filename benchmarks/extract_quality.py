"""Main-text quality and throughput of the `extract` stage on the scrapinghub article benchmark.

- data: `/work/shared/data/web/articles` (119 gzip HTML pages and their gold article bodies; see
  that folder's README). Override with `--data`.
- metric: the benchmark's `evaluate.py`: token 4-gram shingles (tokens `\\w+`; a text of fewer than
  four tokens is one shorter shingle), per page precision = matched / predicted shingles and
  recall = matched / gold shingles (multiset counts), each averaged over the pages where it is
  defined (a page with no predicted text counts 0 in recall and not at all in precision), and F1
  from the two means.
- raw: the library call alone, in this one process, on the page decoded as UTF-8 as the benchmark
  does, with the settings `components.extract.html` uses (no title, no canonical URL).
- ours: the stage as the flow runs it. The pages are first archived (not timed) in a WARC with the
  project's writer, gzip-encoded as a server would send them, with the charset the crawl would
  record; then `extract_pages` is timed over their refs: WARC reads, a pool of `--workers`
  processes (default: all cores, as `extract.workers`) started and stopped, decoding, extraction,
  one Parquet file. Its texts are scored from that file.

Targets, for the default extractor (`extract.extractor`, trafilatura): ours within 0.01 F1 of raw,
and at least 0.8x raw's docs/s; the exit status says whether both were met. The other extractors
are measured for the record. Timings are the best of `--repeat` runs, raw and ours alternating.
Ours pays a fixed cost per batch (starting the workers: ~0.3 s with trafilatura, ~0.1 s with
resiliparse), which `--copies 4` spreads over a batch of about `extract.batch_records` pages.

    .venv/bin/python benchmarks/extract_quality.py [--data DIR] [--workers N] [--repeat 2]
        [--copies 1] [--extractors trafilatura resiliparse]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

# The project's modules are imported inside the functions: the pool's workers start by "spawn",
# which imports this script again in each of them, and they need none of it.

DATA = Path("/work/shared/data/web/articles")
TOKEN = re.compile(r"\w+")
SHINGLE = 4  # the benchmark's n
F1_TOLERANCE = 0.01
MIN_SPEED_RATIO = 0.8


def shingles(text: str) -> Counter:
    tokens = TOKEN.findall(text)
    if len(tokens) < SHINGLE:
        return Counter([tuple(tokens)] if tokens else [])
    return Counter(tuple(tokens[i : i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1))


def score(gold: dict[str, str], predicted: dict[str, str]) -> tuple[float, float, float]:
    """F1, precision, recall as the benchmark computes them."""
    precisions, recalls = [], []
    for key, truth in gold.items():
        want, got = shingles(truth), shingles(predicted.get(key, ""))
        matched = sum((want & got).values())
        if got:
            precisions.append(matched / sum(got.values()))
        if want:
            recalls.append(matched / sum(want.values()))
    precision, recall = statistics.mean(precisions), statistics.mean(recalls)
    return 2 * precision * recall / (precision + recall), precision, recall


def load(data: Path) -> tuple[dict[str, bytes], dict[str, str], dict[str, str]]:
    """Gzip bodies, URLs and gold texts by page id."""
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    bodies = {p.name.split(".")[0]: p.read_bytes() for p in sorted((data / "html").glob("*.html.gz"))}
    if set(bodies) != set(truth):
        raise SystemExit(f"{data}: the pages and ground-truth.json name different ids")
    urls = {key: truth[key].get("url") or f"http://benchmark.invalid/{key}" for key in bodies}
    return bodies, urls, {key: truth[key]["articleBody"] for key in bodies}


def replicate(by_id: dict, copies: int) -> dict:
    """Each page `copies` times under ids of its own (`ID~2`), to measure batches larger than 119."""
    return {f"{key}~{i}" if i else key: value for i in range(copies) for key, value in by_id.items()}


def archive(bodies: dict[str, bytes], urls: dict[str, str], warc_dir: Path) -> list:
    """Each page as a crawl would have archived it: gzip on the wire, charset as `classify` finds it."""
    from webtext.components.crawl.decoding import classify
    from webtext.components.crawl.warc import FetchRecord, WarcWriter
    from webtext.components.extract.pages import PageRef

    refs = []
    headers = [("Content-Type", "text/html"), ("Content-Encoding", "gzip")]
    with WarcWriter(warc_dir, "bench") as writer:
        for key, body in bodies.items():
            _, charset = classify(200, "text/html", gzip.decompress(body))
            ref = writer.write(FetchRecord(
                url=urls[key], ip="192.0.2.1", fetched_at=datetime.now(UTC), request_method="GET",
                request_headers=[("User-Agent", "bench")], status=200, reason="OK",
                http_version="HTTP/1.1", response_headers=headers, body=body,
            ))
            refs.append(PageRef(key, urls[key], None, ref.file, ref.offset, ref.length, charset))
    return refs


def bare(extractor: str):
    """The library call alone, with the stage's settings: no title, no canonical URL."""
    from webtext.components.extract.html import RESILIPARSE_OPTIONS, TRAFILATURA_OPTIONS

    if extractor == "trafilatura":
        import trafilatura

        return lambda html, url: trafilatura.extract(html, url=url, **TRAFILATURA_OPTIONS) or ""
    from resiliparse.extract.html2text import extract_plain_text

    return lambda html, url: extract_plain_text(html, **RESILIPARSE_OPTIONS)


def run_raw(extractor: str, bodies: dict[str, bytes], urls: dict[str, str]) -> tuple[dict[str, str], float]:
    function = bare(extractor)
    pages = {key: gzip.decompress(body).decode("utf-8") for key, body in bodies.items()}
    start = time.perf_counter()
    texts = {key: function(html, urls[key]) for key, html in pages.items()}
    return texts, time.perf_counter() - start


def run_ours(extractor: str, refs: list, warc_dir: Path, out: Path, workers: int):
    import pyarrow.parquet as pq

    from webtext.components.config import ExtractConfig
    from webtext.components.extract.pages import extract_pages

    start = time.perf_counter()
    counts = extract_pages(
        refs, out, warc_dir=warc_dir, extractor=extractor, workers=workers,
        timeout_s=ExtractConfig().timeout_s, max_bytes=10 * 2**20,
    )
    seconds = time.perf_counter() - start
    table = pq.read_table(out, columns=["doc_id", "text"]).to_pydict()
    return dict(zip(table["doc_id"], table["text"], strict=True)), seconds, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--extractors", nargs="+", default=["trafilatura", "resiliparse"])
    parser.add_argument("--copies", type=int, default=1,
                        help="archive and extract each page this many times (4: about one batch)")
    args = parser.parse_args()

    from webtext.components.config import ExtractConfig

    judged = ExtractConfig().extractor
    bodies, urls, gold = (replicate(d, args.copies) for d in load(args.data))
    n = len(bodies)
    print(f"{n} pages from {args.data}; ours with {args.workers} worker processes; best of {args.repeat}")
    print(f"{'extractor':<12} {'run':<5} {'F1':>6} {'prec':>6} {'recall':>6} {'empty':>5} {'docs/s':>7}")
    verdicts = []
    with tempfile.TemporaryDirectory() as tmp:
        warc_dir, out = Path(tmp) / "warc", Path(tmp) / "pages.parquet"
        refs = archive(bodies, urls, warc_dir)
        for extractor in args.extractors:
            raw_s, ours_s = [], []
            for _ in range(args.repeat):
                raw_texts, seconds = run_raw(extractor, bodies, urls)
                raw_s.append(seconds)
                ours_texts, seconds, counts = run_ours(extractor, refs, warc_dir, out, args.workers)
                ours_s.append(seconds)
            raw_f1, ours_f1 = score(gold, raw_texts), score(gold, ours_texts)
            for run, (f1, precision, recall), texts, seconds in (
                ("raw", raw_f1, raw_texts, min(raw_s)), ("ours", ours_f1, ours_texts, min(ours_s)),
            ):
                empty = sum(1 for t in texts.values() if not t)
                print(f"{extractor:<12} {run:<5} {f1:6.3f} {precision:6.3f} {recall:6.3f} {empty:5d} "
                      f"{n / seconds:7.1f}")
            ratio, delta = min(raw_s) / min(ours_s), ours_f1[0] - raw_f1[0]
            ok = abs(delta) <= F1_TOLERANCE and ratio >= MIN_SPEED_RATIO
            if extractor == judged:
                verdicts.append(ok)
            verdict = ("ok" if ok else "MISSED") if extractor == judged else "for the record"
            statuses = ", ".join(f"{s} {c}" for s, c in counts.items() if c)
            print(f"{extractor:<12} ours/raw: {ratio:.2f}x docs/s (target >= {MIN_SPEED_RATIO}), "
                  f"F1 {delta:+.4f} (target within {F1_TOLERANCE}) -> {verdict}; statuses: {statuses}")
    sys.exit(0 if all(verdicts) else 1)


if __name__ == "__main__":
    main()
