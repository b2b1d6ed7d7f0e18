"""The lineage views against a real migrated warehouse: every edge kind, each ancestor once, and each
document's submissions counted once in a composition."""

import pytest

from webtext import warehouse
from webtext.warehouse import lineage as queries


@pytest.fixture
def con(tmp_path):
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        con.execute("""
            INSERT INTO checkpoints (checkpoint_id, kind, parent_id, tokenizer_id, snapshot_id, path, sha256,
                                     step, created_at, config) VALUES
                ('teacher', 'pretrain', NULL, 'tok', 'snapB', 'p', 's', 100, now(), '{}'),
                ('student', 'pretrain', NULL, 'tok', 'snapA', 'p', 's', 50, now(),
                 '{"teacher_id": "teacher"}'),
                ('sft', 'sft', 'student', 'tok', 'snapA', 'p', 's', 5, now(), '{}'),
                ('rm', 'reward', 'sft', 'tok', 'snapA', 'p', 's', 5, now(), '{}'),
                ('policy', 'align', 'sft', 'tok', 'snapA', 'p', 's', 5, now(), '{"reward_id": "rm"}');
            INSERT INTO submissions VALUES
                ('s1', 'http://a/1', 'http://a/1', 10, 'python', 1556668800, 'f'),
                ('s2', 'http://a/1', 'http://a/1', 2000, 'science', 1559347200, 'f'),
                ('s3', 'http://b/2', 'http://b/2', 50, 'python', 1556668800, 'f'),
                ('s4', 'http://c/3', 'http://c/3', 70, 'news', 1556668800, 'f');
            INSERT INTO urls (url, host, status, added_at, added_by) VALUES
                ('http://a/1', 'a', 'ok', now(), 'L'), ('http://b/2', 'b', 'ok', now(), 'L'),
                ('http://c/3', 'c', 'ok', now(), 'L');
            INSERT INTO documents (doc_id, url, text, kept, n_bytes, karma) VALUES
                ('d1', 'http://a/1', 'x', true, 100, 2000), ('d2', 'http://b/2', 'y', true, 30, 50),
                ('d3', 'http://c/3', 'z', false, 7, 70);
            INSERT INTO snapshot_documents VALUES ('snapA', 'd1'), ('snapA', 'd2'), ('snapB', 'd3');
        """)
        yield con


def test_an_aligned_model_reaches_every_checkpoint_it_came_from_once(con):
    walked = [(row["checkpoint_id"], row["path"]) for row in queries.ancestors(con, "policy")]
    assert walked == [("policy", "self"), ("sft", "self/parent"), ("rm", "self/reward"),
                      ("student", "self/parent/parent"), ("teacher", "self/parent/parent/teacher")]
    assert [row["relation"] for row in queries.ancestors(con, "student")] == ["self", "teacher"]


def test_submissions_and_composition_count_each_document_once(con):
    assert queries.submissions(con, ["snapA"]) == ["s1", "s2", "s3"]
    assert queries.submissions(con, ["snapA", "snapB"]) == ["s1", "s2", "s3", "s4"]
    found = queries.composition(con, ["snapA"])
    assert (found["documents"], found["bytes"], found["submissions"]) == (2, 130, 3)
    domains = [(d["domain"], d["documents"], d["bytes"]) for d in found["domains"]]
    assert domains == [("a", 1, 100), ("b", 1, 30)]
    # d1 was posted to two subreddits: it counts in each, its bytes once per subreddit
    assert {(s["subreddit"], s["documents"], s["bytes"], s["submissions"]) for s in found["subreddits"]} == {
        ("python", 2, 130, 2), ("science", 1, 100, 1)}
    assert [(m["month"], m["documents"], m["submissions"]) for m in found["months"]] == [
        ("2019-05", 2, 2), ("2019-06", 1, 1)]
    assert found["karma"]["quantiles"]["max"] == 2000
    assert [(k["karma"], k["documents"]) for k in found["karma"]["buckets"]] == [("10-99", 1), ("1000+", 1)]
