"""From a registered model back to its sources: `webtext lineage` on the shared tiny run, checked against
the sample's ground truth, and the dataset card a snapshot export carries."""

import json

import duckdb
import pytest

from tests.flows.stages import tiny

pytestmark = pytest.mark.slow


def query(home, sql, params=()):
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def expected_submissions(home) -> set[str]:
    """The ground truth's answer: every selected dump line whose page the extract stage keeps."""
    truth = json.loads((home.sample / "ground_truth.json").read_text())
    kept = {page["url"] for page in truth["pages"] if page["expected"]["extract"] == "kept"}
    return {line["id"] for line in truth["lines"]
            if line["expected"]["source"] == "pending" and line["page"] in kept}


@pytest.fixture
def champion(tiny_run, cli_in) -> dict:
    code, out, err = cli_in(tiny_run.home)("lineage", "webtext-tiny@champion", "--format", "json",
                                           "--submissions")
    assert code == 0, err
    return json.loads(out)


def test_lineage_of_the_champion_lists_exactly_the_submissions_behind_its_snapshot(tiny_run, champion):
    expected = expected_submissions(tiny_run.home)
    assert len(expected) > 10
    assert set(champion["submissions"]) == expected
    assert len(champion["submissions"]) == len(expected)  # each once
    # the same answer from the view a user queries directly (docs/operations.md)
    [snapshot] = champion["snapshots"]
    assert {row[0] for row in query(tiny_run.home, "SELECT DISTINCT submission_id FROM snapshot_sources "
                                    "WHERE snapshot_id = ?", [snapshot["snapshot_id"]])} == expected


def test_lineage_walks_version_checkpoint_token_set_tokenizer_snapshot(tiny_run, champion):
    [(checkpoint_id, token_set, tokenizer, snapshot_id)] = query(
        tiny_run.home, "SELECT c.checkpoint_id, c.token_set_id, c.tokenizer_id, c.snapshot_id "
        "FROM model_aliases a JOIN model_versions v USING (name, version) "
        "JOIN checkpoints c USING (checkpoint_id) WHERE a.name = 'webtext-tiny' AND a.alias = 'champion'")
    assert champion["version"]["checkpoint_id"] == checkpoint_id
    assert [(c["checkpoint_id"], c["kind"], c["path"], c["token_set_id"], c["tokenizer_id"], c["snapshot_id"])
            for c in champion["checkpoints"]] == [(checkpoint_id, "pretrain", "self", token_set, tokenizer,
                                                   snapshot_id)]
    [snapshot] = champion["snapshots"]
    [(n_documents, n_bytes)] = query(tiny_run.home, "SELECT n_documents, n_bytes FROM snapshots "
                                     "WHERE snapshot_id = ?", [snapshot_id])
    composition = champion["composition"]
    assert (composition["documents"], composition["bytes"]) == (n_documents, n_bytes)
    assert sum(d["documents"] for d in composition["domains"]) == n_documents
    assert sum(d["bytes"] for d in composition["domains"]) == n_bytes
    assert sum(k["documents"] for k in composition["karma"]["buckets"]) == n_documents
    assert composition["karma"]["quantiles"]["min"] >= tiny().source.min_score
    assert {row["verdict"]: row["documents"] for row in snapshot["funnel"]}["kept"] == n_documents
    removed = {row["verdict"].split(":")[0] for row in snapshot["funnel"]} - {"kept"}
    assert {"duplicate", "language", "wikipedia", "too_short"} <= removed


def test_lineage_of_an_aligned_model_reaches_its_sft_reward_and_pretrained_checkpoints(tiny_run, cli_in):
    code, out, err = cli_in(tiny_run.home)("lineage", "webtext-tiny-aligned", "--format", "json")
    assert code == 0, err
    walked = {c["kind"]: c["path"] for c in json.loads(out)["checkpoints"]}
    assert walked == {"align": "self", "sft": "self/parent", "reward": "self/reward",
                      "pretrain": "self/parent/parent"}


def test_lineage_as_markdown_and_of_an_unknown_model(tiny_run, cli_in):
    code, out, _ = cli_in(tiny_run.home)("lineage", "webtext-tiny")
    assert code == 0
    for heading in ("# Lineage of webtext-tiny:1", "## Checkpoints", "### Extract funnel", "### By domain",
                    "### By subreddit", "### Karma", "### Months"):
        assert heading in out
    code, _, err = cli_in(tiny_run.home)("lineage", "no-such-model")
    assert code == 1 and "no-such-model" in err


def test_a_snapshot_export_carries_a_dataset_card_hugging_face_loads(tiny_run, cli_in, tmp_path):
    import datasets
    from huggingface_hub import DatasetCard

    [(snapshot_id, n_documents)] = query(tiny_run.home, "SELECT snapshot_id, n_documents FROM snapshots")
    code, _, err = cli_in(tiny_run.home)("corpus", "export", snapshot_id, "--out", str(tmp_path / "out"))
    assert code == 0, err
    card = DatasetCard.load(tmp_path / "out" / "README.md")
    assert card.data.language == ["en"]
    assert card.data.size_categories == ["n<1K"]
    assert card.data.license == "other" and card.data.source_datasets == ["original"]
    for section in ("## Composition", "## Collection process", "## What was removed, and why", "## Licence"):
        assert section in card.text
    assert "| duplicate |" in card.text and "| language |" in card.text
    loaded = datasets.load_dataset(str(tmp_path / "out"), split="train",
                                   cache_dir=str(tmp_path / "hf-cache"))
    assert loaded.num_rows == n_documents
    assert loaded.column_names == ["doc_id", "url", "title", "text", "karma"]
