"""The pretrain stage on the tiny sample: a training process, a registered checkpoint, reruns and samples."""

import json
import time
from pathlib import Path

import duckdb
import pytest
import torch

from tests.flows.stages import CLI, TINY, cli_env, in_home, kill_when, tiny
from tests.system import processes_naming
from webtext.components.errors import InputError
from webtext.components.files import sha256_file
from webtext.components.home import Home
from webtext.flows.pretrain import pretrain

pytestmark = pytest.mark.slow


def query(home, sql, params=()):
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def pretrained(tiny_run):
    """The shared tiny run's home, its results up to this stage, and pretrain run again there."""
    with in_home(tiny_run.home.root) as home:
        rerun = pretrain(tiny())
    return home, tiny_run.results[:5], rerun


@pytest.fixture(scope="module")
def retrained(tiny_run, tmp_path_factory) -> Home:
    """A copy of the shared run's home for the checks below that train, kill or unregister."""
    return tiny_run.copy(tmp_path_factory.mktemp("retrained"))


def test_the_pipeline_ends_in_a_registered_checkpoint(pretrained):
    home, results, rerun = pretrained
    assert [r.stage for r in results] == ["source", "crawl", "extract", "tokenize", "pretrain"]
    assert rerun.up_to_date and "up to date" in rerun.summary
    # the one pretrained checkpoint (the shared run trained others from it, and scratch baselines)
    [row] = query(home, "SELECT checkpoint_id, kind, tokenizer_id, snapshot_id, token_set_id, path, sha256, "
                        "step, config, val_loss, val_bpb FROM checkpoints WHERE kind = 'pretrain'")
    checkpoint_id, kind, tokenizer_id, snapshot_id, token_set_id, path, sha, step, config, loss, bpb = row
    assert kind == "pretrain" and step == tiny().pretrain.max_steps
    assert query(home, "SELECT tokenizer_id, snapshot_id FROM token_sets WHERE token_set_id = ?",
                 [token_set_id]) == [(tokenizer_id, snapshot_id)]
    assert sha256_file(home.runs / path / "model.safetensors") == sha
    assert json.loads(config)["model"] == "cpu-tiny" and 0 < bpb < loss * 2
    assert checkpoint_id in results[-1].summary


def test_artifacts_show_progress_and_the_loss_curve(pretrained, tiny_run):
    artifacts = {key: tiny_run.artifact(key) for key in ("pretrain-curve", "pretrain-progress")}
    assert "data:image/svg+xml;base64," in artifacts["pretrain-curve"].data
    assert artifacts["pretrain-progress"].data == 100.0


def test_generate_continues_a_prompt_repeatably(pretrained, cli_in):
    home = pretrained[0]
    cli = cli_in(home)
    [(checkpoint_id,)] = query(home, "SELECT checkpoint_id FROM checkpoints WHERE kind = 'pretrain'")
    command = ["generate", checkpoint_id[:8], "--prompt", "The module", "--max-tokens", "12", "--seed", "3"]
    code, first, _ = cli(*command)
    assert code == 0
    code, again, _ = cli(*command)
    assert code == 0
    assert first.startswith("The module") and len(first) > len("The module\n")
    assert again == first
    greedy = ["generate", checkpoint_id[:8], "--max-tokens", "12", "--temperature", "0"]
    code, batch, _ = cli(*greedy, "--prompt", "The module", "--prompt", "A")  # left padded together
    assert code == 0
    alone = [cli(*greedy, "--prompt", text)[1].rstrip("\n") for text in ("The module", "A")]
    assert batch == "\n\n".join(alone) + "\n"


def test_a_changed_config_trains_a_new_checkpoint(retrained):
    home = retrained
    with in_home(home.root):
        result = pretrain(tiny("pretrain.max_steps=12"))
    assert not result.up_to_date and "step 12" in result.summary
    steps = query(home, "SELECT step FROM checkpoints WHERE kind = 'pretrain' ORDER BY step")
    assert [s for (s,) in steps] == [12, 30]


