import duckdb
import pytest

from webtext import warehouse
from webtext.warehouse import migrations

# docs/interface.md: the tables and columns that outside scripts rely on.
INTERFACE = {
    "submissions": {"id", "url", "score", "subreddit", "created_utc", "source_file"},
    "urls": {"url", "status", "http_status", "attempts", "error", "fetched_at"},
    "documents": {"doc_id", "url", "text", "kept", "reason", "cluster_id"},
    "snapshots": {"snapshot_id", "created_at", "n_documents", "n_bytes"},
    "snapshot_documents": {"snapshot_id", "doc_id"},
    "tokenizers": {"tokenizer_id", "snapshot_id", "vocab_size", "path", "sha256"},
    "checkpoints": {"checkpoint_id", "kind", "parent_id", "tokenizer_id", "snapshot_id", "path",
                    "sha256", "step", "created_at"},
    "evaluations": {"checkpoint_id", "task", "metric", "value", "n_examples", "created_at"},
    "model_versions": {"name", "version", "checkpoint_id", "created_at"},
    "model_aliases": {"name", "alias", "version"},
}


def test_every_interface_table_exists_with_its_columns(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    for table, columns in INTERFACE.items():
        found = {row[0] for row in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
        assert columns <= found, f"{table} lacks {columns - found}"


def test_migrations_apply_once_in_order(tmp_path):
    path = tmp_path / "w.duckdb"
    warehouse.connect(path).close()
    con = warehouse.connect(path)
    recorded = [row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()]
    assert recorded == [m.version for m in migrations.available()]
    assert migrations.migrate(con) == []


def test_a_failing_migration_leaves_the_schema_as_it_was(tmp_path, monkeypatch):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    broken = migrations.Migration(1, "broken", "CREATE TABLE half (a INTEGER); SELECT * FROM nowhere;")
    monkeypatch.setattr(migrations, "available", lambda: [broken])
    with pytest.raises(duckdb.CatalogException):
        migrations.migrate(con)
    assert con.execute("SELECT count(*) FROM schema_migrations").fetchone() == (0,)
    tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
    assert "half" not in tables


def test_evaluations_are_unique_per_checkpoint_task_metric(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    insert = ("INSERT INTO evaluations (checkpoint_id, task, metric, value, n_examples, created_at) "
              "VALUES ('c1', 'sst2', 'acc', ?, 10, now())")
    con.execute(insert, [0.5])
    with pytest.raises(duckdb.ConstraintException):
        con.execute(insert, [0.6])


def test_url_status_is_constrained(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO urls (url, status, added_at, added_by) VALUES ('u', 'maybe', now(), 'x')")
