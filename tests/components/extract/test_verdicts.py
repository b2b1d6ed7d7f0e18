"""Judging an extraction shard: every document gets its first failing reason; survivors get dedup keys."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.components.extract.test_filters import ARTICLE
from webtext.components.config import ExtractConfig
from webtext.components.errors import InputError
from webtext.components.extract.pages import PAGES
from webtext.components.extract.verdicts import judge_shard, judge_shards


def page(doc_id: str, text: str, status: str = "ok", url: str = "http://news.test/a", **extra) -> dict:
    row = dict.fromkeys(PAGES.names)
    return {**row, "doc_id": doc_id, "url": url, "text": text, "status": status, **extra}


def shard(path, rows):
    pq.write_table(pa.Table.from_pylist(rows, schema=PAGES), path)
    return path


ROWS = [
    page("kept", ARTICLE),
    page("short", "Only a few words here."),
    page("timeout", "", "extract_timeout", error="extraction took longer than 20 s"),
    page("empty", "", "no_text"),
    page("wiki", ARTICLE, url="http://mirror.test/x", canonical_url="https://en.wikipedia.org/wiki/X"),
]


def test_each_document_gets_its_first_failing_reason_and_only_survivors_get_keys(tmp_path):
    counts = judge_shard(shard(tmp_path / "in.parquet", ROWS), tmp_path / "out.parquet", ExtractConfig())
    assert counts == {"passed": 1, "too_short": 1, "extract_timeout": 1, "no_text": 1, "wikipedia": 1}
    out = {r["doc_id"]: r for r in pq.read_table(tmp_path / "out.parquet").to_pylist()}
    assert [out[k]["reason"] for k in ("kept", "short", "timeout", "empty", "wiki")] == \
        [None, "too_short", "extract_timeout", "no_text", "wikipedia"]
    kept = out["kept"]
    assert kept["lang"] == "en" and kept["n_words"] == len(kept["text"].split())
    assert kept["n_bytes"] == len(kept["text"].encode()) and len(kept["bands"]) == 14
    assert all(out[k]["exact_key"] is None and out[k]["bands"] is None for k in out if k != "kept")


@pytest.mark.slow
def test_judging_is_deterministic_in_one_process_or_many(tmp_path):
    sources = [shard(tmp_path / f"in{i}.parquet", ROWS[i:] + ROWS[:i]) for i in range(3)]
    config = ExtractConfig()
    alone = [(s, tmp_path / f"one-{s.name}") for s in sources]
    pooled = [(s, tmp_path / f"two-{s.name}") for s in sources]
    list(judge_shards(alone, config, workers=1))
    done = dict(judge_shards(pooled, config, workers=2))
    assert set(done) == {out for _, out in pooled}
    for (_, a), (_, b) in zip(alone, pooled):
        assert pq.read_table(a).equals(pq.read_table(b))


def test_a_threshold_change_changes_verdicts_from_the_same_shard(tmp_path):
    source = shard(tmp_path / "in.parquet", ROWS)
    strict = ExtractConfig.model_validate({"filters": {"min_words": 10_000}})
    assert judge_shard(source, tmp_path / "strict.parquet", strict)["too_short"] == 2


def test_an_unreadable_shard_is_named(tmp_path):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(InputError, match="broken.parquet"):
        judge_shard(broken, tmp_path / "out.parquet", ExtractConfig())
    assert not (tmp_path / "out.parquet").exists()
