"""SFT and reward-model runs in this process, on a small GPT and records made up for the test: what they
learn, what they write, and that a killed run resumes to the same weights."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_model

from tests.components.instruct.tokenizer import train_tokenizer
from webtext.components.config import InstructData, RewardConfig, SFTConfig
from webtext.components.files import sha256_file
from webtext.components.instruct.chat import Encoder
from webtext.components.instruct.checkpoint import load_reward
from webtext.components.instruct.data import read_demonstrations
from webtext.components.instruct.reward import answer_tokens, score
from webtext.components.instruct.run import run_reward, run_sft
from webtext.components.model.checkpoint import load_model
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.model.lora import ADAPTER, apply_lora, load_adapter
from webtext.components.train.job import RewardJob, SFTJob, TrainingResult

pytestmark = pytest.mark.slow

COLOURS = ["red", "blue", "green", "pink", "black", "white", "grey"]
SETTINGS = dict(learning_rate=3e-3, batch_size=8, epochs=3, val_every_steps=100, checkpoint_every_steps=6,
                log_every_steps=6, precision="32-true", accelerator="cpu", devices=1)


def records(path: Path, n: int, make) -> Path:
    rng = random.Random(path.name)
    path.write_text("".join(json.dumps(make(rng.choice(COLOURS))) + "\n" for _ in range(n)))
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A tokenizer, a random GPT as the base, and demonstrations and comparisons about colours: the
    better answer names the colour asked about once and ends with a full stop, the worse repeats it."""
    root = tmp_path_factory.mktemp("instruct")
    train_tokenizer(root)
    torch.manual_seed(0)
    base = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=64, vocab_size=400, dropout=0.0))
    (root / "base").mkdir()
    save_model(base, str(root / "base" / "model.safetensors"))
    (root / "base" / "config.json").write_text(json.dumps(base.config.to_dict()))
    for split, n in (("train", 48), ("validation", 16)):
        records(root / f"demos-{split}.jsonl", n,
                lambda c: {"prompt": f"Which colour is {c}?", "response": f"The colour is {c}."})
        records(root / f"pairs-{split}.jsonl", n,
                lambda c: {"prompt": f"Which colour is {c}?", "chosen": f"The colour is {c}.",
                           "rejected": f"The colour is {c} {c} {c} {c}"})
    return root


def sft_job(world: Path, out: Path, **settings) -> SFTJob:
    train, validation = world / "demos-train.jsonl", world / "demos-validation.jsonl"
    data = InstructData(files={"train": [str(train)], "validation": [str(validation)]})
    out.mkdir(parents=True, exist_ok=True)
    base = world / "base"
    return SFTJob(out=out, parent=base, parent_sha256=sha256_file(base / "model.safetensors"),
                  tokenizer=world / "tokenizer.json", train=[train], validation=[validation],
                  sft=SFTConfig(data=data, **{**SETTINGS, **settings}))


@pytest.fixture(scope="module")
def trained(world, tmp_path_factory) -> tuple[Path, TrainingResult]:
    """One SFT run of the defaults, which the tests below compare other runs with."""
    out = tmp_path_factory.mktemp("sft")
    return out, run_sft(sft_job(world, out))


def test_sft_lowers_the_held_out_response_loss_and_writes_a_chat_model(world, trained):
    out, result = trained
    assert result.step == 18 and result.n_train == 48 and result.n_validation == 16
    assert result.scores["bpb"] < 0.8 * result.baseline["bpb"]
    model = load_model(out, result.weights_sha256)
    assert json.loads((out / "config.json").read_text())["chat"]["format"] == "hh"
    base = world / "base"
    assert model.config == load_model(base, sha256_file(base / "model.safetensors")).config


def test_a_killed_sft_run_resumes_to_the_weights_of_an_uninterrupted_one(world, trained, tmp_path):
    out, whole = trained
    killed = tmp_path / "killed"
    shutil.copytree(out / "checkpoints", killed / "checkpoints")
    for late in sorted((killed / "checkpoints").glob("step-*.ckpt"))[1:]:  # as if killed before step 18
        late.unlink()
    assert [p.name for p in (killed / "checkpoints").glob("*.ckpt")] == ["step-00000012.ckpt"]
    resumed = run_sft(sft_job(world, killed))
    assert resumed.step == whole.step and resumed.scores == whole.scores
    ours = load_file(killed / "model.safetensors")
    theirs = load_file(out / "model.safetensors")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_lora_sft_trains_the_adapters_alone_and_merges_them_into_the_same_model(world, tmp_path):
    result = run_sft(sft_job(world, tmp_path / "lora", adapter={"r": 4, "alpha": 8, "dropout": 0.0}))
    assert result.trainable < result.parameters / 5 and result.scores["bpb"] < result.baseline["bpb"]
    merged = load_model(tmp_path / "lora", result.weights_sha256)
    adapted = apply_lora(load_model(world / "base", sha256_file(world / "base" / "model.safetensors")), 4, 8)
    with safe_open(tmp_path / "lora" / ADAPTER, "pt") as f:
        assert f.metadata()["base_sha256"] == sha256_file(world / "base" / "model.safetensors")
        load_adapter(adapted, {key: f.get_tensor(key) for key in f.keys()})
    tokens = torch.randint(0, 400, (2, 20))
    with torch.no_grad():
        assert torch.allclose(adapted.eval()(tokens)[0], merged(tokens)[0], atol=1e-5)


def test_the_reward_model_ranks_held_out_answers_and_its_demonstrations_average_zero(world, tmp_path):
    (tmp_path / "rm").mkdir()
    data = InstructData(files={"train": [str(world / "pairs-train.jsonl")],
                               "validation": [str(world / "pairs-validation.jsonl")]})
    job = RewardJob(out=tmp_path / "rm", parent=world / "base",
                    parent_sha256=sha256_file(world / "base" / "model.safetensors"),
                    tokenizer=world / "tokenizer.json", train=[world / "pairs-train.jsonl"],
                    validation=[world / "pairs-validation.jsonl"], normalise=[world / "demos-train.jsonl"],
                    reward=RewardConfig(data=data, **SETTINGS))
    result = run_reward(job)
    assert result.scores["accuracy"] == 1.0 and result.scores["margin"] > 1
    assert result.scores["loss"] < 0.5 * result.baseline["loss"]
    model = load_reward(tmp_path / "rm", result.weights_sha256)
    encode = Encoder(world / "tokenizer.json")
    demos = read_demonstrations(world / "demos-train.jsonl").records
    rewards = score(model, [answer_tokens(encode, encode.eot, d.turns[:-1], d.turns[-1].content, 64)
                            for d in demos])
    assert abs(float(rewards.mean())) < 1e-4

