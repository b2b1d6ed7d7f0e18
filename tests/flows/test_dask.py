"""The crawl and extract stages with their batches on a local Dask cluster end as the ground truth
says, as they do locally."""

import json

import duckdb
import pytest

from tests.flows.stages import in_home, run_until, tiny

pytest.importorskip("prefect_dask")  # a dev dependency; missing only outside `make test`

pytestmark = pytest.mark.slow

ON_DASK = ["cluster.task_runner=dask", "cluster.dask_workers=2"]


@pytest.fixture(scope="module")
def on_dask(tmp_path_factory):
    """The tiny pipeline up to extract on Dask, in a home of its own (the workers inherit WEBTEXT_HOME
    from this process)."""
    with in_home(tmp_path_factory.mktemp("dask")) as home:
        return home, run_until("extract", tiny(*ON_DASK))


def test_crawl_and_extract_batches_on_dask_end_as_the_ground_truth_says(on_dask):
    home, results = on_dask
    assert [r.up_to_date for r in results] == [False, False, False]
    truth = json.loads((home.sample / "ground_truth.json").read_text())
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        statuses = dict(con.execute("SELECT url, status FROM urls").fetchall())
        documents = dict(con.execute("SELECT url, kept FROM documents").fetchall())
        batches = con.execute("SELECT count(DISTINCT shard) FROM extractions").fetchone()[0]
    assert statuses == {row["url"]: row["expected"]["crawl"] for row in truth["urls"]}
    kept = {page["url"] for page in truth["pages"] if page["expected"]["extract"] == "kept"}
    assert {url for url, is_kept in documents.items() if is_kept} == kept
    assert batches > 1  # several extract batches, so several ran at once
