import duckdb
import pytest

from tests.dumps import submission, write_dump
from webtext import warehouse
from webtext.components.config import load_config
from webtext.components.source.ingest import stage_dump
from webtext.warehouse import source as queries

CONFIG = load_config(None, ["source.batch_lines=10"])


def staged_load(tmp_path, name, records, load_id):
    dump = write_dump(tmp_path / name, records)
    staged = stage_dump(dump, CONFIG.source, CONFIG.crawl, tmp_path / f"stage-{load_id}")
    return queries.DumpLoad(load_id=load_id, path=str(dump), sha256=load_id, size=1, mtime_ns=1,
                            config_hash="h", counts=dict(staged.counts), batches=staged.batches)


def counts(con):
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("submissions", "urls", "source_loads")}


def test_overlapping_dumps_add_only_new_rows(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    first = [submission(str(i), f"http://a.example.com/{i}") for i in range(30)]
    queries.load(con, [staged_load(tmp_path, "RS_1.zst", first, "L1")])
    assert counts(con) == {"submissions": 30, "urls": 30, "source_loads": 1}

    second = first[10:] + [submission(f"n{i}", f"http://a.example.com/{i}#dup") for i in range(5)] + [
        submission("fresh", "http://b.example.com/")]
    queries.load(con, [staged_load(tmp_path, "RS_2.zst", second, "L2")])
    assert counts(con) == {"submissions": 36, "urls": 31, "source_loads": 2}
    row = queries.funnel(con, ["L2"])[0]
    assert (row["selected"], row["new_urls"], row["new_pending"]) == (26, 1, 1)


def test_duplicate_ids_in_one_load_keep_the_highest_score(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    records = [submission("x", score=4), submission("x", score=9), submission("x", score=5)]
    queries.load(con, [staged_load(tmp_path, "RS.zst", records, "L1")])
    assert con.execute("SELECT score FROM submissions").fetchall() == [(9,)]


def test_a_failing_load_writes_nothing(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    good = staged_load(tmp_path, "RS_1.zst", [submission(str(i)) for i in range(25)], "L1")
    bad = staged_load(tmp_path, "RS_2.zst", [submission(f"b{i}") for i in range(25)], "L2")
    bad.batches[-1].write_bytes(b"not parquet")
    with pytest.raises(duckdb.Error):
        queries.load(con, [good, bad])
    assert counts(con) == {"submissions": 0, "urls": 0, "source_loads": 0}
