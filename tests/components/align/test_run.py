"""PPO and DPO runs in this process on a small chat model and records made up for the test: a rule the
prompts define (the answer names "colour") that the SFT model keeps half the time, raised by each
method at a bounded KL; what a run writes; and that a killed PPO run resumes between rollout batches
to the weights of an uninterrupted one."""

from __future__ import annotations

import csv
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_model

from tests.components.instruct.tokenizer import train_tokenizer
from webtext.components.align.run import run_align
from webtext.components.config import AlignConfig, InstructData, SFTConfig
from webtext.components.files import sha256_file
from webtext.components.instruct.run import run_sft
from webtext.components.model.checkpoint import load_model
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.tokenize.bpe import tiktoken_encoding
from webtext.components.train.job import ANSWERS_FILE, JOB_FILE, RESULT_FILE, AlignJob, SFTJob, TrainingResult

pytestmark = pytest.mark.slow

COLOURS = ["red", "blue", "green", "pink", "black", "white", "grey"]
DEVICES = dict(precision="32-true", accelerator="cpu", devices=1, val_every_steps=100, log_every_steps=8)
PPO = dict(method="ppo", reward="rule", learning_rate=3e-3, batch_size=16, epochs=4, max_new_tokens=16,
           eval_tokens=16, beta=0.02, checkpoint_every_steps=8)
DPO = dict(method="dpo", reward="rule", learning_rate=3e-4, batch_size=8, epochs=4, eval_tokens=16, beta=0.1,
           checkpoint_every_steps=100)
MAX_KL = 12.0  # nats per answer of ~6 tokens: the policy moved, but did not leave the SFT model behind


def write(path: Path, n: int, make) -> None:
    rng = random.Random(path.name)
    path.write_text("".join(json.dumps(make(rng, rng.choice(COLOURS))) + "\n" for _ in range(n)))


def files(root: Path, kind: str) -> InstructData:
    return InstructData(files={split: [str(root / f"{kind}-{split}.jsonl")]
                               for split in ("train", "validation")})


@pytest.fixture(scope="module")
def chat(tmp_path_factory) -> tuple[Path, str]:
    """A chat model fine-tuned from random weights on demonstrations that answer "The colour is red."
    or "It is red." as often; prompts that require "colour"; comparisons that prefer the first form.
    Returns the folder of it all and the model's sha256."""
    root = tmp_path_factory.mktemp("align")
    train_tokenizer(root)
    torch.manual_seed(0)
    vocab = tiktoken_encoding(root / "tokenizer.json").n_vocab
    base = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=64, vocab_size=vocab, dropout=0.0))
    (root / "base").mkdir()
    save_model(base, str(root / "base" / "model.safetensors"))
    (root / "base" / "config.json").write_text(json.dumps(base.config.to_dict()))
    for split, n in (("train", 64), ("validation", 16)):
        write(root / f"demos-{split}.jsonl", n, lambda rng, c: {
            "prompt": f"Which colour is {c}?", "response": f"The colour is {c}." if rng.random() < 0.5 else
            f"It is {c}."})
        write(root / f"prompts-{split}.jsonl", n, lambda rng, c: {"prompt": f"Which colour is {c}?",
                                                                  "require": "colour"})
        write(root / f"pairs-{split}.jsonl", n, lambda rng, c: {
            "prompt": f"Which colour is {c}?", "chosen": f"The colour is {c}.", "rejected": f"It is {c}.",
            "require": "colour"})
    out = root / "sft"
    out.mkdir()
    result = run_sft(SFTJob(
        out=out, parent=root / "base", parent_sha256=sha256_file(root / "base" / "model.safetensors"),
        tokenizer=root / "tokenizer.json", train=[root / "demos-train.jsonl"],
        validation=[root / "demos-validation.jsonl"],
        sft=SFTConfig(data=files(root, "demos"), learning_rate=3e-3, batch_size=16, epochs=80,
                      checkpoint_every_steps=1000, **DEVICES)))
    return root, result.weights_sha256


