"""Tokenizer training time and the `tokenize` stage's encoding throughput, against raw encoders.

All on one generated snapshot file (`doc_id`, `text`) of `--mb` MB, in one run:

- training: `components.tokenize.bpe.train` (HF `tokenizers`, byte-level BPE, `--vocab` tokens)
  streaming the snapshot's texts; seconds and MB/s.
- ours: what the stage's encode task does: read the snapshot in batches, encode every document,
  split it into train/val, write uint16 shards with their hashes and the manifest
  (`components.tokenize.shards.encode_snapshot`). Tokens/s over the whole wall time, reading included.
- raw tiktoken: `encode_ordinary_batch(texts, num_threads=--threads)` on the texts already in memory,
  with an `Encoding` built from the same ranks; the reference (target: ours >= 0.8x of it).
- raw HF: `Tokenizer.encode_batch` on the same texts, 1,000 documents a call (one call over 50 MB
  holds ~5.5 GB).
- identity: the ids of all three, document by document, must be equal; the exit status says
  whether they are and whether the target was met. Timings are the best of `--repeat` runs.

Texts: paragraphs of the prose every Python install carries (`components.sample.prose`), of
`/work/shared/data/text/tinyshakespeare.txt` and of the article benchmark's gold texts when those
are present, drawn at random (seeded) into documents of 5-15 paragraphs.

    .venv/bin/python benchmarks/tokenize_throughput.py [--mb 50] [--vocab 8192] [--threads 2] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from webtext.components.sample.prose import stdlib_articles
from webtext.components.tokenize.bpe import END_OF_TEXT, load, tiktoken_encoding, train
from webtext.components.tokenize.shards import encode_snapshot, read_split, validation_ids, write_manifest

SHARED = Path("/work/shared/data")
WORK = Path(__file__).resolve().parent / ".work"
GENERATOR_VERSION = 1
MIN_RATIO = 0.8
HF_BATCH = 1000


def paragraphs() -> list[str]:
    """Every paragraph of the available prose, in a fixed order."""
    pool = [p for article in stdlib_articles(10_000) for p in article.paragraphs]
    shakespeare = SHARED / "text" / "tinyshakespeare.txt"
    if shakespeare.is_file():
        pool += [p.strip() for p in shakespeare.read_text().split("\n\n") if p.strip()]
    gold = SHARED / "web" / "articles" / "ground-truth.json"
    if gold.is_file():
        for page in json.loads(gold.read_text()).values():
            pool += [p.strip() for p in page["articleBody"].split("\n") if p.strip()]
    return pool


def snapshot(megabytes: int, seed: int = 0) -> Path:
    """A snapshot file of about `megabytes` MB of text, generated once and cached."""
    path = WORK / f"tokenize-snapshot-v{GENERATOR_VERSION}-{megabytes}mb-{seed}.parquet"
    if path.exists():
        return path
    rng, pool = random.Random(seed), paragraphs()
    ids, texts, size = [], [], 0
    while size < megabytes * 1_000_000:
        text = "\n\n".join(rng.choice(pool) for _ in range(rng.randint(5, 15)))
        ids.append(f"doc{len(ids):08d}")
        texts.append(text)
        size += len(text.encode())
    WORK.mkdir(exist_ok=True)
    pq.write_table(pa.table({"doc_id": ids, "text": texts}), path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    data = snapshot(args.mb)
    texts = pq.read_table(data, columns=["text"]).column("text").to_pylist()
    n_bytes = sum(len(t.encode()) for t in texts)
    print(f"snapshot: {len(texts):,} documents, {n_bytes / 1e6:.1f} MB ({data})")

    with tempfile.TemporaryDirectory(dir=WORK) as scratch:
        scratch = Path(scratch)
        start = time.perf_counter()
        vocab = train((t for t in texts), scratch / "tokenizer.json", vocab_size=args.vocab, min_frequency=2)
        seconds = time.perf_counter() - start
        print(f"training: {vocab:,} tokens in {seconds:.1f} s ({n_bytes / 1e6 / seconds:.1f} MB/s)")
        encoding, hf = tiktoken_encoding(scratch / "tokenizer.json"), load(scratch / "tokenizer.json")
        eot = encoding.encode_single_token(END_OF_TEXT)

        def ours() -> Path:
            out = scratch / f"tokens-{time.monotonic_ns()}"
            out.mkdir()
            stats = encode_snapshot(data, out, encoding, eot=eot, vocab_size=vocab, val_fraction=0.005,
                                    shard_tokens=100_000_000, batch_documents=1024, threads=args.threads)
            write_manifest(out, stats, dtype="uint16")
            return out

        def raw_tiktoken() -> list[list[int]]:
            return encoding.encode_ordinary_batch(texts, num_threads=args.threads)

        def raw_hf() -> list[list[int]]:
            return [e.ids for i in range(0, len(texts), HF_BATCH)
                    for e in hf.encode_batch(texts[i:i + HF_BATCH])]

        timings: dict[str, float] = {}
        results: dict[str, object] = {}
        for _ in range(args.repeat):  # alternate, so that drift in the machine's speed hits both
            for name, run in (("ours", ours), ("raw tiktoken", raw_tiktoken), ("raw HF", raw_hf)):
                start = time.perf_counter()
                results[name] = run()
                timings[name] = min(timings.get(name, float("inf")), time.perf_counter() - start)

        reference = results["raw tiktoken"]
        n_tokens = sum(map(len, reference))
        identical = reference == results["raw HF"]
        val = validation_ids(data, 0.005)
        doc_ids = pq.read_table(data, columns=["doc_id"]).column("doc_id").to_pylist()
        for split in ("train", "val"):
            expected = [ids + [eot] for doc_id, ids in zip(doc_ids, reference)
                        if (doc_id in val) == (split == "val")]
            got = np.concatenate(list(read_split(results["ours"], split)))
            flat = np.fromiter((i for ids in expected for i in ids), dtype=np.int64)
            identical &= np.array_equal(got, flat)

    print(f"tokens: {n_tokens:,} ({n_bytes / n_tokens:.2f} bytes/token), "
          f"ids identical in all three: {identical}")
    for name, seconds in timings.items():
        print(f"{name:>13}: {n_tokens / seconds / 1e6:6.2f}M tokens/s ({seconds:.2f} s)")
    ratio = timings["raw tiktoken"] / timings["ours"]
    print(f"ratio ours / raw tiktoken: {ratio:.2f}x (target >= {MIN_RATIO}); "
          f"raw HF / raw tiktoken: {timings['raw tiktoken'] / timings['raw HF']:.2f}x; "
          f"cpus: {os.cpu_count()}")
    return 0 if identical and ratio >= MIN_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
