"""The extract stage on the tiny sample: every page's document ends as the ground truth says, and a
snapshot of the kept documents is published whole, once."""

import json

import duckdb
import pyarrow.parquet as pq
import pytest
from prefect.client.orchestration import get_client

from tests.flows.stages import CLI, TINY, cli_env, in_home, kill_when, tiny
from webtext.components.files import sha256_file
from webtext.components.home import Home
from webtext.flows.cli import main
from webtext.flows.extract import extract

pytestmark = pytest.mark.slow

CURRENT = """
    SELECT d.url, d.kept, d.reason, d.cluster_id, d.text, d.doc_id FROM documents d
    JOIN extractions e USING (doc_id)
    JOIN urls u ON u.url = e.url AND u.warc_file = e.warc_file AND u.warc_offset = e.warc_offset
"""


def query(home, sql, params=()):
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def current_documents(home) -> dict[str, tuple]:
    return {url: rest for url, *rest in query(home, CURRENT)}


@pytest.fixture(scope="module")
def extracted(tiny_run):
    """The shared tiny run's home, its results up to this stage, and extract run again there."""
    with in_home(tiny_run.home.root) as home:
        rerun = extract(tiny())
    return home, tiny_run.results[:3], rerun


@pytest.fixture(scope="module")
def rejudged(tiny_run, tmp_path_factory) -> Home:
    """A copy of the shared run's home for the checks below that change what extract left."""
    return tiny_run.copy(tmp_path_factory.mktemp("rejudged"))


def test_every_sample_page_ends_as_its_ground_truth_says(extracted):
    home, results, _ = extracted
    assert [r.stage for r in results] == ["source", "crawl", "extract"]
    truth = json.loads((home.sample / "ground_truth.json").read_text())
    docs = current_documents(home)
    for page in truth["pages"]:
        expected, where = page["expected"]["extract"], f"{page['kind']} page {page['url']}"
        if expected == "none":
            assert page["url"] not in docs, where
            continue
        kept, reason, cluster_id, text, _ = docs[page["url"]]
        if expected == "kept":
            assert (kept, reason) == (True, None), f"{where}: {reason}"
            assert text.strip()
        elif expected == "duplicate":
            original = docs[page["duplicate_of"]]
            assert (kept, reason) == (False, "duplicate"), where
            assert original[0] is True and cluster_id == original[2] is not None, where
        else:
            assert kept is False and (reason == expected or reason.startswith(expected + ":")), \
                f"{where}: {reason}"


def test_charsets_and_encodings_come_through_as_the_page_shows_them(extracted):
    home, _, _ = extracted
    truth = json.loads((home.sample / "ground_truth.json").read_text())
    docs = current_documents(home)
    for page in truth["pages"]:
        if page["kind"] in ("latin1", "gzip"):
            text = " ".join(docs[page["url"]][3].split())
            for paragraph in page["text"].split("\n\n"):
                assert " ".join(paragraph.split()) in text, page["kind"]


def test_the_kept_set_is_published_as_a_validated_snapshot(extracted):
    home, _, _ = extracted
    [(snapshot_id, n, size, path, sha)] = query(
        home, "SELECT snapshot_id, n_documents, n_bytes, path, sha256 FROM snapshots")
    kept = query(home, "SELECT doc_id, text FROM documents WHERE kept ORDER BY doc_id")
    data = home.snapshots / path / "data.parquet"
    table = pq.read_table(data)
    assert table.column("doc_id").to_pylist() == [d for d, _ in kept]
    assert table.column("text").to_pylist() == [t for _, t in kept]
    assert n == len(kept) and size == sum(len(t.encode()) for _, t in kept)
    assert sha == sha256_file(data)
    manifest = json.loads((home.snapshots / path / "manifest.json").read_text())
    assert manifest["snapshot_id"] == snapshot_id and manifest["n_documents"] == n
    members = query(home, "SELECT doc_id FROM snapshot_documents WHERE snapshot_id = ? ORDER BY doc_id",
                    [snapshot_id])
    assert [m for (m,) in members] == [d for d, _ in kept]
    assert not list(home.snapshots.glob(".*"))  # no scratch directory left behind


def verdicts_by_url(home) -> dict[str, tuple]:
    """url -> (kept, reason, url of the cluster's winner): comparable across homes, unlike doc ids."""
    url_of = {doc_id: url for url, *_, doc_id in query(home, CURRENT)}
    return {url: (kept, reason, url_of.get(cluster_id))
            for url, kept, reason, cluster_id, *_ in query(home, CURRENT)}


def test_a_killed_extract_resumes_and_ends_as_a_clean_run(tmp_path, extracted):
    command = ["run", "--config", str(TINY)]
    shards = tmp_path / "killed" / "extract"
    kill_when([*CLI, *command], cli_env(tmp_path / "killed"), lambda: bool(list(shards.glob("*.parquet"))))

    with in_home(tmp_path / "killed"):  # the stage cut short, run again (in this process: the same code)
        assert main(["stage", "extract", "--config", str(TINY)]) == 0
    killed = Home(tmp_path / "killed")
    assert verdicts_by_url(killed) == verdicts_by_url(extracted[0])
    assert query(killed, "SELECT n_documents, n_bytes FROM snapshots") == \
        query(extracted[0], "SELECT n_documents, n_bytes FROM snapshots")
    assert not list(killed.snapshots.glob(".*")) and not list(shards.glob(".*"))


