"""Pretraining for real on a tiny token set: the loss falls, only whole checkpoints are trusted, the batch
stream resumes exactly. (A killed run resuming: test_distributed and the pretrain stage's tests.)"""

from __future__ import annotations

import math

import pytest
import torch

from tests.components.train.runs import VOCAB, job
from webtext.components.errors import InputError
from webtext.components.files import sha256_file
from webtext.components.model.checkpoint import load_model
from webtext.components.plot import lines
from webtext.components.train.curve import read_curves
from webtext.components.train.data import TrainStream, Windows
from webtext.components.train.job import PretrainJob
from webtext.components.train.run import latest_checkpoint
from webtext.components.train.run import train as run_training


@pytest.mark.slow
def test_training_lowers_the_validation_loss(tokens, tmp_path):
    result = run_training(PretrainJob.model_validate(job(tokens, tmp_path)))
    curves = read_curves(tmp_path / "logs" / "metrics.csv")
    val = [v for _, v in curves["val/loss"]]
    # from chance (ln 512 = 6.24 nats) down, and still falling between validations
    assert len(val) >= 3 and val[-1] < math.log(VOCAB) - 0.5 and val[-1] < val[0]
    assert result.step == 30 and result.val_loss == pytest.approx(val[-1], abs=1e-4)
    per_byte = job(tokens, tmp_path)["val_tokens_per_byte"]
    assert result.val_bpb == pytest.approx(result.val_loss * per_byte / math.log(2), rel=1e-5)
    model = load_model(tmp_path, result.weights_sha256)
    assert model.config.n_layer == 2 and not model.training
    assert "<polyline" in lines(curves, "loss", "step", "nats/token")
    assert (tmp_path / "tb").is_dir()


def test_a_checkpoint_that_does_not_match_its_hash_is_never_loaded(tmp_path):
    for step in (10, 20):
        path = tmp_path / f"step-{step:08d}.ckpt"
        path.write_bytes(f"state {step}".encode())
        (tmp_path / f"{path.name}.sha256").write_text(sha256_file(path))
    assert latest_checkpoint(tmp_path).name == "step-00000020.ckpt"
    (tmp_path / "step-00000020.ckpt").write_bytes(b"cut sho")  # a kill mid-write
    assert latest_checkpoint(tmp_path).name == "step-00000010.ckpt"
    (tmp_path / "step-00000010.ckpt.sha256").unlink()
    assert latest_checkpoint(tmp_path) is None


def test_the_batch_stream_resumes_exactly_where_it_stopped(tokens):
    windows = Windows(tokens[0] / "set", "train", 64)
    stream = iter(TrainStream(windows, 4, seed=7, rank=0, start=0))
    first = [next(stream) for _ in range(6)]
    later = iter(TrainStream(windows, 4, seed=7, rank=0, start=4))
    for (x, y, i), (x2, y2, i2) in zip(first[4:], [next(later), next(later)]):
        assert i == i2 and torch.equal(x, x2) and torch.equal(y, y2)
    x, y, _ = first[0]
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
    other_rank = next(iter(TrainStream(windows, 4, seed=7, rank=1, start=0)))
    assert not torch.equal(other_rank[0], x)


def test_windows_refuse_a_split_too_short_for_the_context(tokens):
    with pytest.raises(ValueError, match="no val shard holds"):
        Windows(tokens[0] / "set", "val", 100_000)


def test_weights_that_do_not_match_the_registry_are_refused(tokens, tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"x")
    with pytest.raises(InputError, match="does not match its recorded sha256"):
        load_model(tmp_path, "0" * 64)
