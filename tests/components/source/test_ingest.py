import duckdb
import pytest

from tests.dumps import submission, write_dump
from webtext.components.config import load_config
from webtext.components.errors import InputError
from webtext.components.source.ingest import config_hash, stage_dump

RECORDS = (
    [submission(str(i), f"http://site{i % 40}.example.com/story/{i}", score=i % 7) for i in range(300)]
    + [submission("img", "https://i.imgur.com/x.png"), submission("self", is_self=True), "{oops"]
)


def staged_rows(batches):
    files = [str(b) for b in batches]
    return duckdb.sql(f"SELECT * FROM read_parquet({files}) ORDER BY id").fetchall()


def test_stage_counts_the_funnel(tmp_path):
    config = load_config(None, ["source.batch_lines=50"])
    dump = write_dump(tmp_path / "RS.zst", RECORDS)
    staged = stage_dump(dump, config.source, config.crawl, tmp_path / "stage")
    expected_selected = sum(1 for i in range(300) if i % 7 >= 3) + 1
    assert staged.counts["lines"] == 303
    assert staged.counts["malformed"] == 1
    assert staged.counts["self_post"] == 1
    assert staged.counts["selected"] == expected_selected
    assert staged.counts["low_score"] == 300 + 1 - expected_selected
    assert len(staged.batches) == 7
    rows = staged_rows(staged.batches)
    assert len(rows) == expected_selected
    assert ("img", "https://i.imgur.com/x.png", "https://i.imgur.com/x.png", "i.imgur.com", 10,
            "news", 1120181161, "blocked_domain") in rows


def test_rerun_resumes_after_the_last_complete_batch(tmp_path):
    config = load_config(None, ["source.batch_lines=50"])
    dump = write_dump(tmp_path / "RS.zst", RECORDS)
    whole = stage_dump(dump, config.source, config.crawl, tmp_path / "stage")
    rows = staged_rows(whole.batches)
    # A killed run leaves only complete batches (each is renamed into place whole).
    for batch in whole.batches[2:]:
        batch.unlink()
    kept = {b: b.stat().st_mtime_ns for b in whole.batches[:2]}

    resumed = stage_dump(dump, config.source, config.crawl, tmp_path / "stage")
    assert resumed.counts == whole.counts
    assert staged_rows(resumed.batches) == rows
    assert {b: b.stat().st_mtime_ns for b in resumed.batches[:2]} == kept


def test_mostly_malformed_file_fails_and_leaves_nothing(tmp_path):
    config = load_config(None, ["source.batch_lines=2"])
    dump = write_dump(tmp_path / "RS_junk.ndjson", [submission("a"), "<html>", "<body>", "</html>"])
    with pytest.raises(InputError, match=r"RS_junk\.ndjson: 3 of 4 lines"):
        stage_dump(dump, config.source, config.crawl, tmp_path / "stage")
    assert not (tmp_path / "stage").exists()


def test_truncated_file_fails_and_leaves_nothing(tmp_path):
    config = load_config(None, ["source.batch_lines=20"])
    dump = write_dump(tmp_path / "RS_cut.zst", RECORDS)
    dump.write_bytes(dump.read_bytes()[:-40])
    with pytest.raises(InputError, match="RS_cut.zst: truncated"):
        stage_dump(dump, config.source, config.crawl, tmp_path / "stage")
    assert not (tmp_path / "stage").exists()


def test_config_hash_follows_what_changes_the_output():
    base = load_config(None, [])
    assert config_hash(base.source, base.crawl) == config_hash(
        load_config(None, ["source.batch_lines=7", "source.dumps=[x.zst]"]).source, base.crawl)
    changed = load_config(None, ["source.min_score=4"])
    assert config_hash(changed.source, changed.crawl) != config_hash(base.source, base.crawl)
    trusted = load_config(None, ["crawl.resolve={a.test: '127.0.0.1:1'}"])
    assert config_hash(trusted.source, trusted.crawl) != config_hash(base.source, base.crawl)


def test_worker_processes_stage_exactly_what_one_process_does(tmp_path):
    records = [submission(str(i), f"http://h{i % 97}.example.com/{i % 3000}", score=i % 5)
               for i in range(9000)] + ["{broken"] * 3
    dump = write_dump(tmp_path / "RS_big.zst", records)
    results = {}
    for workers in (1, 2):
        config = load_config(None, ["source.batch_lines=5000", f"source.workers={workers}"])
        staged = stage_dump(dump, config.source, config.crawl, tmp_path / f"stage-{workers}")
        assert [b.name for b in staged.batches] == ["batch-000000.parquet", "batch-000001.parquet"]
        results[workers] = (staged.counts, staged_rows(staged.batches))
    assert results[1] == results[2]
    assert results[2][0]["lines"] == 9003 and results[2][0]["malformed"] == 3


def test_aligned_chunks_never_straddle_a_batch():
    from webtext.components.source.ingest import CHUNK_LINES, aligned_chunks

    sizes = [len(c) for c in aligned_chunks(iter([b"x"] * 10_000), 5000)]
    assert sizes == [CHUNK_LINES, 5000 - CHUNK_LINES, CHUNK_LINES, 5000 - CHUNK_LINES]
