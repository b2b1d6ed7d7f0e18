"""The tokenize stage on the tiny sample: the shards hold exactly the snapshot's documents, and reruns
reuse what is there."""

import json

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.flows.stages import TINY, in_home, tiny
from webtext.components.files import sha256_file
from webtext.components.tokenize.bpe import tiktoken_encoding
from webtext.components.tokenize.shards import read_split, validation_ids
from webtext.flows.tokenize import tokenize

pytestmark = pytest.mark.slow


def query(home, sql, params=()):
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def tokenized(tiny_run):
    """The shared tiny run's home, its results up to this stage, and tokenize run again there."""
    with in_home(tiny_run.home.root) as home:
        rerun = tokenize(tiny())
    return home, tiny_run.results[:4], rerun


def test_the_pipeline_ends_in_a_token_set_and_a_rerun_is_up_to_date(tokenized):
    _, results, rerun = tokenized
    assert [r.stage for r in results] == ["source", "crawl", "extract", "tokenize"]
    assert "trained tokenizer" in results[3].summary
    assert rerun.up_to_date and "up to date" in rerun.summary


def test_the_manifest_matches_the_snapshot_documents(tokenized):
    home = tokenized[0]
    [(token_set, tokenizer_id, snapshot_id, path, manifest_sha)] = query(
        home, "SELECT token_set_id, tokenizer_id, snapshot_id, path, manifest_sha256 FROM token_sets")
    [(snapshot_path, n_documents)] = query(
        home, "SELECT path, n_documents FROM snapshots WHERE snapshot_id = ?", [snapshot_id])
    data = home.snapshots / snapshot_path / "data.parquet"
    docs = pq.read_table(data, columns=["doc_id", "text"]).to_pylist()
    directory = home.tokens / path
    manifest = json.loads((directory / "manifest.json").read_text())
    assert sha256_file(directory / "manifest.json") == manifest_sha
    assert (manifest["snapshot_id"], manifest["tokenizer_id"], manifest["dtype"]) == \
        (snapshot_id, tokenizer_id, "uint16")
    encoding = tiktoken_encoding(home.tokenizers / tokenizer_id / "tokenizer.json")
    val = validation_ids(data, tiny().tokenize.val_fraction)
    splits = "SELECT split, n_documents, n_tokens, n_bytes, n_shards FROM token_splits WHERE token_set_id = ?"
    recorded = {split: counts for split, *counts in query(home, splits, [token_set])}
    for split in ("train", "val"):
        expected = [doc["text"] for doc in docs if (doc["doc_id"] in val) == (split == "val")]
        tokens = np.concatenate(list(read_split(directory, split)))
        texts = encoding.decode(tokens.tolist()).split("<|endoftext|>")
        assert texts == expected + [""], split  # every document, in snapshot order, then a separator
        stats = manifest["splits"][split]
        assert [stats["n_documents"], stats["n_tokens"], stats["n_bytes"], len(stats["shards"])] == \
            recorded[split] == [len(expected), len(tokens), sum(len(t.encode()) for t in expected),
                                len(stats["shards"])]
    assert recorded["train"][0] + recorded["val"][0] == n_documents and recorded["val"][0] >= 1
    assert len(manifest["splits"]["train"]["shards"]) > 1  # tiny.yaml's shards are small


def test_the_tokenizer_is_recorded_with_its_hash_and_snapshot(tokenized):
    home = tokenized[0]
    [(tokenizer_id, snapshot_id, vocab_size, path, sha)] = query(
        home, "SELECT tokenizer_id, snapshot_id, vocab_size, path, sha256 FROM tokenizers")
    file = home.tokenizers / path / "tokenizer.json"
    assert sha256_file(file) == sha and vocab_size == tiny().tokenize.vocab_size
    assert query(home, "SELECT count(*) FROM snapshots WHERE snapshot_id = ?", [snapshot_id]) == [(1,)]


def test_the_summary_artifact_gives_bytes_per_token(tokenized, tiny_run):
    artifact = tiny_run.artifact("tokenize-summary")
    rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    assert {row["split"] for row in rows} == {"train", "val"}
    assert all(row["bytes_per_token"] == round(row["bytes"] / row["tokens"], 3) for row in rows)


def test_a_new_split_reuses_the_tokenizer_and_a_damaged_set_is_rebuilt(tiny_run, tmp_path):
    home = tiny_run.copy(tmp_path / "home")
    [(tokenizer_id, trained_at)] = query(home, "SELECT tokenizer_id, created_at FROM tokenizers")
    with in_home(home.root):
        result = tokenize(tiny("tokenize.val_fraction=0.3"))
    assert not result.up_to_date and f"reused tokenizer {tokenizer_id}" in result.summary
    assert query(home, "SELECT tokenizer_id, created_at FROM tokenizers") == [(tokenizer_id, trained_at)]
    assert len(query(home, "SELECT * FROM token_sets")) == 2

    [(path,)] = query(home, "SELECT path FROM token_sets ORDER BY created_at LIMIT 1")
    next((home.tokens / path).glob("train-*.bin")).write_bytes(b"")
    with in_home(home.root):
        rebuilt = tokenize(tiny())
        assert not rebuilt.up_to_date and "reused tokenizer" in rebuilt.summary
        assert tokenize(tiny()).up_to_date


def test_an_unknown_snapshot_is_named(tokenized, cli_in):
    code, _, err = cli_in(tokenized[0])("stage", "tokenize", "--config", str(TINY), "--set",
                                        "tokenize.snapshot=zzzz")
    assert code == 1 and "tokenize.snapshot='zzzz' matches no snapshot" in err
