"""The source stage on the tiny sample ends exactly as the sample's ground truth says."""

import json
from collections import Counter

import duckdb
import pytest

from tests.flows.stages import in_home, tiny
from webtext.flows.source import source

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loaded(tiny_run):
    """The shared tiny run's home as the source stage left it."""
    home = tiny_run.after["source"]
    truth = json.loads((home.sample / "ground_truth.json").read_text())
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        urls = {url: (status, error) for url, status, error in
                con.execute("SELECT url, status, error FROM urls").fetchall()}
        cursor = con.execute("SELECT * FROM source_loads")
        [values] = cursor.fetchall()
        load = dict(zip([c[0] for c in cursor.description], values))
    return tiny_run.results[0], truth, urls, load


def test_every_sample_url_ends_as_its_ground_truth_says(loaded):
    _, truth, urls, _ = loaded
    expected = {}
    for row in truth["urls"]:
        fate = row["expected"]["source"]
        expected[row["url"]] = ("pending", None) if fate == "pending" else ("filtered", fate.split(":", 1)[1])
    assert urls == expected


def test_the_funnel_counts_every_dump_line_as_the_ground_truth_says(loaded):
    _, truth, _, load = loaded
    rejected = Counter(line["expected"]["source"].split(":", 1)[1] for line in truth["lines"]
                       if line["expected"]["source"].startswith("not_selected:"))
    selected = sum(1 for line in truth["lines"] if not line["expected"]["source"].startswith("not_selected:"))
    assert {k: load[k] for k in rejected} == dict(rejected)
    assert load["selected"] == selected
    assert set(rejected) >= {"malformed", "self_post", "no_url", "no_score", "low_score", "over_18"}


def test_every_page_kind_reaches_the_urls_table(loaded):
    _, truth, urls, _ = loaded
    for page in truth["pages"]:
        assert page["url"] in urls, f"{page['kind']} page {page['url']} missing"


def test_sample_rerun_is_up_to_date(loaded, tiny_run):
    result = loaded[0]
    assert result.stage == "source" and not result.up_to_date
    with in_home(tiny_run.after["source"].root):
        assert source(tiny()).up_to_date