def align_job(chat: tuple[Path, str], out: Path, kind: str, settings: dict) -> AlignJob:
    root, sha256 = chat
    out.mkdir(parents=True, exist_ok=True)
    return AlignJob(out=out, parent=root / "sft", parent_sha256=sha256, tokenizer=root / "tokenizer.json",
                    train=[root / f"{kind}-train.jsonl"], validation=[root / f"{kind}-validation.jsonl"],
                    reward_model=None, reward_sha256=None, tokens=None,
                    align=AlignConfig(data=files(root, kind), **{**DEVICES, **settings}))


@pytest.fixture(scope="module")
def ppo(chat, tmp_path_factory) -> tuple[Path, TrainingResult]:
    out = tmp_path_factory.mktemp("ppo")
    return out, run_align(align_job(chat, out, "prompts", PPO))


def test_ppo_raises_the_rules_success_rate_over_the_sft_model_at_a_bounded_kl(ppo):
    out, result = ppo
    # 4 passes over 64 prompts: 16 rollout batches of 4 updates
    assert result.step == 16 * 4 and result.n_train == 64 and result.n_validation == 16
    before, after = result.baseline["rule"], result.scores["rule"]
    assert 0.1 < before < 0.7 and after > before + 0.3
    assert result.scores["reward"] == after  # the rule is the reward here
    assert result.scores["win_rate"] > 0.6 and 0 < result.scores["kl"] < MAX_KL
    assert all(1 < r["answer_tokens"] <= PPO["eval_tokens"] for r in (result.scores, result.baseline))
    answers = json.loads((out / ANSWERS_FILE).read_text())["answers"]
    assert len(answers) == 5 and {"prompt", "require", "before", "after"} <= answers[0].keys()
    assert json.loads((out / "config.json").read_text())["chat"]["format"] == "hh"
    metrics = (out / "logs" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train/reward", "train/kl", "train/entropy", "train/clip_fraction",
            "train/value_loss"} <= set(metrics)


def test_dpo_raises_the_rules_success_rate_from_comparisons_alone(chat, tmp_path):
    result = run_align(align_job(chat, tmp_path / "dpo", "pairs", DPO))
    assert result.step == 4 * 64 // 8 and result.scores["pair_accuracy"] > 0.9
    assert result.scores["rule"] > result.baseline["rule"] + 0.3
    assert 0 < result.scores["kl"] < MAX_KL


def test_a_killed_ppo_run_resumes_between_rollout_batches_to_the_weights_of_an_uninterrupted_one(
        chat, ppo, tmp_path, capfd):
    out, whole = ppo
    killed = tmp_path / "killed"
    shutil.copytree(out / "checkpoints", killed / "checkpoints")
    for late in sorted((killed / "checkpoints").glob("step-*.ckpt"))[1:]:
        late.unlink()
    # after the 14th of 16 rollout batches: the sampling and the optimizer resume with the weights
    assert [p.name for p in (killed / "checkpoints").glob("*.ckpt")] == ["step-00000056.ckpt"]
    resumed = run_align(align_job(chat, killed, "prompts", PPO))
    assert "resuming from step-00000056.ckpt" in capfd.readouterr().out
    assert resumed.step == whole.step and resumed.scores == whole.scores
    ours, theirs = load_file(killed / "model.safetensors"), load_file(out / "model.safetensors")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert load_model(killed, resumed.weights_sha256).config.block_size == 64


def test_ppo_on_two_processes_samples_apart_and_updates_as_one(chat, tmp_path):
    """Two gloo processes, each sampling its half of every rollout batch from its own seed, with several
    manual optimizer steps per batch under DDP: the run takes the steps one process would, stays near
    the SFT model and adapts beta toward its target."""
    out = tmp_path / "ddp"
    job = align_job(chat, out, "prompts", {**PPO, "epochs": 1, "devices": 2, "strategy": "ddp",
                                          "target_kl": 1.0})
    job.write(out / JOB_FILE)
    done = subprocess.run([sys.executable, "-m", "webtext.components.align", str(out / JOB_FILE)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = TrainingResult.read(out / RESULT_FILE)
    assert result.step == 4 * 4 and result.n_train == 64 and 0 < result.scores["kl"] < MAX_KL
    betas = [float(row["train/beta"]) for row in csv.DictReader((out / "logs" / "metrics.csv").open())
             if row.get("train/beta")]
    assert betas and betas[-1] != PPO["beta"]  # adapted toward the target, from the KL of both processes
