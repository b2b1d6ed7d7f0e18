import json
from pathlib import Path

import duckdb
import pytest
from prefect.client.orchestration import get_client

from components.config import load_config
from components.errors import InputError
from flows.source import source
from tests.dumps import submission, write_dump

REAL_DUMP = Path(__file__).resolve().parents[3] / "shared" / "data" / "reddit" / "RS_v2_2005-07.xz"


def config_for(*dumps, extra=()):
    return load_config(None, [f"source.dumps={[str(d) for d in dumps]}", "source.batch_lines=20", *extra])


def table_counts(home):
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("submissions", "urls", "source_loads")}


def test_source_loads_a_dump_then_reports_up_to_date(home, tmp_path):
    records = [submission(str(i), f"http://news.example.com/{i % 50}?utm_source=x", score=i % 6)
               for i in range(200)] + [submission("img", "https://i.imgur.com/a.gif")]
    dump = write_dump(tmp_path / "RS_2024-01.zst", records)

    first = source(config_for(dump))
    assert not first.up_to_date
    selected = sum(1 for i in range(200) if i % 6 >= 3) + 1
    assert table_counts(home) == {"submissions": selected, "urls": 51, "source_loads": 1}
    assert not (home.staging / "source").exists() or not any((home.staging / "source").iterdir())

    again = source(config_for(dump))
    assert again.up_to_date and "up to date" in again.summary
    assert table_counts(home) == {"submissions": selected, "urls": 51, "source_loads": 1}


def test_new_dump_adds_only_new_urls(home, tmp_path):
    old = write_dump(tmp_path / "RS_1.zst",
                     [submission(str(i), f"http://a.example.com/{i}") for i in range(10)])
    new = write_dump(tmp_path / "RS_2.xz",
                     [submission(f"n{i}", f"http://a.example.com/{i + 5}") for i in range(10)])
    source(config_for(old))
    result = source(config_for(old, new))
    assert "5 new URLs" in result.summary
    assert table_counts(home) == {"submissions": 20, "urls": 15, "source_loads": 2}


def test_glob_and_home_variable_in_dump_patterns(home, tmp_path, monkeypatch):
    folder = home.root / "dumps"
    folder.mkdir(parents=True)
    for month in ("01", "02"):
        write_dump(folder / f"RS_2024-{month}.bz2", [submission(month, f"http://x.example.com/{month}")])
    source(load_config(None, ["source.dumps=['${WEBTEXT_HOME}/dumps/RS_*.bz2']"]))
    assert table_counts(home)["urls"] == 2


@pytest.mark.parametrize("damage", ["truncated", "random"])
def test_bad_dump_fails_naming_it_and_writes_nothing(home, tmp_path, damage):
    good = write_dump(tmp_path / "RS_good.zst", [submission(str(i)) for i in range(50)])
    bad = write_dump(tmp_path / "RS_bad.zst", [submission(f"b{i}") for i in range(500)])
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2] if damage == "truncated" else bytes(range(256)) * 40)
    with pytest.raises(InputError, match="RS_bad.zst"):
        source(config_for(good, bad))
    assert table_counts(home) == {"submissions": 0, "urls": 0, "source_loads": 0}


def test_missing_dump_fails_before_any_work(home, tmp_path):
    with pytest.raises(InputError, match="RS_gone.zst: no such file"):
        source(config_for(tmp_path / "RS_gone.zst"))
    assert not home.warehouse.exists()


def test_funnel_artifact_is_published(home, tmp_path):
    dump = write_dump(tmp_path / "RS_art.zst", [submission("a"), submission("b", score=1)])
    source(config_for(dump))
    with get_client(sync_client=True) as client:
        artifacts = client.read_latest_artifacts()
    funnel = [a for a in artifacts if a.key == "source-funnel"]
    assert funnel
    row = json.loads(funnel[0].data)[0]
    assert row["path"].endswith("RS_art.zst")
    assert (row["lines"], row["selected"], row["low_score"], row["new_pending"]) == (2, 1, 1, 1)


@pytest.mark.skipif(not REAL_DUMP.exists(), reason="needs ../shared/data (real Reddit dump)")
def test_real_pushshift_dump(home):
    config = load_config(None, [f"source.dumps=[{REAL_DUMP}]"])
    source(config)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        bad = con.execute("""
            SELECT count(*) FROM urls u JOIN submissions s ON s.url = u.url
            WHERE u.status = 'pending' AND s.score < 3""").fetchone()[0]
        statuses = dict(con.execute("SELECT status, count(*) FROM urls GROUP BY 1").fetchall())
    assert bad == 0
    assert statuses["pending"] > 700 and statuses.get("filtered", 0) > 0
    assert source(config).up_to_date
