"""Exact and near-duplicate detection: keys per document while it is judged, clusters over all of them.

Every document that passes the filters gets two kinds of key in the (parallel) judging step: an exact
key, the hash of its normalised text, and MinHash LSH band keys (Broder 1997; the banding of Leskovec,
Rajaraman & Ullman, *Mining of Massive Datasets*, ch. 3), computed as FineWeb does: word 5-grams,
14 bands of 8 MinHash values. Two documents whose shingle sets have Jaccard similarity J share at least
one band key with probability 1 - (1 - J^rows)^bands: 0.92 at J = 0.8, 0.05 at J = 0.5, 0.0009 at
J = 0.3 for 14 x 8.

`cluster` then links, across the whole corpus, documents that share any key and keeps one winner per
connected component. Keys are stored as signed int64 so they fit DuckDB BIGINT and Arrow int64 columns.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import xxhash

from webtext.components.config import DedupConfig

# The permutations' modulus, a Mersenne prime: (a*x + b) mod p over random a, b is a 2-universal family
# (Carter & Wegman 1979), and multiplying by a power of two mod 2^61 - 1 is a bit rotation.
MERSENNE_61 = (1 << 61) - 1
_P = np.uint64(MERSENNE_61)
_LOW_32 = np.uint64(0xFFFFFFFF)
# Shingles hashed per step: bounds the three work buffers (BLOCK x bands*rows x 8 B, 460 KB each at
# 14 x 8) whatever a document's length, and covers the ~350 shingles of a typical 2 KB article at once.
BLOCK = 512

# Punctuation and symbols: anything neither a word character nor whitespace, and the underscore (\w).
_DROP = re.compile(r"[^\w\s]|_")
# The same set within ASCII, for bytes.translate: ~4x faster than the regex on the usual English page.
_DROP_ASCII = bytes(c for c in range(128) if _DROP.match(chr(c)))


def normalise(text: str) -> str:
    """The text as exact dedup compares it: Unicode NFKC, lower case, punctuation and symbols removed,
    whitespace collapsed to single spaces. Copies that differ in case, quoting, dashes, spacing or
    full-width forms become one string."""
    text = unicodedata.normalize("NFKC", text).lower()
    if text.isascii():
        text = text.encode().translate(None, _DROP_ASCII).decode()
    else:
        text = _DROP.sub("", text)
    return " ".join(text.split())


def _signed(value: int) -> int:
    """An unsigned 64-bit hash as the int64 with the same bits."""
    return value - (1 << 64) if value >= 1 << 63 else value


def exact_key(text: str) -> int:
    """xxh3_64 of `normalise(text)` as a signed int64. Every text that normalises to nothing (empty,
    whitespace or punctuation only) shares the key of the empty string."""
    return _signed(xxhash.xxh3_64_intdigest(normalise(text).encode()))


class MinHasher:
    """Band keys of one document under one `DedupConfig`; the same text and config give the same keys
    in any process, on any run (xxhash and numpy's seeded PCG64, never Python's salted `hash()`).

    Shingles are the word n-grams of `normalise(text)`, hashed to 32 bits with xxh32. A text of fewer
    than `ngram` words is one shingle of all its words, so a short text still has keys; an empty text
    is the one shingle "" and so has fixed keys, shared by every empty text.

    An instance owns work buffers: use one per thread (a judging worker builds its own).
    """

    def __init__(self, config: DedupConfig):
        self.ngram, self.bands, self.rows = config.ngram, config.bands, config.rows
        n_hashes = config.bands * config.rows
        rng = np.random.default_rng(config.seed)
        a = rng.integers(1, MERSENNE_61, size=n_hashes, dtype=np.uint64)
        self._b = rng.integers(0, MERSENNE_61, size=n_hashes, dtype=np.uint64)
        # a*x needs up to 93 bits; with a = a_hi * 2^32 + a_lo each partial product fits 64 bits.
        self._a_hi, self._a_lo = a >> np.uint64(32), a & _LOW_32
        self._work = [np.empty((BLOCK, n_hashes), dtype=np.uint64) for _ in range(3)]

    def shingles(self, text: str) -> np.ndarray:
        """The xxh32 hashes (as uint64) of the text's word n-grams, in order, repeats included."""
        words = normalise(text).split()
        grams = zip(*(words[i:] for i in range(self.ngram))) if len(words) >= self.ngram else [words]
        return np.fromiter((xxhash.xxh32_intdigest(" ".join(g).encode()) for g in grams), dtype=np.uint64)

    def signature(self, text: str) -> np.ndarray:
        """bands*rows MinHash values: for each (a, b), min over shingles x of (a*x + b) mod 2^61 - 1.

        Computed exactly in uint64 without overflow: a_hi*x < 2^61 and its product with 2^32 mod p is
        a 61-bit rotation; a_lo*x < 2^64 is folded mod p as (v & p) + (v >> 61); the sum of the two
        and b stays below 2^63. (Keeping a below 2^32 instead would avoid the split but make the
        permutations nearly monotone in x, and the Jaccard estimates four times as noisy.)
        """
        x = self.shingles(text)
        signature = np.full(len(self._b), _P, dtype=np.uint64)  # above every value mod p
        for start in range(0, len(x), BLOCK):
            block = x[start:start + BLOCK, None]
            hi, lo, rot = (buffer[:len(block)] for buffer in self._work)
            np.multiply(block, self._a_hi, out=hi)
            np.left_shift(hi, np.uint64(32), out=rot)
            np.bitwise_and(rot, _P, out=rot)
            np.right_shift(hi, np.uint64(29), out=hi)
            np.bitwise_or(rot, hi, out=rot)  # a_hi*x*2^32 mod p
            np.multiply(block, self._a_lo, out=lo)
            np.right_shift(lo, np.uint64(61), out=hi)
            np.bitwise_and(lo, _P, out=lo)
            np.add(lo, hi, out=lo)  # a_lo*x mod p, give or take p
            np.add(lo, rot, out=lo)
            np.add(lo, self._b, out=lo)
            np.floor_divide(lo, _P, out=hi)
            np.multiply(hi, _P, out=hi)
            np.subtract(lo, hi, out=lo)
            np.minimum(signature, lo.min(axis=0), out=signature)
        return signature

    def band_keys(self, text: str) -> np.ndarray:
        """One int64 per band: xxh3_64 of the band's `rows` MinHash values (little-endian bytes),
        seeded with the band's index so that equal keys never occur across bands by construction."""
        data = self.signature(text).astype("<u8").tobytes()
        width = 8 * self.rows
        keys = [xxhash.xxh3_64_intdigest(data[i * width:(i + 1) * width], seed=i) for i in range(self.bands)]
        return np.array(keys, dtype=np.uint64).view(np.int64)


