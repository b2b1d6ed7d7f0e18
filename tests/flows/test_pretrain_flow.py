"""The pretrain stage on the tiny sample: a training process, a registered checkpoint, reruns and samples."""

import json
import time
from pathlib import Path

import duckdb
import pytest
from prefect.client.orchestration import get_client

from components.config import load_config
from components.files import sha256_file
from components.home import Home
from flows.cli import main
from flows.pretrain import pretrain
from tests.flows.stages import CLI, cli_env, kill_when, run_until

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"


def query(home, sql, params=()):
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """The tiny pipeline run once (up to this stage), then pretrain again, in a home of its own."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WEBTEXT_HOME", str(tmp_path_factory.mktemp("pretrained")))
        results = run_until("pretrain", load_config(TINY))
        rerun = pretrain(load_config(TINY))
        yield Home.from_env(), results, rerun


def test_the_pipeline_ends_in_a_registered_checkpoint(pretrained):
    home, results, rerun = pretrained
    assert [r.stage for r in results] == ["source", "crawl", "extract", "tokenize", "pretrain"]
    assert rerun.up_to_date and "up to date" in rerun.summary
    [row] = query(home, "SELECT checkpoint_id, kind, tokenizer_id, snapshot_id, token_set_id, path, sha256, "
                        "step, config, val_loss, val_bpb FROM checkpoints")
    checkpoint_id, kind, tokenizer_id, snapshot_id, token_set_id, path, sha, step, config, loss, bpb = row
    assert kind == "pretrain" and step == load_config(TINY).pretrain.max_steps
    assert query(home, "SELECT tokenizer_id, snapshot_id FROM token_sets WHERE token_set_id = ?",
                 [token_set_id]) == [(tokenizer_id, snapshot_id)]
    assert sha256_file(home.runs / path / "model.safetensors") == sha
    assert json.loads(config)["model"] == "cpu-tiny" and 0 < bpb < loss * 2
    assert checkpoint_id in results[-1].summary


def test_artifacts_show_progress_and_the_loss_curve(pretrained):
    with get_client(sync_client=True) as client:
        artifacts = {a.key: a for a in client.read_latest_artifacts()}
    assert "data:image/svg+xml;base64," in artifacts["pretrain-curve"].data
    assert artifacts["pretrain-progress"].data == 100.0


def test_generate_continues_a_prompt_repeatably(pretrained, capsys, monkeypatch):
    home = pretrained[0]
    monkeypatch.delenv("PREFECT_HOME", raising=False)  # the CLI sets it; undone after the test
    [(checkpoint_id,)] = query(home, "SELECT checkpoint_id FROM checkpoints")
    command = ["generate", checkpoint_id[:8], "--prompt", "The module", "--max-tokens", "12", "--seed", "3"]
    assert main(command) == 0
    first = capsys.readouterr().out
    assert main(command) == 0
    assert first.startswith("The module") and len(first) > len("The module\n")
    assert capsys.readouterr().out == first


def test_a_changed_config_trains_a_new_checkpoint(pretrained):
    home = pretrained[0]
    result = pretrain(load_config(TINY, ["pretrain.max_steps=12"]))
    assert not result.up_to_date and "step 12" in result.summary
    assert sorted(s for (s,) in query(home, "SELECT step FROM checkpoints")) == [12, 30]


def test_a_failed_training_is_one_line_naming_the_run(pretrained, capsys, monkeypatch):
    monkeypatch.delenv("PREFECT_HOME", raising=False)
    shape = "pretrain.model={n_layer: 1, n_head: 1, n_embd: 8, block_size: 100000}"
    assert main(["stage", "pretrain", "--config", str(TINY), "--set", shape]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("webtext: error: training ") and "no train shard holds 100001 tokens" in error


def training_processes(run_dir: Path) -> list[int]:
    """Pids of live training processes of one run directory."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(run_dir).encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:  # ended while we looked
            continue
    return found


def test_a_killed_stage_takes_its_training_along_and_a_rerun_resumes(pretrained, tmp_path):
    home = pretrained[0]
    overrides = ["--set", "pretrain.max_steps=40", "--set", "pretrain.checkpoint_every_steps=5"]
    known = {p.name for p in home.runs.iterdir()}

    def new_runs() -> list[Path]:
        return [p for p in home.runs.iterdir() if p.name not in known]

    kill_when([*CLI, "stage", "pretrain", "--config", str(TINY), *overrides], cli_env(home.root),
              lambda: any((run / "checkpoints" / "step-00000010.ckpt.sha256").exists() for run in new_runs()))
    [run_dir] = new_runs()
    deadline = time.monotonic() + 10
    while training_processes(run_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not training_processes(run_dir), "the training process outlived the stage that started it"

    result = pretrain(load_config(TINY, ["pretrain.max_steps=40", "pretrain.checkpoint_every_steps=5"]))
    assert not result.up_to_date and "step 40" in result.summary and run_dir.name in result.summary


def test_a_finished_run_that_was_never_registered_is_registered_without_training(pretrained):
    home = pretrained[0]
    [(checkpoint_id, path)] = query(home, "SELECT checkpoint_id, path FROM checkpoints WHERE step = 30")
    metrics = home.runs / path / "logs" / "metrics.csv"
    before = metrics.stat().st_mtime_ns
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("DELETE FROM checkpoints WHERE checkpoint_id = ?", [checkpoint_id])
    result = pretrain(load_config(TINY))
    assert not result.up_to_date and checkpoint_id in result.summary
    assert metrics.stat().st_mtime_ns == before  # nothing was trained again
    assert pretrain(load_config(TINY)).up_to_date
