"""A snapshot encoded into token shards: every document once, in its split, separated, counted."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webtext.components.errors import InputError
from webtext.components.files import sha256_file
from webtext.components.tokenize.bpe import encode_document, tiktoken_encoding, train
from webtext.components.tokenize.shards import (
    MANIFEST_FILE,
    encode_snapshot,
    read_split,
    token_dtype,
    validation_ids,
    verify,
    write_manifest,
)
from webtext.components.tokenize.texts import SnapshotTexts

DOCS = [(f"doc{i:03d}", f"Document number {i} says something about the harbour, the bridge and the "
                        f"river, {'and more ' * (i % 7)}in its own words: ünïcödé {i * 7919}.")
        for i in range(60)]


def snapshot(path, docs):
    pq.write_table(pa.table({"doc_id": [d for d, _ in docs], "text": [t for _, t in docs]}), path)
    return path


@pytest.fixture(scope="module")
def encoding(tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    train(iter(t for _, t in DOCS), path, vocab_size=400, min_frequency=2)
    return tiktoken_encoding(path)


def encode(tmp_path, encoding, docs, **options):
    data = snapshot(tmp_path / "snapshot.parquet", docs)
    out = tmp_path / "tokens"
    out.mkdir()
    settings = {"val_fraction": 0.1, "shard_tokens": 500, "batch_documents": 7, "threads": 2, **options}
    stats = encode_snapshot(data, out, encoding, eot=0, vocab_size=400, **settings)
    write_manifest(out, stats, dtype="uint16")
    return data, out, stats


def documents(out, split) -> list[np.ndarray]:
    """A split's documents, cut at the separators (id 0, which no ordinary text encodes to)."""
    tokens = np.concatenate(list(read_split(out, split)))
    assert tokens[-1] == 0
    return [piece[:-1] for piece in np.split(tokens, np.flatnonzero(tokens == 0) + 1)[:-1]]


def test_every_document_is_encoded_once_in_order_and_separated(tmp_path, encoding):
    data, out, stats = encode(tmp_path, encoding, DOCS)
    val = validation_ids(data, 0.1)
    for split in ("train", "val"):
        expected = [(d, t) for d, t in DOCS if (d in val) == (split == "val")]
        got = documents(out, split)
        assert len(got) == len(expected) == stats[split].n_documents
        for tokens, (_, text) in zip(got, expected):
            assert encoding.decode(tokens.tolist()) == text
        assert stats[split].n_bytes == sum(len(t.encode()) for _, t in expected)
        assert stats[split].n_tokens == sum(len(encode_document(encoding, t)) + 1 for _, t in expected)
    assert 0 < stats["val"].n_documents < len(DOCS) // 3


def test_shards_roll_over_at_the_configured_size_and_carry_their_hash(tmp_path, encoding):
    _, out, stats = encode(tmp_path, encoding, DOCS)
    shards = stats["train"].shards
    assert len(shards) > 2 and all(s["n_tokens"] == 500 for s in shards[:-1])
    assert 0 < shards[-1]["n_tokens"] <= 500
    assert sum(s["n_tokens"] for s in shards) == stats["train"].n_tokens
    for shard in shards:
        assert sha256_file(out / shard["file"]) == shard["sha256"]
        assert (out / shard["file"]).stat().st_size == 2 * shard["n_tokens"]  # uint16


def test_the_split_does_not_depend_on_order_or_batch_size(tmp_path, encoding):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = validation_ids(snapshot(tmp_path / "a" / "s.parquet", DOCS), 0.1)
    second = validation_ids(snapshot(tmp_path / "b" / "s.parquet", DOCS[::-1]), 0.1)
    assert first == second and first
    _, out_a, _ = encode(tmp_path / "a", encoding, DOCS, batch_documents=1, threads=1)
    _, out_b, _ = encode(tmp_path / "b", encoding, DOCS, batch_documents=64)
    assert np.array_equal(np.concatenate(list(read_split(out_a, "val"))),
                          np.concatenate(list(read_split(out_b, "val"))))


def test_a_tiny_corpus_still_gets_a_validation_document(tmp_path):
    data = snapshot(tmp_path / "s.parquet", DOCS[:3])
    assert len(validation_ids(data, 0.001)) == 1
    assert validation_ids(data, 0.0) == frozenset()
    assert validation_ids(snapshot(tmp_path / "one.parquet", DOCS[:1]), 0.001) == frozenset()


def test_verify_catches_a_truncated_shard_or_a_changed_manifest(tmp_path, encoding):
    _, out, stats = encode(tmp_path, encoding, DOCS)
    digest = sha256_file(out / MANIFEST_FILE)
    assert verify(out, digest) and verify(out, digest, deep=True)
    shard = out / stats["val"].shards[0]["file"]
    data = shard.read_bytes()
    shard.write_bytes(data[::-1])  # same size, other content
    assert verify(out, digest) and not verify(out, digest, deep=True)
    shard.write_bytes(data[:-2])
    assert not verify(out, digest)
    assert not verify(out, "0" * 64)


def test_token_width_follows_the_vocabulary():
    assert token_dtype(50_257) == np.uint16 and token_dtype(65_536) == np.uint16
    assert token_dtype(65_537) == np.uint32


def test_an_unreadable_snapshot_is_named(tmp_path, encoding):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"no")
    with pytest.raises(InputError, match="bad.parquet"):
        encode_snapshot(bad, tmp_path, encoding, eot=0, vocab_size=400, val_fraction=0.0,
                        shard_tokens=10, batch_documents=1, threads=1)


def test_training_texts_stop_before_the_byte_budget(tmp_path):
    data = snapshot(tmp_path / "s.parquet", DOCS)
    sizes = [len(t.encode()) for _, t in DOCS]
    texts = SnapshotTexts(data, max_bytes=sum(sizes[:5]) + sizes[5] - 1)
    assert list(texts) == [t for _, t in DOCS[:5]]
    assert (texts.n_documents, texts.n_bytes) == (5, sum(sizes[:5]))
    everything = SnapshotTexts(data)
    assert len(list(everything)) == len(DOCS) and everything.n_bytes == sum(sizes)
