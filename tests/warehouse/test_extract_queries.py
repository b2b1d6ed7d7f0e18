"""The extract stage's SQL against a real migrated warehouse: pages to extract, verdicts, clusters and
snapshots."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webtext import warehouse
from webtext.components.extract.pages import PAGES
from webtext.components.extract.verdicts import VERDICT_SCHEMA
from webtext.warehouse import extract as queries

EXTRACTOR = "trafilatura-1"
TEXTS = {"a": "alpha text", "b": "beta text here", "c": "gamma", "d": "delta delta"}


@pytest.fixture
def con(tmp_path):
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        yield con


def crawled(con, url: str, offset: int, status: str = "ok") -> None:
    """A crawled URL whose response is archived at `offset` of one WARC file."""
    con.execute(
        "INSERT OR REPLACE INTO urls (url, host, status, added_at, added_by, final_url, warc_file, "
        "warc_offset, warc_length, charset) "
        "VALUES (?, 'h.example.com', ?, now(), 'L1', ?, ?, ?, 10, 'utf-8')",
        [url, status, url, "crawl-1.warc.gz" if status == "ok" else None, offset if status == "ok" else None])


def url_of(key: str) -> str:
    return f"http://h.example.com/{key}"


def pages_shard(path, keys: list[str], status: str = "ok"):
    rows = [{"doc_id": f"doc-{k}", "url": url_of(k), "final_url": url_of(k), "canonical_url": None,
             "title": k.upper(), "text": TEXTS[k], "status": status, "error": None, "html_bytes": 100,
             "seconds": 0.5} for k in keys]
    pq.write_table(pa.Table.from_pylist(rows, schema=PAGES), path)
    return path


def verdicts_shard(path, verdicts: dict[str, str | None], doc_ids: dict[str, str] | None = None):
    """Judged documents: key -> the first failing filter (None: passed); bands make b and d near twins."""
    rows = []
    for k, reason in verdicts.items():
        text = TEXTS[k]
        rows.append({"doc_id": (doc_ids or {}).get(k, f"doc-{k}"), "url": url_of(k), "final_url": url_of(k),
                     "canonical_url": None, "title": k.upper(), "text": text, "reason": reason, "lang": "en",
                     "lang_score": 0.9, "n_words": len(text.split()), "n_bytes": len(text.encode()),
                     "exact_key": None if reason else hash(k) % 1000,
                     "bands": None if reason else [ord(k), 7]})
    pq.write_table(pa.Table.from_pylist(rows, schema=VERDICT_SCHEMA), path)
    return path


def clusters(*rows: tuple[str, str | None, bool]) -> pa.Table:
    ids, cluster_ids, duplicate = zip(*rows, strict=True) if rows else ((), (), ())
    return pa.table({"doc_id": pa.array(ids, pa.string()), "cluster_id": pa.array(cluster_ids, pa.string()),
                     "duplicate": pa.array(duplicate, pa.bool_())})


@pytest.fixture
def judged(con, tmp_path):
    """Four crawled pages extracted into one shard and judged; c fails a filter; a has two submissions."""
    for offset, k in enumerate(TEXTS):
        crawled(con, url_of(k), offset * 10)
    con.execute("INSERT INTO submissions VALUES ('s1', $a, $a, 5, 'r', 200, 'RS'), "
                "('s2', $a, $a, 9, 'r', 100, 'RS')", {"a": url_of("a")})
    queries.record_extractions(con, pages_shard(tmp_path / "pages-0.parquet", list(TEXTS)), "pages-0.parquet",
                               EXTRACTOR)
    verdicts = verdicts_shard(tmp_path / "verdicts-0.parquet",
                              {"a": None, "b": None, "c": "too_short", "d": None})
    assert queries.record_verdicts(con, verdicts, "judge-1") == 4
    return con


def test_pending_pages_are_archived_pages_without_an_extraction_by_this_extractor(con, tmp_path):
    crawled(con, url_of("b"), 10)
    crawled(con, url_of("a"), 0)
    crawled(con, "http://h.example.com/gone", 0, status="http_error")
    assert [row[0] for row in queries.pending_pages(con, EXTRACTOR)] == [url_of("a"), url_of("b")]
    assert queries.pending_pages(con, EXTRACTOR)[0] == (url_of("a"), url_of("a"), "crawl-1.warc.gz", 0, 10,
                                                        "utf-8")

    shard = pages_shard(tmp_path / "pages-0.parquet", ["a"])
    assert queries.record_extractions(con, shard, "pages-0.parquet", EXTRACTOR) == 1
    assert queries.record_extractions(con, shard, "pages-0.parquet", EXTRACTOR) == 0  # left as it was
    assert [row[0] for row in queries.pending_pages(con, EXTRACTOR)] == [url_of("b")]
    assert len(queries.pending_pages(con, "other-extractor")) == 2
    assert con.execute("SELECT doc_id, warc_file, warc_offset, extractor, shard, status, n_chars, seconds "
                       "FROM extractions").fetchall() == \
        [("doc-a", "crawl-1.warc.gz", 0, EXTRACTOR, "pages-0.parquet", "ok", len(TEXTS["a"]), 0.5)]

    crawled(con, url_of("a"), 50)  # crawled again: a new archived response to extract
    assert [row[0] for row in queries.pending_pages(con, EXTRACTOR)] == [url_of("a"), url_of("b")]


def test_verdicts_carry_karma_and_wait_for_dedup(judged):
    con = judged
    rows = con.execute("SELECT doc_id, kept, reason, filter_reason, karma, created_utc, judge_key "
                       "FROM documents ORDER BY doc_id").fetchall()
    assert rows[0] == ("doc-a", None, None, None, 9, 100, "judge-1")  # the best score, the first post
    assert rows[2] == ("doc-c", None, "too_short", "too_short", None, None, "judge-1")
    assert queries.unresolved(judged, EXTRACTOR) == 4
    assert queries.shards_to_judge(con, EXTRACTOR, "judge-1") == []
    assert queries.shards_to_judge(con, EXTRACTOR, "judge-2") == ["pages-0.parquet"]
    candidates = queries.dedup_candidates(con, EXTRACTOR).to_pylist()
    assert [c["doc_id"] for c in candidates] == ["doc-a", "doc-b", "doc-d"]
    assert candidates[0]["karma"] == 9 and candidates[1]["karma"] == 0  # no submission: karma 0


def test_clusters_decide_the_kept_set_and_a_changed_verdict_changes_its_digest(judged, tmp_path):
    con = judged
    queries.record_clusters(con, clusters(("doc-b", "doc-b", False), ("doc-d", "doc-b", True)), EXTRACTOR)
    assert queries.unresolved(con, EXTRACTOR) == 0
    verdicts = con.execute("SELECT doc_id, kept, reason, cluster_id FROM documents ORDER BY doc_id")
    assert verdicts.fetchall() == [
        ("doc-a", True, None, None), ("doc-b", True, None, "doc-b"),
        ("doc-c", False, "too_short", None), ("doc-d", False, "duplicate", "doc-b")]
    first = queries.kept_set(con)
    assert (first.n_documents, first.n_bytes) == (2, len(TEXTS["a"]) + len(TEXTS["b"]))
    assert queries.kept_set(con) == first
    assert queries.funnel(con, EXTRACTOR) == [
        {"verdict": "kept", "documents": 2, "bytes": first.n_bytes},
        {"verdict": "duplicate", "documents": 1, "bytes": len(TEXTS["d"])},
        {"verdict": "too_short", "documents": 1, "bytes": len(TEXTS["c"])}]
    assert [(e["verdict"], e["url"]) for e in queries.examples(con, EXTRACTOR, per_verdict=1, chars=3)] == [
        ("duplicate", url_of("d")), ("kept", url_of("a")), ("too_short", url_of("c"))]
    assert queries.examples(con, EXTRACTOR, per_verdict=1, chars=3)[1]["excerpt"] == "alp"

    verdicts_shard(tmp_path / "verdicts-0.parquet", {"a": "too_short"})
    queries.record_verdicts(con, tmp_path / "verdicts-0.parquet", "judge-2")
    queries.record_clusters(con, clusters(("doc-b", "doc-b", False), ("doc-d", "doc-b", True)), EXTRACTOR)
    changed = queries.kept_set(con)
    assert changed.n_documents == 1 and changed.digest != first.digest


def test_a_document_no_longer_current_is_superseded(judged, tmp_path):
    con = judged
    crawled(con, url_of("a"), 80)  # a new crawl of a: its old record is no longer what urls points at
    queries.record_extractions(con, pages_shard(tmp_path / "pages-1.parquet", ["a"]), "pages-1.parquet",
                               "other-extractor")
    queries.record_clusters(con, clusters(), EXTRACTOR)
    assert con.execute("SELECT kept, reason FROM documents WHERE doc_id = 'doc-a'").fetchone() == \
        (False, "superseded")
    assert queries.kept_set(con).n_documents == 2  # b and d, with no duplicate cluster given


def test_a_snapshot_is_exported_recorded_once_and_found_by_prefix(judged, tmp_path):
    con = judged
    queries.record_clusters(con, clusters(), EXTRACTOR)
    data = tmp_path / "snap" / "data.parquet"
    data.parent.mkdir()
    queries.export_kept(con, data)
    table = pq.read_table(data)
    assert table.column_names == ["doc_id", "url", "title", "text", "karma"]
    assert table.column("doc_id").to_pylist() == ["doc-a", "doc-b", "doc-d"]
    kept = queries.kept_set(con)
    for _ in range(2):  # recording it again changes nothing
        queries.record_snapshot(con, "5a5a01", data, kept.n_bytes, "judge-1", "5a5a01", "sha", "{}")
    row = queries.snapshot_row(con, "5a5a01")
    assert (row["n_documents"], row["n_bytes"], row["path"], row["sha256"]) == \
        (3, kept.n_bytes, "5a5a01", "sha")
    assert con.execute("SELECT doc_id FROM snapshot_documents ORDER BY doc_id").fetchall() == \
        [("doc-a",), ("doc-b",), ("doc-d",)]
    assert queries.snapshot_row(con, "5a5a") is None
    queries.record_snapshot(con, "5a5b02", data, kept.n_bytes, "judge-1", "5a5b02", "sha", "{}")
    assert [s["snapshot_id"] for s in queries.find_snapshots(con, "5a5a")] == ["5a5a01"]
    assert [s["snapshot_id"] for s in queries.find_snapshots(con, "5a5")] == ["5a5a01", "5a5b02"]
    assert [s["snapshot_id"] for s in queries.list_snapshots(con)] == ["5a5a01", "5a5b02"]