@dataclass(frozen=True)
class Clusters:
    """Per input document, in input order."""

    cluster_id: list[str | None]  # None for a document alone; else the winner's doc_id
    duplicate: list[bool]  # True for every member of a cluster but its winner


def cluster(doc_ids: Sequence[str], karma: Sequence[int], created_utc: Sequence[int],
            exact_keys: np.ndarray, band_keys: np.ndarray) -> Clusters:
    """Link documents with equal exact keys or an equal band key (same band), take the connected
    components, and keep in each the document with the highest karma, then the earliest
    `created_utc`, then the smallest doc_id. The result does not depend on the input order.

    Vectorised: per key column one argsort links each document to its equal neighbour, and a
    union-find over those links (at most n per column) merges the components. Memory is the keys'
    n*(bands+1)*8 B plus a few n-sized int64 arrays; no dict of keys is built.
    """
    n = len(doc_ids)
    exact_keys, band_keys = np.asarray(exact_keys, dtype=np.int64), np.asarray(band_keys, dtype=np.int64)
    if exact_keys.shape != (n,) or band_keys.ndim != 2 or band_keys.shape[0] != n \
            or len(karma) != n or len(created_utc) != n:
        raise ValueError(f"cluster: {n} doc_ids but karma {len(karma)}, created_utc {len(created_utc)}, "
                         f"exact_keys {exact_keys.shape}, band_keys {band_keys.shape}")
    if n == 0:
        return Clusters(cluster_id=[], duplicate=[])
    # UTF-8 bytes sort in code point order, as str does, at a quarter of numpy's str memory.
    ids = np.array([doc_id.encode() for doc_id in doc_ids], dtype=bytes)
    by_id = np.argsort(ids, kind="stable")
    repeated = ids[by_id[1:]] == ids[by_id[:-1]]
    if repeated.any():
        raise ValueError(f"cluster: doc_id {ids[by_id[1:]][repeated][0].decode()!r} occurs more than once")

    parent = np.arange(n, dtype=np.int64)
    for column in (exact_keys, *band_keys.T):
        order = np.argsort(column)
        same = column[order[1:]] == column[order[:-1]]
        _union(parent, order[:-1][same], order[1:][same])

    id_rank = np.empty(n, dtype=np.int64)
    id_rank[by_id] = np.arange(n)
    karma = np.asarray(karma, dtype=np.int64)
    created = np.asarray(created_utc, dtype=np.int64)
    order = np.lexsort((id_rank, created, -karma, parent))  # by component, best document first
    roots = parent[order]
    first = np.ones(n, dtype=bool)
    first[1:] = roots[1:] != roots[:-1]
    winner_of = np.empty(n, dtype=np.int64)
    winner_of[roots[first]] = order[first]
    winner = winner_of[parent]
    member = np.bincount(parent, minlength=n)[parent] > 1
    duplicate = member & (winner != np.arange(n))
    cluster_id = [doc_ids[w] if m else None for w, m in zip(winner.tolist(), member.tolist())]
    return Clusters(cluster_id=cluster_id, duplicate=duplicate.tolist())


def _union(parent: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
    """Merge the components of each pair (u[i], v[i]) in place. `parent` is kept fully compressed
    (every entry a root, and parent[x] <= x), so a component is named by its smallest index."""
    while len(u):
        ru, rv = parent[u], parent[v]
        live = ru != rv
        u, v, ru, rv = u[live], v[live], ru[live], rv[live]
        # Hook each larger root under the smallest root it meets; roots only ever decrease, so no
        # cycle forms, and every round removes at least one root per pair still apart.
        np.minimum.at(parent, np.maximum(ru, rv), np.minimum(ru, rv))
        while True:  # path compression by pointer jumping
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent[:] = grand


def cluster_table(candidates: pa.Table, bands: int) -> pa.Table:
    """`cluster` over the warehouse's candidate rows (doc_id, karma, created_utc, exact_key, and
    `bands` band hashes each): each document's cluster id and whether it is a duplicate."""
    ids = candidates.column("doc_id").to_pylist()
    band_hashes = np.array(candidates.column("bands").to_pylist(), dtype=np.int64).reshape(len(ids), bands)
    exact = np.array(candidates.column("exact_key").to_pylist(), dtype=np.int64)
    found = cluster(ids, candidates.column("karma").to_pylist(), candidates.column("created_utc").to_pylist(),
                    exact, band_hashes)
    return pa.table({"doc_id": pa.array(ids, pa.string()),
                     "cluster_id": pa.array(found.cluster_id, pa.string()),
                     "duplicate": pa.array(found.duplicate, pa.bool_())})
