import json
from pathlib import Path

import duckdb
import pytest
from prefect.client.orchestration import get_client

from tests.dumps import submission, write_dump
from webtext.components.config import load_config
from webtext.components.errors import InputError
from webtext.flows.source import source

pytestmark = pytest.mark.slow  # every test runs the source flow

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


def test_same_dump_under_two_paths_is_read_once(home, tmp_path):
    records = [submission(str(i), f"http://a.example.com/{i}") for i in range(5)]
    first = write_dump(tmp_path / "RS_2024-01.zst", records)
    (tmp_path / "copy").mkdir()
    second = write_dump(tmp_path / "copy" / "RS_2024-01.zst", records)
    source(config_for(first, second))
    assert table_counts(home) == {"submissions": 5, "urls": 5, "source_loads": 1}


def test_a_new_filter_config_rejudges_urls_not_yet_fetched(home, tmp_path):
    dump = write_dump(tmp_path / "RS.zst", [submission("img", "https://i.imgur.com/a"),
                                            submission("yt", "https://www.youtube.com/watch?v=1")])
    source(config_for(dump))
    with duckdb.connect(str(home.warehouse)) as con:  # as if the crawl had fetched this one
        con.execute("UPDATE urls SET status = 'ok', error = NULL WHERE host = 'www.youtube.com'")
    source(config_for(dump, extra=["source.blocked_domains=[example.org]"]))
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        rows = dict(con.execute("SELECT host, status FROM urls").fetchall())
    assert rows == {"i.imgur.com": "pending", "www.youtube.com": "ok"}


def _selected_urls_in(dump: Path) -> set[str]:
    """What WebText's rule keeps, recomputed from the raw dump without the stage's code path."""
    import lzma

    from webtext.components.source.urls import BadUrl, normalise

    kept = set()
    for line in lzma.open(dump):
        record = json.loads(line)
        if not record.get("is_self") and record.get("url") and (record.get("score") or 0) >= 3:
            try:
                kept.add(normalise(record["url"]).url)
            except BadUrl:
                pass
    return kept


@pytest.mark.skipif(not REAL_DUMP.exists(), reason="needs ../shared/data (real Reddit dump)")
def test_real_pushshift_dump(home):
    config = load_config(None, [f"source.dumps=[{REAL_DUMP}]"])
    source(config)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        urls = dict(con.execute("SELECT url, status FROM urls").fetchall())
    pending = {url for url, status in urls.items() if status == "pending"}
    assert pending and pending <= _selected_urls_in(REAL_DUMP)
    assert set(urls) == _selected_urls_in(REAL_DUMP)
    assert set(urls.values()) == {"pending", "filtered"}
    assert source(config).up_to_date
