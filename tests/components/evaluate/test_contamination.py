"""The n-gram contamination check finds a planted overlap and passes a clean set."""

from __future__ import annotations

from webtext.components.evaluate.contamination import NgramIndex, contamination, ngram_hashes

CORPUS = [
    "The river rose through the night and by morning the lower town stood in a foot of brown water.",
    "Markets opened late on Tuesday after a power cut left the exchange dark for most of the morning.",
]


def test_a_planted_overlap_is_found_and_a_clean_set_is_not():
    index = NgramIndex.build(CORPUS, n=8)
    planted = "Quiz: by morning the LOWER town stood, in a foot of brown water! What happened next?"
    clean = ["A recipe for bread needs flour, water, salt and a little patience with the dough.",
             "The committee will vote on the budget proposal when it meets again next spring."]
    assert index.overlaps(planted)  # case and punctuation do not hide it
    assert contamination(index, clean) == (0.0, 2)
    assert contamination(index, [*clean, planted]) == (1 / 3, 3)


def test_fewer_shared_words_than_n_is_no_overlap():
    index = NgramIndex.build(CORPUS, n=8)
    assert not index.overlaps("the lower town stood in a foot")  # seven words of a corpus sentence
    assert len(ngram_hashes("too short", 8)) == 0
    assert not NgramIndex.build([], n=8).overlaps(CORPUS[0])


def test_hashes_depend_on_word_order_and_the_index_survives_a_round_trip(tmp_path):
    forward, backward = ngram_hashes("a b c d", 4), ngram_hashes("d c b a", 4)
    assert len(forward) == 1 and forward[0] != backward[0]
    index = NgramIndex.build(CORPUS * 3, n=5, chunk=10)  # several dedup chunks
    assert len(index.hashes) == sum(len(ngram_hashes(t, 5)) for t in CORPUS)  # no duplicates
    index.save(tmp_path / "index.npy")
    again = NgramIndex.load(tmp_path / "index.npy", 5)
    assert (again.hashes == index.hashes).all() and again.overlaps(CORPUS[1])


def test_a_cached_index_is_built_once_and_then_read_back(tmp_path):
    path = tmp_path / "ngrams" / "snap-3.npy"
    built = []

    def texts():
        built.append(True)
        return ["the quick brown fox jumps"]

    first = NgramIndex.cached(path, texts, 3)
    second = NgramIndex.cached(path, texts, 3)
    assert built == [True] and path.is_file()
    assert (second.hashes == first.hashes).all() and second.overlaps("a quick brown fox")
