"""Throughput, peak memory and near-duplicate quality of the `extract` stage's judging and dedup.

- corpus: generated, seeded, never stored. Sentences of the prose every Python install carries
  (`components.sample.prose.stdlib_articles`, ~3k sentences) with 30% of their content words swapped
  for random ones, so that unrelated documents share almost no word 5-grams; 3-9 paragraphs of 2-5
  sentences, blank lines between them. A share `--planted` of the documents are near-copies of a
  recent original (words and sentences replaced, dropped or inserted until the shingle Jaccard
  falls to a target drawn from U(0.8, 1.0)) and 1% are hard negatives (target U(0.3, 0.6)).
- J: the exact Jaccard similarity of the two documents' sets of `MinHasher.shingles` (the normalised
  word 5-grams the stage hashes), measured on every planted pair; pairs are labelled by it, not
  by their target. It is measured on the generated texts, which the filters leave as they are
  but for the rare line C4 drops (a swapped word that makes a "cookie policy"): their count is
  printed.
- ours: what `verdicts.judge_shard` does per document, then `dedup.cluster` over every document that
  passed: `build_filters(FilterConfig())` + `judge` on each document (judging), `exact_key` +
  `MinHasher(DedupConfig()).band_keys` on each one that passed (keying), `cluster` (clustering).
  Overall docs/s is all documents over the sum of the three, setups included.
- reference: `text.split()` + `xxh3_64` of the encoded text for the same documents, in the same
  process: the least any per-document judge can do, so the ratio says what the stage costs.
- recall: share of planted pairs with J >= 0.8, both passing the filters, whose two documents end
  in the same cluster. false positives: share of the documents marked duplicate
  (`Clusters.duplicate`: every member of a cluster but its winner) that share their cluster with
  no document they were planted with (as copy or original) at J >= 0.8; those that were planted
  with J < 0.8 (a linked hard negative, or the original it displaced as winner) are counted apart.
  Targets: recall >= 95%, false positives < 1%; the exit status says whether both were met. Hard
  negatives (J < 0.6) that share a cluster with their original are counted for the record.
- peak RSS (VmHWM) at `--small` and `--docs` documents, each in a fresh process, from the end of
  the setup on (the language model's load peaks at ~175 MB whatever the corpus; printed apart).
  Documents are generated and judged in batches of 1000, and only the per-document keys
  ((bands + 1) int64), karma and created_utc are kept for clustering, so the judging loop's peak
  must stay flat; clustering's may grow only with the per-document state it is given (keys, doc
  ids) and builds (its sort orders and output lists), never with the texts. Both are printed.

    .venv/bin/python benchmarks/filter_dedup.py [--docs 100000] [--small 10000] [--seed 0]
        [--planted 0.05]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import numpy as np
import xxhash

from webtext.components.config import DedupConfig, FilterConfig
from webtext.components.extract.dedup import MinHasher, cluster, exact_key
from webtext.components.extract.filters import STOP_WORDS, Doc, build_filters, judge
from webtext.components.sample.prose import stdlib_articles

BATCH = 1000  # documents generated, then judged, at a time
RECENT = 1000  # originals a planted document may copy: bounded, so generation streams
HARD_SHARE = 0.01
SWAP = 0.3  # chance that a content word of a pool sentence is replaced
NEAR, HARD = 0.8, 0.6  # J at or above which a pair must be linked; below which it must not
TARGET_RECALL, TARGET_FP = 0.95, 0.01
_SENTENCE_BREAK = re.compile(r"(?<=[.?!])\s+(?=[A-Z\"“(])")

Paragraphs = list[list[str]]


class Corpus:
    """Seeded documents as (text, karma, created_utc, original's position or -1, J to it or 1.0)."""

    def __init__(self, seed: int, planted: float, hasher: MinHasher):
        paragraphs = [p for article in stdlib_articles(10**6) for p in article.paragraphs]
        self.pool = [s for p in paragraphs for s in _SENTENCE_BREAK.split(p)
                     if 6 <= len(s.split()) <= 40 and s.endswith((".", "?", "!")) and ".." not in s]
        self.vocab = sorted({w for s in self.pool for w in s.split()
                             if w.isalpha() and w.islower() and len(w) >= 4} - STOP_WORDS)
        self.swappable = frozenset(self.vocab)
        self.rng, self.planted, self.hasher = random.Random(seed), planted, hasher

    def sentence(self) -> str:
        rng, swappable = self.rng, self.swappable
        return " ".join(rng.choice(self.vocab) if w in swappable and rng.random() < SWAP else w
                        for w in rng.choice(self.pool).split())

    def document(self) -> Paragraphs:
        rng = self.rng
        return [[self.sentence() for _ in range(rng.randint(2, 5))] for _ in range(rng.randint(3, 9))]

    def shingles(self, paragraphs: Paragraphs) -> set[int]:
        return set(self.hasher.shingles(text(paragraphs)).tolist())

    def edit(self, paragraphs: Paragraphs, sentences: float) -> Paragraphs:
        """One random edit on a copy: a sentence replaced, dropped or inserted (with probability
        `sentences`), else a word replaced, dropped or inserted (never the last, which ends the line)."""
        rng, out = self.rng, [list(p) for p in paragraphs]
        para = rng.choice(out)
        i, op = rng.randrange(len(para)), rng.randrange(3)
        if rng.random() < sentences:
            items, k, new = para, i, self.sentence()
        else:
            items, new = para[i].split(), rng.choice(self.vocab)
            k = rng.randrange(len(items) - 1)
        if op == 0 or (op == 1 and len(items) == 1):
            items[k] = new
        elif op == 1:
            del items[k]
        else:
            items.insert(k, new)
        if items is not para:
            para[i] = " ".join(items)
        return out

    def copy(self, original: Paragraphs, low: float, high: float) -> tuple[Paragraphs, float]:
        """Edits until J to `original` would fall below a target from U(low, high) (near-copies:
        stop before, after three refused edits in a row) or has fallen to it (hard negatives)."""
        target, near = self.rng.uniform(low, high), low >= NEAR
        base, copy, similarity, refused = self.shingles(original), original, 1.0, 0
        while refused < 3:
            candidate = self.edit(copy, 0.2 if near else 0.7)
            shingles = self.shingles(candidate)
            j = len(base & shingles) / len(base | shingles)
            if near and j < target:
                refused += 1
                continue
            copy, similarity, refused = candidate, j, 0
            if not near and j <= target:
                break
        return copy, similarity

    def stream(self, n: int) -> Iterator[tuple[str, int, int, int, float]]:
        rng, recent = self.rng, []
        for position in range(n):
            karma, created = int(rng.paretovariate(1.2) * 10), 1_500_000_000 + position * 30
            r = rng.random()
            if recent and r < self.planted + HARD_SHARE:
                origin, original = rng.choice(recent)
                near = r < self.planted
                copy, j = self.copy(original, *((NEAR, 1.0) if near else (0.3, HARD)))
                yield text(copy), karma, created, origin, j
                continue
            paragraphs = self.document()
            if len(recent) < RECENT:
                recent.append((position, paragraphs))
            else:
                recent[rng.randrange(RECENT)] = (position, paragraphs)
            yield text(paragraphs), karma, created, -1, 1.0


def text(paragraphs: Paragraphs) -> str:
    return "\n\n".join(" ".join(p) for p in paragraphs)


def collision(j: float, config: DedupConfig) -> float:
    """Chance that two documents of shingle Jaccard j share a band key (MinHash LSH)."""
    return 1 - (1 - j**config.rows) ** config.bands


def peak_rss_mb() -> float:
    """This process's peak RSS; VmHWM, as ru_maxrss survives fork+exec (see source_throughput)."""
    try:
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(s for s in status if s.startswith("VmHWM:")).split()[1]) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> float:
    """Start the peak RSS afresh (Linux `clear_refs` 5) and return the RSS now: loading the language
    model and parsing the stdlib sources for the generator set a one-off peak that would hide how
    the measurement's own memory grows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(s for s in status if s.startswith("VmRSS:")).split()[1]) / 1024
    except (OSError, StopIteration):
        return 0.0


def measure(n: int, seed: int, planted: float) -> dict:
    """Generate, judge, key and cluster `n` documents; timings, filter verdicts and dedup quality."""
    dedup = DedupConfig()
    corpus = Corpus(seed, planted, MinHasher(dedup))  # its own hasher: generation is not timed
    seconds, reasons = Counter(), Counter()
    start = time.perf_counter()
    filters = build_filters(FilterConfig())
    seconds["judge_setup"], start = time.perf_counter() - start, time.perf_counter()
    hasher = MinHasher(dedup)
    seconds["key"] = time.perf_counter() - start
    setup_mb, base_mb = peak_rss_mb(), reset_peak()  # the language model's load peaks at ~175 MB
    slot = np.full(n, -1, dtype=np.int64)  # position -> index among the documents that passed
    exact, bands = np.empty(n, dtype=np.int64), np.empty((n, dedup.bands), dtype=np.int64)
    karma, created = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    pairs: list[tuple[int, int, float]] = []  # (copy, original, J) by position
    passed = position = edited = 0
    stream = corpus.stream(n)
    while batch := list(islice(stream, BATCH)):
        t0 = time.perf_counter()
        for doc_text, *_ in batch:
            doc_text.split()
            xxhash.xxh3_64_intdigest(doc_text.encode())
        t1 = time.perf_counter()
        docs = [Doc(text=doc_text, url=f"https://site{i % 997}.example.com/{i}")
                for i, (doc_text, *_) in enumerate(batch, position)]
        verdicts = [judge(doc, filters) for doc in docs]
        t2 = time.perf_counter()
        for i, (doc, reason) in enumerate(zip(docs, verdicts), position):
            if reason is None:
                exact[passed], bands[passed] = exact_key(doc.text), hasher.band_keys(doc.text)
                slot[i], passed = passed, passed + 1
        t3 = time.perf_counter()
        seconds.update(reference=t1 - t0, judge=t2 - t1, key=t3 - t2)  # a Counter: adds
        for (doc_text, k, c, origin, j), doc, reason in zip(batch, docs, verdicts):
            reasons[(reason or "passed").split(":")[0]] += 1
            if reason is None:
                karma[slot[position]], created[slot[position]] = k, c
                edited += doc.text != doc_text  # J was measured on the generated text
            if origin >= 0:
                pairs.append((position, origin, j))
            position += 1
    loop_mb = peak_rss_mb()
    ids = [f"d{i:07d}" for i in np.flatnonzero(slot >= 0).tolist()]
    reset_peak()  # so that clustering's own peak can be told from the loop's
    start = time.perf_counter()
    clusters = cluster(ids, karma[:passed], created[:passed], exact[:passed], bands[:passed])
    seconds["cluster"] = time.perf_counter() - start
    cluster_mb = peak_rss_mb()
    keys_mb = (exact[:passed].nbytes + bands[:passed].nbytes) / 2**20
    return {"docs": n, "passed": passed, "edited": edited, "reasons": reasons, "seconds": seconds,
            "keys_mb": keys_mb, "peak_mb": max(loop_mb, cluster_mb), "base_mb": base_mb,
            "loop_mb": loop_mb, "cluster_mb": cluster_mb, "setup_mb": setup_mb,
            **score(pairs, slot, clusters.cluster_id, clusters.duplicate)}


def score(pairs: list[tuple[int, int, float]], slot: np.ndarray, cluster_id: list[str | None],
          duplicate: list[bool]) -> dict:
    """Recall per J bin (and the LSH theory's expectation), false positives (and how many of them
    are in a pair planted with J < 0.8), hard negatives linked, pairs that lost a member."""
    dedup, partnered, weak = DedupConfig(), set(), set()
    bins = [[0, 0, 0.0] for _ in range(4)]  # pairs, linked, expected links; J from 0.8 by 0.05
    hard = hard_linked = lost = 0
    for copy, origin, j in pairs:
        a, b = int(slot[copy]), int(slot[origin])
        if a < 0 or b < 0:
            lost += 1
            continue
        linked = cluster_id[a] is not None and cluster_id[a] == cluster_id[b]
        if j >= NEAR:
            row = bins[min(int((j - NEAR) / 0.05 + 1e-9), 3)]
            row[0], row[1], row[2] = row[0] + 1, row[1] + linked, row[2] + collision(j, dedup)
            partnered.update((a, b) if linked else ())
        else:
            weak.update((a, b))
            hard, hard_linked = hard + (j < HARD), hard_linked + (j < HARD and linked)
    false = {d for d, dup in enumerate(duplicate) if dup and d not in partnered}
    return {"bins": bins, "marked": sum(duplicate), "false": len(false), "false_weak": len(false & weak),
            "hard": hard, "hard_linked": hard_linked, "lost": lost}


def spawn(n: int, args: argparse.Namespace) -> dict:
    """One measurement in a fresh interpreter, so that its peak RSS is its own."""
    cmd = [sys.executable, __file__, "--child", str(n), "--seed", str(args.seed),
           "--planted", str(args.planted)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(next(s for s in out.splitlines() if s.startswith("RESULT "))[7:])


def report(small: dict, big: dict, args: argparse.Namespace, seconds: float) -> bool:
    """Print the big run's figures and both peaks; whether the dedup targets were met."""
    n, passed, s, dedup = big["docs"], big["passed"], big["seconds"], DedupConfig()
    judging = s["judge"] + s["judge_setup"]
    ours, reference = n / (judging + s["key"] + s["cluster"]), n / s["reference"]
    print(f"filter + dedup benchmark: {n:,} generated docs (seed {args.seed}, {args.planted:.0%} "
          f"near-copies, {HARD_SHARE:.0%} hard negatives); measured in {seconds:.0f} s")
    failed = ", ".join(f"{r} {c / n:.2%}" for r, c in sorted(big["reasons"].items()) if r != "passed")
    print(f"filters: {passed / n:.1%} passed ({failed or 'none failed'}); "
          f"texts edited by the filters: {big['edited']}")
    print(f"judging    (build_filters + judge): {n / judging:9,.0f} docs/s  ({judging:.1f} s, "
          f"setup {s['judge_setup']:.1f} s)")
    print(f"keying     (exact_key + band_keys): {passed / s['key']:9,.0f} docs/s  ({s['key']:.1f} s "
          f"for the {passed:,} that passed)")
    print(f"clustering (cluster):               {passed / s['cluster']:9,.0f} docs/s  ({s['cluster']:.2f} s)")
    print(f"ours overall:                       {ours:9,.0f} docs/s")
    print(f"reference (split + xxh3_64):        {reference:9,.0f} docs/s  ratio {ours / reference:.4f}")
    print(f"peak RSS: {small['docs']:,} docs {small['peak_mb']:,.0f} MB, {n:,} docs "
          f"{big['peak_mb']:,.0f} MB (ratio {big['peak_mb'] / small['peak_mb']:.2f}); keys arrays "
          f"{small['keys_mb']:.1f} and {big['keys_mb']:.1f} MB")
    above = [[run[k] - run["base_mb"] for run in (small, big)] for k in ("loop_mb", "cluster_mb")]
    print(f"  above the RSS after setup: judging and keying {above[0][0]:.0f} and {above[0][1]:.0f} MB, "
          f"clustering {above[1][0]:.0f} and {above[1][1]:.0f} MB; setup (sentence pool, language "
          f"model) peaked at {big['setup_mb']:,.0f} MB")
    pairs, linked = (sum(row[k] for row in big["bins"]) for k in (0, 1))
    recall, fp = linked / (pairs or 1), big["false"] / (big["marked"] or 1)
    ok = recall >= TARGET_RECALL and fp < TARGET_FP
    print(f"recall: {recall:.1%} of {pairs:,} planted pairs with J >= {NEAR} "
          f"(target >= {TARGET_RECALL:.0%}); false positives: {fp:.2%} of {big['marked']:,} marked "
          f"duplicate ({big['false']}, "
          f"{big['false_weak']} of them in a pair planted with J < {NEAR}; target < {TARGET_FP:.0%}) "
          f"-> {'ok' if ok else 'MISSED'}")
    print("  recall by J: " + ", ".join(
        f"{NEAR + 0.05 * i:.2f}-{NEAR + 0.05 * (i + 1):.2f} {c[1] / (c[0] or 1):.1%} of {c[0]} "
        f"(theory {c[2] / (c[0] or 1):.1%})" for i, c in enumerate(big["bins"])))
    print(f"  hard negatives (J < {HARD}) linked: {big['hard_linked']} of {big['hard']}; "
          f"planted pairs that lost a member to the filters: {big['lost']}")
    print(f"LSH collision probability, {dedup.bands} bands x {dedup.rows} rows: " + ", ".join(
        f"J={j} {collision(j, dedup):.4f}" for j in (0.5, 0.7, 0.8, 0.9)))
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000, help="documents in the measured corpus")
    parser.add_argument("--small", type=int, default=10_000, help="the smaller corpus, for peak RSS")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--planted", type=float, default=0.05, help="share of near-copies")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(measure(args.child, args.seed, args.planted)), flush=True)
        return
    started = time.perf_counter()
    small, big = spawn(args.small, args), spawn(args.docs, args)
    sys.exit(0 if report(small, big, args, time.perf_counter() - started) else 1)


if __name__ == "__main__":
    main()
