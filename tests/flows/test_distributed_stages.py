"""The pretrain and finetune stages on several processes: a pretraining on two processes, a fine-tune on
two processes started by torchrun, and a node of the README's two-node launch that fails."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import lightning as L
import pytest
from safetensors.torch import load_model

from tests.flows.stages import in_home, tiny
from tests.system import free_port
from webtext.components.errors import StageError
from webtext.components.finetune.heads import TaskModel
from webtext.components.finetune.module import FinetuneModule, TaskData
from webtext.components.finetune.run import task_examples
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.train.distributed import first_failure
from webtext.components.train.job import FinetuneJob, TrainingResult
from webtext.components.train.precision import resolve
from webtext.flows.finetune import finetune
from webtext.flows.pretrain import pretrain

pytestmark = pytest.mark.slow

TWO_PROCESSES = ["pretrain.accelerator=cpu", "pretrain.devices=2", "pretrain.strategy=ddp",
                 "pretrain.precision=32-true"]
# the head node's part of a two-node run, one process per node
TWO_NODES = [*TWO_PROCESSES, "pretrain.devices=1", "pretrain.num_nodes=2"]


def query(home, sql, params=()):
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql, params).fetchall()


class OtherNode(threading.Thread):
    """Node 1: once the head's stage has written a new job, start `python -m webtext.components.train`
    on it (or on `edit(job)` written elsewhere, for a node that does not see what the head sees)."""

    def __init__(self, runs, env, edit=None):
        super().__init__(daemon=True)
        self.runs, self.env, self.edit = runs, env, edit
        self.known = set(runs.glob("*/job.json"))
        self.returncode: int | None = None

    def run(self) -> None:
        deadline = time.monotonic() + 300
        while not (new := set(self.runs.glob("*/job.json")) - self.known):
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        [job_file] = new
        if self.edit:
            job = self.edit(json.loads(job_file.read_text()))
            job_file = self.runs.parent / "node-1" / "job.json"
            job_file.parent.mkdir()
            job_file.write_text(json.dumps(job))
        self.returncode = subprocess.run([sys.executable, "-m", "webtext.components.train", str(job_file)],
                                         env={**os.environ, **self.env, "NODE_RANK": "1"},
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def on_two_nodes(home, config, monkeypatch, edit=None):
    """Run the pretrain stage as the head node (NODE_RANK=0) while another process joins as node 1."""
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "OMP_NUM_THREADS": "1"}
    other = OtherNode(home.runs, env, edit)
    other.start()
    with in_home(home.root), monkeypatch.context() as patch:
        for name, value in {**env, "NODE_RANK": "0"}.items():
            patch.setenv(name, value)
        try:
            return pretrain(config)
        finally:
            other.join(timeout=120)
            assert other.returncode is not None, "node 1 never started"


@pytest.fixture(scope="module")
def two_processes(tiny_run, tmp_path_factory):
    home = tiny_run.copy(tmp_path_factory.mktemp("two-processes"), after="pretrain")
    config = tiny(*TWO_PROCESSES)
    with in_home(home.root), pytest.MonkeyPatch.context() as patch:
        patch.setenv("MASTER_PORT", str(free_port()))
        result = pretrain(config)
    return home, config, result


def test_a_pretraining_on_two_processes_trains_checkpoints_and_registers(two_processes):
    home, _, result = two_processes
    assert not result.up_to_date and "step 30" in result.summary
    rows = query(home, "SELECT checkpoint_id, step, config FROM checkpoints WHERE kind = 'pretrain' "
                       "ORDER BY created_at")
    assert len(rows) == 2 and rows[-1][1] == 30
    assert json.loads(rows[-1][2])["devices"] == 2
    run = home.runs / rows[-1][0]
    assert not (run / "failures").exists()
    assert sorted(p.name for p in (run / "checkpoints").glob("*.ckpt")) == \
        ["step-00000020.ckpt", "step-00000030.ckpt"]


def test_a_fine_tune_on_two_processes_scores_the_validation_split_as_one_process(two_processes):
    home, config, _ = two_processes
    torchrun = [str(Path(sys.executable).parent / "torchrun"), "--no-python", "--standalone",
                "--nproc-per-node=2"]  # starts both processes; Lightning takes their ranks from it
    settings = config.finetune.model_copy(update={"tasks": config.finetune.tasks[::2], "devices": 2,
                                                  "strategy": "ddp", "accelerator": "cpu",
                                                  "launcher": torchrun, "with_scratch_baseline": False})
    with in_home(home.root):
        result = finetune(config.model_copy(update={"finetune": settings}))
    assert "2 of 2 task runs fine-tuned" in result.summary
    rows = query(home, "SELECT path, config FROM checkpoints WHERE kind = 'finetune' AND "
                       "json_extract(config, '$.devices') = 2")
    assert len(rows) == 2
    for path, _ in rows:
        job = FinetuneJob.read(home.runs / path / "job.json")
        result = TrainingResult.read(home.runs / path / "result.json")
        recorded = result.scores
        # the weights the two processes exported, scored here in one process on the whole split
        with in_home(home.root):
            _, validation, labels, _ = task_examples(job, job.model["block_size"])
        outputs = 1 if job.task.regression else len(labels)
        model = TaskModel(GPT(GPTConfig(**job.model)), job.task.type, outputs)
        load_model(model, home.runs / path / "model.safetensors")
        module = FinetuneModule(model, regression=job.task.regression, metrics=list(recorded), lm_weight=0.5,
                                learning_rate=1e-3, warmup_fraction=0.0, weight_decay=0.0, seed=0)
        precision, _ = resolve(job.finetune.precision, job.measurements)  # what the processes chose
        trainer = L.Trainer(accelerator="cpu", devices=1, precision=precision, logger=False,
                            enable_progress_bar=False, enable_model_summary=False)
        data = TaskData([], validation, 16, job.task.regression, seed=0)
        trainer.validate(module, datamodule=data, verbose=False)
        assert result.n_validation == len(validation) == module.scored == 32
        assert module.scores == pytest.approx(recorded, abs=1e-6), job.task.name


def test_a_node_that_fails_is_named_in_the_stage_error(tiny_run, tmp_path, monkeypatch):
    """Node 1 does not see the token set (its storage is not shared): the stage says that node 1's
    process failed first and why, not the head's lost connection."""
    home = tiny_run.copy(tmp_path / "home", after="pretrain")
    missing = tmp_path / "not-shared"
    with pytest.raises(StageError) as failed:
        on_two_nodes(home, tiny(*TWO_NODES), monkeypatch, edit=lambda job: job | {"tokens": str(missing)})
    message = str(failed.value)
    assert "process of rank 1 (node 1, local rank 0" in message
    assert f"InputError: token set {missing}" in message
    [run] = [path.parent for path in home.runs.glob("*/failures")]
    records = [json.loads(path.read_text()) for path in (run / "failures").glob("*.json")]
    assert sorted((r["rank"], r["node"]) for r in records) == [(0, 0), (1, 1)]  # the head's too, later
    assert first_failure(run, time.time()) is None  # a later run does not take these for its own
