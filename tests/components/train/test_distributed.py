"""Pretraining on several CPU processes (gloo), for real: two processes on one node, two nodes of one
process on loopback, FSDP, and a kill mid-run. A process that fails: tests/flows/test_distributed_stages."""

from __future__ import annotations

import signal
import time

import pytest

from tests.components.train.runs import (
    TWO_PROCESSES,
    assert_same_weights,
    one_process_val_loss,
    start,
    write_job,
)
from tests.system import free_port, processes_naming
from webtext.components.files import sha256_file
from webtext.components.train.curve import read_curves

pytestmark = pytest.mark.slow

TIMEOUT_S = 180


def finish(process) -> str:
    output = process.communicate(timeout=TIMEOUT_S)[0]
    assert process.returncode == 0, output
    return output


@pytest.fixture(scope="module")
def two_nodes(tokens, tmp_path_factory):
    """The README's multi-node launch on loopback, uninterrupted: 30 steps on two nodes of one process,
    the same job on each, NODE_RANK apart. One core each, as Lightning gives each of two processes on
    one node, so that sums add up in the same order as there."""
    out = tmp_path_factory.mktemp("two-nodes")
    job_file = write_job(tokens, out, **TWO_PROCESSES | {"devices": 1, "num_nodes": 2})
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "OMP_NUM_THREADS": "1"}
    head, other = start(job_file, **env, NODE_RANK="0"), start(job_file, **env, NODE_RANK="1")
    finish(other)
    return out, finish(head)


def test_two_nodes_checkpoint_once_and_validate_as_one_process_would(tokens, two_nodes):
    out, output = two_nodes
    result, here = one_process_val_loss(tokens, out)
    assert result.step == 30
    # validation split over the ranks and reduced: the loss of every batch once, as one process sees it
    assert result.val_loss == pytest.approx(here, abs=1e-5)
    checkpoints = out / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "step-00000020.ckpt", "step-00000020.ckpt.sha256", "step-00000030.ckpt", "step-00000030.ckpt.sha256"]
    for step in (20, 30):
        path = checkpoints / f"step-{step:08d}.ckpt"
        assert (checkpoints / f"{path.name}.sha256").read_text().strip() == sha256_file(path)
    assert len([line for line in output.splitlines() if '"val_loss"' in line]) == 4  # rank 0 reports, once
    assert not (out / "failures").exists()


def test_two_processes_killed_and_resumed_end_with_the_uninterrupted_weights(tokens, two_nodes, tmp_path):
    """Two processes on one node this time (Lightning starts the second): killed with SIGKILL after the
    step-10 checkpoint, started again, they end where the uninterrupted two-node run did."""
    job_file = write_job(tokens, tmp_path, **TWO_PROCESSES)
    killed = start(job_file, MASTER_PORT=str(free_port()))
    marker = tmp_path / "checkpoints" / "step-00000010.ckpt.sha256"
    deadline = time.monotonic() + TIMEOUT_S
    while not marker.exists():
        assert killed.poll() is None and time.monotonic() < deadline, killed.stdout.read()
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)  # rank 0; rank 1, its child, ends with it
    killed.wait()
    while processes_naming(job_file):
        assert time.monotonic() < deadline, "rank 1 outlived rank 0"
        time.sleep(0.1)
    assert not (tmp_path / "result.json").exists()
    output = finish(start(job_file, MASTER_PORT=str(free_port())))
    assert "resuming from step-00000010.ckpt" in output
    assert_same_weights(two_nodes[0], tmp_path)
    # and the same loss curve, step for step
    whole, resumed = (read_curves(run / "logs" / "metrics.csv") for run in (two_nodes[0], tmp_path))
    for name in ("train/loss", "val/loss"):
        later = dict(resumed[name])
        common = [(step, value) for step, value in whole[name] if step in later]
        assert len(common) >= 2 and all(abs(value - later[step]) <= 1e-6 for step, value in common), name


def test_fsdp_shards_clips_and_exports_the_whole_model(tokens, two_nodes, tmp_path):
    finish(start(write_job(tokens, tmp_path, **TWO_PROCESSES | {"strategy": "fsdp"}),
                 MASTER_PORT=str(free_port())))
    result, here = one_process_val_loss(tokens, tmp_path)
    assert result.val_loss == pytest.approx(here, abs=1e-5)
    # the same optimisation as DDP, clipping included (without it they differ by 1e-2), up to the order
    # of float sums across shards
    assert_same_weights(two_nodes[0], tmp_path, atol=1e-4)