def test_rerun_is_up_to_date_and_artifacts_are_published(extracted, tiny_run):
    home, _, rerun = extracted
    assert rerun.up_to_date and "up to date" in rerun.summary
    with get_client(sync_client=True) as client:
        assert {"extract-funnel", "extract-examples"} <= {a.key for a in client.read_latest_artifacts()}
    artifacts = {key: tiny_run.artifact(key) for key in ("extract-funnel", "extract-examples")}
    funnel = artifacts["extract-funnel"].data
    funnel = json.loads(funnel) if isinstance(funnel, str) else funnel
    current = {row["verdict"]: row["documents"] for row in funnel if row["step"] == "current corpus"}
    verdicts = dict(query(home, f"SELECT coalesce(reason, 'kept'), count(*) FROM ({CURRENT}) GROUP BY ALL"))
    assert current == verdicts and current["duplicate"] >= 3
    examples = artifacts["extract-examples"].data
    assert "**kept**" in examples and "**duplicate**" in examples


def test_a_new_threshold_rejudges_from_stored_text_and_keeps_old_snapshots(rejudged):
    home = rejudged
    extractions = query(home, "SELECT doc_id, shard, extracted_at FROM extractions ORDER BY doc_id")
    [(first_id, first_sha)] = query(home, "SELECT snapshot_id, sha256 FROM snapshots")
    with in_home(home.root):
        result = extract(tiny("extract.filters.min_words=320"))
    assert not result.up_to_date and "0 pages extracted" in result.summary
    assert query(home, "SELECT doc_id, shard, extracted_at FROM extractions ORDER BY doc_id") == extractions
    short = query(home, "SELECT count(*) FROM documents WHERE reason = 'too_short' AND n_words < 320")[0][0]
    assert short > 1
    snapshots = dict(query(home, "SELECT snapshot_id, sha256 FROM snapshots"))
    assert len(snapshots) == 2 and snapshots[first_id] == first_sha
    assert sha256_file(home.snapshots / first_id / "data.parquet") == first_sha

    with in_home(home.root):
        back = extract(tiny())  # the first config again: its snapshot exists already
        assert "already published" in back.summary
        assert extract(tiny()).up_to_date


def test_only_pages_not_extracted_before_are_extracted(rejudged):
    home = rejudged
    [(doc_id, url)] = query(home, CURRENT.replace("d.url, d.kept, d.reason, d.cluster_id, d.text, d.doc_id",
                                                  "d.doc_id, d.url") + " WHERE d.kept LIMIT 1")
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("DELETE FROM extractions WHERE doc_id = ?", [doc_id])
    with in_home(home.root):
        result = extract(tiny())
    assert "1 pages extracted" in result.summary
    assert current_documents(home)[url][0] is True


def test_corpus_commands_list_show_and_export(extracted, cli_in, tmp_path):
    home, _, _ = extracted
    cli = cli_in(home)
    snapshot_id = query(home, "SELECT snapshot_id FROM snapshots ORDER BY created_at LIMIT 1")[0][0]
    code, out, _ = cli("corpus", "list")
    assert code == 0 and snapshot_id in out
    code, shown, _ = cli("corpus", "show", snapshot_id[:6])
    assert code == 0 and "verified" in shown and snapshot_id in shown
    assert cli("corpus", "export", snapshot_id, "--out", str(tmp_path / "out"))[0] == 0
    exported = tmp_path / "out" / "data.parquet"
    assert sha256_file(exported) == sha256_file(home.snapshots / snapshot_id / "data.parquet")
    code, _, err = cli("corpus", "show", "zzzz")
    assert code == 1 and "no snapshot 'zzzz'" in err


def test_an_unreadable_record_is_a_recorded_extract_error(rejudged):
    home = rejudged
    first_ok = "SELECT url, warc_offset FROM urls WHERE status = 'ok' ORDER BY url LIMIT 1"
    [(url, offset)] = query(home, first_ok)
    with duckdb.connect(str(home.warehouse)) as con:  # as if the crawl had archived it mid-record
        con.execute("UPDATE urls SET warc_offset = ? WHERE url = ?", [offset + 3, url])
    with in_home(home.root):
        result = extract(tiny())
    assert "1 pages extracted" in result.summary
    [(status, error)] = query(home, "SELECT status, error FROM extractions WHERE url = ? AND warc_offset = ?",
                              [url, offset + 3])
    assert status == "extract_error" and "unreadable WARC record" in error and str(offset + 3) in error
    assert current_documents(home)[url][:2] == [False, "extract_error"]


def test_extract_before_any_crawl_publishes_nothing(home):
    result = extract(tiny())
    assert result.up_to_date and "run the crawl stage" in result.summary
    assert not home.snapshots.exists() or not any(home.snapshots.iterdir())
    assert query(home, "SELECT count(*) FROM snapshots") == [(0,)]
