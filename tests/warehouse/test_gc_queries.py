"""`webtext gc`'s SQL against a real migrated warehouse: every path a row refers to, by area."""

import pytest

from webtext import warehouse
from webtext.warehouse import gc as queries


@pytest.fixture
def con(tmp_path):
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        yield con


def test_an_empty_warehouse_refers_to_nothing(con):
    found = queries.referenced(con)
    assert set(found) == {"snapshots", "tokenizers", "tokens", "runs", "registry", "extract", "warc",
                          "evaluate/ngrams", "reports"}
    assert all(paths == set() for paths in found.values())


def test_every_row_that_names_a_file_keeps_it(con):
    con.execute("""
        INSERT INTO urls (url, host, status, added_at, added_by, warc_file) VALUES
            ('http://a/', 'a', 'ok', now(), 'L', 'crawl-1.warc.gz'),
            ('http://b/', 'b', 'ok', now(), 'L', 'crawl-1.warc.gz'),
            ('http://c/', 'c', 'pending', now(), 'L', NULL);
        -- an extraction of a record the URL no longer points at still names its WARC file
        INSERT INTO extractions VALUES
            ('d1', 'http://a/', 'crawl-0.warc.gz', 0, 'x', 'pages-0.parquet', 'ok', NULL, 5, 0.1, now()),
            ('d2', 'http://b/', 'crawl-1.warc.gz', 9, 'x', 'pages-0.parquet', 'ok', NULL, 5, 0.1, now()),
            ('d3', 'http://b/', 'crawl-1.warc.gz', 9, 'y', 'pages-1.parquet', 'ok', NULL, 5, 0.1, now());
        INSERT INTO snapshots (snapshot_id, created_at, n_documents, n_bytes, path) VALUES
            ('snap1', now(), 1, 1, 'snap1');
        INSERT INTO tokenizers (tokenizer_id, snapshot_id, vocab_size, path, sha256) VALUES
            ('tok1', 'snap1', 512, 'tok1', 's');
        INSERT INTO token_sets VALUES ('set1', 'tok1', 'snap1', 'set1', 'uint16', 's', now());
        INSERT INTO checkpoints
                (checkpoint_id, kind, tokenizer_id, snapshot_id, path, sha256, step, created_at)
            VALUES ('c1', 'pretrain', 'tok1', 'snap1', 'c1', 's', 30, now()),
                   ('c2', 'finetune', 'tok1', 'snap1', 'c2', 's', 10, now());
        INSERT INTO model_versions (name, version, checkpoint_id, created_at, path) VALUES
            ('m', 1, 'c1', now(), 'm/1'), ('m', 2, 'c2', now(), NULL);
        INSERT INTO reports VALUES ('r1', 'm', 'r1', ['k-shot'], [], now());
    """)
    assert queries.referenced(con) == {
        "snapshots": {"snap1"}, "tokenizers": {"tok1"}, "tokens": {"set1"}, "runs": {"c1", "c2"},
        "registry": {"m/1"}, "extract": {"pages-0.parquet", "pages-1.parquet"},
        "warc": {"crawl-0.warc.gz", "crawl-1.warc.gz"}, "evaluate/ngrams": {"snap1"}, "reports": {"r1"}}
