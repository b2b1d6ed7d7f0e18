"""Pretraining for real on a tiny token set: the loss falls, a killed run resumes to the same weights."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file

from webtext.components.errors import InputError
from webtext.components.files import sha256_file
from webtext.components.model.checkpoint import load_model
from webtext.components.model.presets import model_config
from webtext.components.sample.prose import stdlib_articles
from webtext.components.tokenize.bpe import tiktoken_encoding, train
from webtext.components.tokenize.shards import encode_snapshot, write_manifest
from webtext.components.train.curve import read_curves, svg
from webtext.components.train.data import TrainStream, Windows
from webtext.components.train.job import PretrainJob
from webtext.components.train.run import latest_checkpoint
from webtext.components.train.run import train as run_training

VOCAB = 512
PRETRAIN = {"model": "cpu-tiny", "max_steps": 30, "micro_batch_size": 4, "batch_tokens": 512,
            "learning_rate": 0.003, "warmup_steps": 5, "val_every_steps": 10, "val_batches": 4,
            "checkpoint_every_steps": 10, "log_every_steps": 5, "sample_tokens": 8}


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    """A token set of ~30 stdlib articles, made with the real tokenize components."""
    root = tmp_path_factory.mktemp("tokens")
    texts = ["\n\n".join(a.paragraphs) for a in stdlib_articles(30)]
    pq.write_table(pa.table({"doc_id": [f"d{i:03d}" for i in range(len(texts))], "text": texts}),
                   root / "snapshot.parquet")
    train(iter(texts), root / "tokenizer.json", vocab_size=VOCAB, min_frequency=2)
    out = root / "set"
    out.mkdir()
    stats = encode_snapshot(root / "snapshot.parquet", out, tiktoken_encoding(root / "tokenizer.json"), eot=0,
                            vocab_size=VOCAB, val_fraction=0.15, shard_tokens=5000, batch_documents=8,
                            threads=2)
    write_manifest(out, stats, dtype="uint16")
    return root, stats


def job(tokens, out, **pretrain) -> dict:
    root, stats = tokens
    return {"out": str(out), "tokens": str(root / "set"), "tokenizer": str(root / "tokenizer.json"),
            "val_tokens_per_byte": stats["val"].n_tokens / stats["val"].n_bytes,
            "model": model_config("cpu-tiny", VOCAB).to_dict() | {"dropout": 0.1},
            "pretrain": PRETRAIN | pretrain}


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
    assert "<polyline" in svg(curves, "loss")
    assert (tmp_path / "tb").is_dir()


def _start(job_file):
    return subprocess.Popen([sys.executable, "-m", "webtext.components.train", str(job_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(tokens, tmp_path):
    runs = {}
    for name in ("whole", "killed"):
        (tmp_path / name).mkdir()
        runs[name] = tmp_path / name / "job.json"
        runs[name].write_text(json.dumps(job(tokens, tmp_path / name)))
    whole = _start(runs["whole"])
    killed = _start(runs["killed"])
    marker = tmp_path / "killed" / "checkpoints" / "step-00000010.ckpt.sha256"
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert killed.poll() is None and time.monotonic() < deadline, killed.stdout.read()
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert whole.wait() == 0, whole.stdout.read()
    assert not (tmp_path / "killed" / "result.json").exists()
    resumed = _start(runs["killed"])
    output = resumed.communicate()[0]
    assert resumed.returncode == 0, output
    assert "resuming from step-" in output
    a = load_file(tmp_path / "whole" / "model.safetensors")
    b = load_file(tmp_path / "killed" / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-6, rtol=0)


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
