"""Exact and MinHash LSH dedup: planted copies are found, distinct texts are not, winners follow karma."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webtext.components.config import DedupConfig
from webtext.components.extract.dedup import MinHasher, cluster, exact_key, normalise

VOCABULARY = (
    "river council market winter harbour bridge school doctor village garden station letter engine "
    "morning island forest museum kitchen library window teacher farmer painter captain soldier train "
    "summer mountain valley city road house music story paper money light water stone field church "
    "opened closed built carried watched followed painted crossed visited answered remembered found"
).split()


def prose(rng: random.Random, sentences: int = 40) -> str:
    """Distinct English-like text: random sentences over a small vocabulary, so that two texts share
    few word 5-grams unless one was copied from the other."""
    out = []
    for _ in range(sentences):
        words = [rng.choice(VOCABULARY) for _ in range(rng.randint(8, 14))]
        out.append("The " + " ".join(words) + ".")
    return " ".join(out)


def edited(text: str, rng: random.Random, share: float) -> str:
    """`text` with `share` of its sentences replaced by new ones."""
    sentences = text.split(". ")
    for i in rng.sample(range(len(sentences)), round(share * len(sentences))):
        sentences[i] = "A " + " ".join(rng.choice(VOCABULARY) for _ in range(10))
    return ". ".join(sentences)


def jaccard(hasher: MinHasher, a: str, b: str) -> float:
    x, y = set(hasher.shingles(a).tolist()), set(hasher.shingles(b).tolist())
    return len(x & y) / len(x | y)


def keys(texts: list[str], config: DedupConfig = DedupConfig()) -> tuple[np.ndarray, np.ndarray]:
    hasher = MinHasher(config)
    return (np.array([exact_key(t) for t in texts], dtype=np.int64),
            np.stack([hasher.band_keys(t) for t in texts]))


def run(texts: list[str], karma: list[int] | None = None, created: list[int] | None = None):
    ids = [f"doc{i:03d}" for i in range(len(texts))]
    exact, bands = keys(texts)
    return ids, cluster(ids, karma or [1] * len(texts), created or list(range(len(texts))), exact, bands)


def test_normalise_ignores_case_punctuation_spacing_and_width():
    assert normalise("Hello,  “World” — it's\tＦＵＬＬ width!") == "hello world its full width"
    assert exact_key("Hello, world!") == exact_key("  hello WORLD ") != exact_key("hello there world")


def test_signatures_estimate_jaccard():
    rng = random.Random(7)
    hasher = MinHasher(DedupConfig(bands=32, rows=8))
    for share in (0.0, 0.1, 0.3, 0.6):
        a = prose(rng)
        b = edited(a, rng, share)
        estimate = float(np.mean(hasher.signature(a) == hasher.signature(b)))
        assert abs(estimate - jaccard(hasher, a, b)) < 0.1, share


def test_keys_are_the_same_in_every_instance_and_change_with_the_seed():
    text = prose(random.Random(1))
    first = MinHasher(DedupConfig()).band_keys(text)
    assert first.dtype == np.int64 and first.shape == (14,)
    assert np.array_equal(first, MinHasher(DedupConfig()).band_keys(text))
    assert not np.array_equal(first, MinHasher(DedupConfig(seed=2)).band_keys(text))


def test_planted_near_duplicates_are_found_and_distinct_texts_are_not():
    rng = random.Random(3)
    originals = [prose(rng) for _ in range(60)]
    copies = [edited(text, rng, 0.05) for text in originals[:30]]  # one or two sentences in 40
    hasher = MinHasher(DedupConfig())
    assert min(jaccard(hasher, a, b) for a, b in zip(originals, copies)) >= 0.8
    ids, found = run(originals + copies)
    for i in range(30):
        original, copy = i, 60 + i
        assert found.cluster_id[original] == found.cluster_id[copy] is not None, i
        assert found.duplicate[original] != found.duplicate[copy]
    assert all(c is None for c in found.cluster_id[30:60])  # unedited, uncopied originals stand alone
    assert sum(found.duplicate) == 30


def test_loosely_related_texts_stay_apart():
    rng = random.Random(4)
    a = prose(rng)
    b = edited(a, rng, 0.7)
    assert jaccard(MinHasher(DedupConfig()), a, b) < 0.3
    _, found = run([a, b])
    assert found.cluster_id == [None, None] and found.duplicate == [False, False]


def test_exact_copies_with_other_punctuation_form_one_cluster():
    text = prose(random.Random(5))
    _, found = run([text, text.upper().replace(".", "!"), "  ".join(text.split())])
    assert found.cluster_id == ["doc000"] * 3 and found.duplicate == [False, True, True]


def test_the_winner_has_the_most_karma_then_the_earliest_submission():
    text = prose(random.Random(6))
    _, found = run([text] * 3, karma=[5, 9, 9], created=[100, 300, 200])
    assert found.duplicate == [True, True, False] and found.cluster_id == ["doc002"] * 3
    _, tied = run([text] * 2, karma=[4, 4], created=[50, 50])  # full tie: the smallest doc_id
    assert tied.duplicate == [False, True]


def test_a_chain_of_copies_is_one_cluster():
    rng = random.Random(8)
    chain = [prose(rng)]
    for _ in range(4):
        chain.append(edited(chain[-1], rng, 0.05))
    _, found = run(chain, karma=[1, 1, 1, 7, 1])
    assert found.cluster_id == ["doc003"] * 5 and sum(found.duplicate) == 4


@settings(max_examples=30, deadline=None)
@given(st.permutations(range(8)))
def test_clusters_do_not_depend_on_input_order(order):
    rng = random.Random(9)
    base = [prose(rng, 20) for _ in range(4)]
    texts = base + [edited(base[0], rng, 0.05), base[1], edited(base[2], rng, 0.05), prose(rng, 20)]
    ids = [f"d{i}" for i in range(8)]
    karma = [3, 5, 4, 4, 6, 5, 9, 3]
    exact, bands = keys(texts)
    expected = cluster(ids, karma, [0] * 8, exact, bands)
    got = cluster([ids[i] for i in order], [karma[i] for i in order], [0] * 8, exact[order], bands[order])
    assert {ids[i]: (got.cluster_id[k], got.duplicate[k]) for k, i in enumerate(order)} == \
        {ids[i]: (expected.cluster_id[i], expected.duplicate[i]) for i in range(8)}


def test_cluster_refuses_mismatched_or_repeated_input():
    exact, bands = keys(["one text here", "another text"])
    with pytest.raises(ValueError, match="occurs more than once"):
        cluster(["a", "a"], [1, 1], [1, 1], exact, bands)
    with pytest.raises(ValueError, match="karma 1"):
        cluster(["a", "b"], [1], [1, 1], exact, bands)
    empty = cluster([], [], [], np.empty(0, np.int64), np.empty((0, 14), np.int64))
    assert empty.cluster_id == [] and empty.duplicate == []
