"""A tiny token set made with the real tokenize components, and training jobs on it, for the tests of
one training process and of several."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from safetensors.torch import load_file

from webtext.components.model.checkpoint import load_model
from webtext.components.model.presets import model_config
from webtext.components.sample.prose import stdlib_articles
from webtext.components.tokenize.bpe import tiktoken_encoding, train
from webtext.components.tokenize.shards import encode_snapshot, write_manifest
from webtext.components.train.data import FixedBatches, Windows
from webtext.components.train.job import TrainingResult

VOCAB = 512
PRETRAIN = {"model": "cpu-tiny", "max_steps": 30, "micro_batch_size": 4, "batch_tokens": 512,
            "learning_rate": 0.003, "warmup_steps": 5, "val_every_steps": 10, "val_batches": 4,
            "checkpoint_every_steps": 10, "log_every_steps": 5, "sample_tokens": 8, "accelerator": "cpu",
            "devices": 1}
# Two processes on one node, each drawing its own batches: the same 512 tokens a step, with dropout on.
TWO_PROCESSES = {"devices": 2, "strategy": "ddp", "batch_tokens": 512, "precision": "32-true"}

Tokens = tuple[Path, dict]


def make_token_set(root: Path) -> Tokens:
    """A token set of ~30 stdlib articles: BPE trained on them, encoded into shards of both splits."""
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


def job(tokens: Tokens, out: Path, fields: dict | None = None, **pretrain) -> dict:
    """A `PretrainJob` of the tiny model on `tokens`, with `pretrain` over PRETRAIN and the job's other
    `fields` (a teacher)."""
    root, stats = tokens
    return {"out": str(out), "tokens": str(root / "set"), "tokenizer": str(root / "tokenizer.json"),
            "val_tokens_per_byte": stats["val"].n_tokens / stats["val"].n_bytes,
            "model": model_config("cpu-tiny", VOCAB).to_dict() | {"dropout": 0.1},
            "pretrain": PRETRAIN | pretrain, **(fields or {})}


def write_job(tokens: Tokens, out: Path, fields: dict | None = None, **pretrain) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "job.json").write_text(json.dumps(job(tokens, out, fields, **pretrain)))
    return out / "job.json"


def start(job_file: Path, **env: str) -> subprocess.Popen:
    """`python -m webtext.components.train JOB` as the stage (or a node of a cluster) starts it."""
    return subprocess.Popen([sys.executable, "-m", "webtext.components.train", str(job_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **env})




def assert_same_weights(a: Path, b: Path, atol: float = 1e-6) -> None:
    first, second = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(first[name], second[name], atol=atol, rtol=0, msg=name)


@torch.no_grad()
def one_process_val_loss(tokens: Tokens, out: Path) -> tuple[TrainingResult, float]:
    """A run's recorded validation loss, and the mean loss of its exported weights on the same
    validation batches computed here, in this one process."""
    result = TrainingResult.read(out / "result.json")
    model = load_model(out, result.weights_sha256)
    batches = FixedBatches(Windows(tokens[0] / "set", "val", 64), PRETRAIN["micro_batch_size"],
                           PRETRAIN["val_batches"], seed=1337)
    return result, torch.stack([model(x, y)[1] for x, y, _ in batches]).mean().item()
