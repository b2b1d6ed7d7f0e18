"""The whole pipeline on the tiny sample: every fine-tuned task's checkpoint and scores, and the registered
version that lists them."""

import json

import duckdb
import pytest

from tests.flows.stages import in_home, tiny
from webtext.components.errors import ConfigError
from webtext.components.files import sha256_file
from webtext.flows.finetune import finetune
from webtext.flows.pipeline import STAGES

pytestmark = pytest.mark.slow


def query(home, sql, params=()):
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def finetuned(tiny_run):
    """The shared tiny run's home, the pipeline flow's results, and finetune run again there."""
    with in_home(tiny_run.home.root) as home:
        rerun = finetune(tiny())
    return home, tiny_run.pipeline, rerun


def test_the_pipeline_runs_every_stage_and_a_rerun_is_up_to_date(finetuned):
    _, results, rerun = finetuned
    stages = ["source", "crawl", "extract", "tokenize", "pretrain", "finetune", "sft", "reward", "align",
              "evaluate", "register", "report"]
    assert [r.stage for r in results] == list(STAGES) == stages
    assert all(r.up_to_date for r in results[:5])  # run before it, stage by stage
    assert "8 of 8 task runs fine-tuned" in results[5].summary  # each task, and its scratch baseline
    assert "promoted to champion; trained from it: " in results[-2].summary
    assert "5 of 5 figures drawn" in results[-1].summary
    assert rerun.up_to_date and "up to date" in rerun.summary


def test_every_task_has_a_checkpoint_with_its_parent_and_its_metrics(finetuned):
    home = finetuned[0]
    [(parent,)] = query(home, "SELECT checkpoint_id FROM checkpoints WHERE kind = 'pretrain'")
    rows = query(home, "SELECT checkpoint_id, parent_id, path, sha256, config FROM checkpoints "
                       "WHERE kind = 'finetune' AND parent_id IS NOT NULL")
    assert len(rows) == 4 and all(parent_id == parent for _, parent_id, *_ in rows)
    for checkpoint_id, _, path, sha, config in rows:
        assert sha256_file(home.runs / path / "model.safetensors") == sha
        task = json.loads(config)["task"]["name"]
        metrics = dict(query(home, "SELECT metric, value FROM evaluations WHERE checkpoint_id = ? "
                                   "AND task = ?", [checkpoint_id, task]))
        expected = {"sentiment": {"acc"}, "inference": {"acc", "mcc"}, "paraphrase": {"pearson", "spearman"},
                    "story": {"acc"}}[task]
        assert set(metrics) == expected, task
        assert all(-1 <= v <= 1 for v in metrics.values())
    counts = query(home, "SELECT n_examples, count(*) FROM evaluations JOIN checkpoints "
                         "USING (checkpoint_id) WHERE kind = 'finetune' GROUP BY ALL")
    assert counts == [(32, 12)]  # max_validation_examples of each task; a row per run, task and metric
    lineage = json.loads((home.registry / "webtext-tiny" / "1" / "lineage.json").read_text())
    assert set(lineage["finetuned"]) == {"sentiment", "inference", "paraphrase", "story"}
    contamination = query(home, "SELECT task FROM evaluations WHERE checkpoint_id = ? "
                                "AND metric = 'contamination'", [parent])
    assert {"sentiment", "inference", "paraphrase", "story"} <= {task for (task,) in contamination}


def test_the_scores_artifact_lists_every_task(finetuned, tiny_run):
    artifact = tiny_run.artifact("finetune-scores")
    rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    assert {row["task"] for row in rows} == {"sentiment", "inference", "paraphrase", "story"}


def test_a_rerun_replaces_scores_and_from_scratch_is_its_own_checkpoint(tiny_run, tmp_path):
    home = tiny_run.copy(tmp_path / "home")
    [(sentiment_id,)] = query(home, "SELECT checkpoint_id FROM evaluations JOIN checkpoints USING "
                                    "(checkpoint_id) WHERE task = 'sentiment' AND metric = 'acc' AND "
                                    "parent_id IS NOT NULL")
    with duckdb.connect(str(home.warehouse)) as con:  # as if the run finished but was never recorded
        con.execute("DELETE FROM checkpoints WHERE checkpoint_id = ?", [sentiment_id])
    with in_home(home.root):
        again = finetune(tiny())
    assert "1 of 8 task runs" in again.summary
    assert query(home, "SELECT count(*) FROM evaluations WHERE checkpoint_id = ?", [sentiment_id]) == [(1,)]

    one_task = ["finetune.tasks=[{name: sentiment, type: classification, fields: [sentence], "
                "max_train_examples: 32, max_validation_examples: 32, files: {train: "
                "'${WEBTEXT_HOME}/sample/tasks/sentiment/train.tsv', validation: "
                "'${WEBTEXT_HOME}/sample/tasks/sentiment/validation.tsv'}}]", "finetune.from_scratch=true",
                "finetune.with_scratch_baseline=false"]
    with in_home(home.root):
        scratch = finetune(tiny(*one_task))
    assert "1 of 1 task runs fine-tuned from scratch" in scratch.summary
    [(parent,)] = query(home, "SELECT checkpoint_id FROM checkpoints WHERE kind = 'pretrain'")
    found = query(home, "SELECT parent_id, json_extract_string(config, '$.shape_of') FROM checkpoints "
                        "WHERE kind = 'finetune' AND json_extract_string(config, '$.from_scratch') = 'true'")
    assert found == [(None, parent)] * 5  # the four baselines and this one


def test_each_scratch_baseline_is_the_run_a_from_scratch_config_makes(finetuned):
    """The baselines trained every weight from random ones: `from_scratch: true` finds them up to date,
    and their scores are the finetune rows without a parent."""
    home, _, _ = finetuned
    [(parent,)] = query(home, "SELECT checkpoint_id FROM checkpoints WHERE kind = 'pretrain'")
    baselines = query(home, "SELECT json_extract_string(config, '$.task.name'), "
                            "json_extract_string(config, '$.shape_of') FROM checkpoints "
                            "WHERE kind = 'finetune' AND parent_id IS NULL ORDER BY 1")
    assert baselines == [(task, parent) for task in ("inference", "paraphrase", "sentiment", "story")]
    with in_home(home.root):
        scratch = finetune(tiny("finetune.from_scratch=true", "finetune.with_scratch_baseline=false"))
    assert scratch.up_to_date
    with pytest.raises(ConfigError, match="with_scratch_baseline compares"):
        tiny("finetune.from_scratch=true")