def test_a_failed_training_is_one_line_naming_the_run(retrained, cli_in):
    shape = "pretrain.model={n_layer: 1, n_head: 1, n_embd: 8, block_size: 100000}"
    code, _, err = cli_in(retrained)("stage", "pretrain", "--config", str(TINY), "--set", shape)
    assert code == 1
    error = err.strip().splitlines()[-1]
    assert error.startswith("webtext: error: training ") and "no train shard holds 100001 tokens" in error


def test_a_killed_stage_takes_its_training_along_and_a_rerun_resumes(retrained):
    home = retrained
    overrides = ["--set", "pretrain.max_steps=40", "--set", "pretrain.checkpoint_every_steps=5"]
    known = {p.name for p in home.runs.iterdir()}

    def new_runs() -> list[Path]:
        return [p for p in home.runs.iterdir() if p.name not in known]

    kill_when([*CLI, "stage", "pretrain", "--config", str(TINY), *overrides], cli_env(home.root),
              lambda: any((run / "checkpoints" / "step-00000010.ckpt.sha256").exists() for run in new_runs()))
    [run_dir] = new_runs()
    deadline = time.monotonic() + 10
    while processes_naming(run_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not processes_naming(run_dir), "the training process outlived the stage that started it"

    with in_home(home.root):
        result = pretrain(tiny("pretrain.max_steps=40", "pretrain.checkpoint_every_steps=5"))
    assert not result.up_to_date and "step 40" in result.summary and run_dir.name in result.summary


def test_a_finished_run_that_was_never_registered_is_registered_without_training(retrained):
    home = retrained
    [(checkpoint_id, path)] = query(home, "SELECT checkpoint_id, path FROM checkpoints "
                                          "WHERE kind = 'pretrain' AND step = 30")
    metrics = home.runs / path / "logs" / "metrics.csv"
    before = metrics.stat().st_mtime_ns
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("DELETE FROM checkpoints WHERE checkpoint_id = ?", [checkpoint_id])
    with in_home(home.root):
        result = pretrain(tiny())
        assert not result.up_to_date and checkpoint_id in result.summary
        assert metrics.stat().st_mtime_ns == before  # nothing was trained again
        assert pretrain(tiny()).up_to_date


def test_a_student_distils_from_a_registered_teacher_with_muon_and_names_it(retrained, cli_in):
    home = retrained
    [(teacher_id,)] = query(home, "SELECT checkpoint_id FROM model_versions WHERE name = 'webtext-tiny'")
    student = ("pretrain.teacher=webtext-tiny@champion", "pretrain.optimizer=muon", "pretrain.max_steps=10",
               "pretrain.seed=7")
    with in_home(home.root):
        result = pretrain(tiny(*student))
    assert f"distilled from {teacher_id}" in result.summary
    [(student_id, config)] = query(home, "SELECT checkpoint_id, config FROM checkpoints "
                                         "WHERE kind = 'pretrain' AND step = 10")
    config = json.loads(config)
    assert config["teacher_id"] == teacher_id and config["optimizer"] == "muon"
    curves = (home.runs / student_id / "logs" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train/ce", "train/kl", "train/muon_lr"} <= set(curves)
    checkpoint = torch.load(sorted((home.runs / student_id / "checkpoints").glob("*.ckpt"))[-1],
                            weights_only=False)
    assert not any(key.startswith("teacher.") for key in checkpoint["state_dict"])  # read from the registry
    with in_home(home.root):
        assert pretrain(tiny(*student)).up_to_date


def test_a_teacher_of_another_tokenizer_is_refused_before_training(retrained):
    from webtext.flows.tokenize import tokenize

    home = retrained
    other = "tokenize.vocab_size=400"
    with in_home(home.root):
        tokenize(tiny(other))
        runs = set(home.runs.iterdir())
        with pytest.raises(InputError, match=r"pretrain.teacher='webtext-tiny@champion' reads tokenizer \w+; "
                                             r"the student trains on token set \w+ of tokenizer \w+"):
            pretrain(tiny(other, "pretrain.teacher=webtext-tiny@champion"))
    assert set(home.runs.iterdir()) == runs
