"""The training recipe beside AdamW: which parameters Muon trains, its state through a checkpoint, the
distillation loss on hand-checked numbers and against TRL's, and `precision: auto` from measured rates."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

from tests.components.train.runs import VOCAB, assert_same_weights, start, write_job
from webtext.components.config import MuonConfig
from webtext.components.files import sha256_file
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.model.presets import model_config
from webtext.components.train import precision
from webtext.components.train.distill import distillation_loss, kl_divergence
from webtext.components.train.optim import Chained, muon_adamw_warmup_cosine


def muon_setup(**muon):
    model = GPT(model_config("cpu-tiny", VOCAB))
    configured = muon_adamw_warmup_cosine(model, model.transformer.h, muon=MuonConfig(**muon),
                                          learning_rate=1e-3, weight_decay=0.1, warmup_steps=4, max_steps=20,
                                          min_lr_ratio=0.1)
    return model, configured["optimizer"], configured["lr_scheduler"]["scheduler"]


def test_muon_trains_the_blocks_matrices_and_adamw_everything_else_once():
    model, optimizer, _ = muon_setup()
    muon, adamw = optimizer.optimizers
    assert isinstance(muon, torch.optim.Muon) and isinstance(adamw, torch.optim.AdamW)
    names = {id(p): name for name, p in model.named_parameters()}
    hidden = {names[id(p)] for group in muon.param_groups for p in group["params"]}
    rest = {names[id(p)] for group in adamw.param_groups for p in group["params"]}
    matrices = ("c_attn.weight", "c_proj.weight", "c_fc.weight")
    assert hidden == {name for name in names.values()
                      if name.startswith("transformer.h.") and name.endswith(matrices)}
    assert not hidden & rest and hidden | rest == set(names.values())
    assert "transformer.wte.weight" in rest and "transformer.wpe.weight" in rest  # the tied head with wte
    decayed, plain = adamw.param_groups
    assert all(p.dim() == 2 for p in decayed["params"]) and decayed["weight_decay"] == 0.1
    assert all(p.dim() == 1 for p in plain["params"]) and plain["weight_decay"] == 0.0


def test_each_optimizer_keeps_its_own_schedule_through_a_state_dict():
    model, optimizer, schedule = muon_setup(learning_rate=0.02, warmup_steps=0)
    x = torch.randint(0, VOCAB, (2, 16))
    for _ in range(3):
        model(x, x)[1].backward()
        optimizer.step()
        optimizer.zero_grad()
        schedule.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx(
        [0.02 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 3 / 20)))] + [1e-3 * 4 / 4] * 2)
    state = optimizer.state_dict()

    _, restored, restored_schedule = muon_setup(learning_rate=0.02, warmup_steps=0)
    restored.load_state_dict(state)
    restored_schedule.load_state_dict(schedule.state_dict())
    restored_schedule.step()  # must move the loaded groups, which replaced the ones it was built on
    schedule.step()

    def learning_rates(chained: Chained) -> list[float]:  # as each optimizer steps with them
        return [group["lr"] for inner in chained.optimizers for group in inner.param_groups]

    assert learning_rates(restored) == learning_rates(optimizer) != learning_rates(muon_setup()[1])

    def momentum(chained: Chained) -> torch.Tensor:
        muon = chained.optimizers[0]
        return muon.state[muon.param_groups[0]["params"][0]]["momentum_buffer"]

    assert torch.equal(momentum(restored), momentum(optimizer))
    with pytest.raises(ValueError, match="another pretrain.optimizer"):
        Chained(torch.optim.AdamW(model.parameters())).load_state_dict(state)


def write_teacher(directory) -> tuple[str, str]:
    """A GPT of another shape (6 layers where the student has 2), as a run hands one on: its weights and
    shape, and their sha256."""
    from safetensors.torch import save_model

    torch.manual_seed(1)
    teacher = GPT(GPTConfig(**model_config("cpu-tiny", VOCAB).to_dict() | {"n_layer": 6}))
    directory.mkdir()
    save_model(teacher, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps(teacher.config.to_dict()))
    return str(directory), sha256_file(directory / "model.safetensors")


@pytest.mark.slow
def test_a_distilled_muon_run_resumed_from_its_checkpoint_ends_with_the_uninterrupted_weights(tokens,
                                                                                             tmp_path):
    """Both optimizers' state and the schedule come back from the checkpoint; the teacher, left out of
    it, from its own files."""
    teacher, sha256 = write_teacher(tmp_path / "teacher")
    recipe = {"optimizer": "muon", "precision": "32-true"}
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    job_files = [write_job(tokens, out, {"teacher": teacher, "teacher_sha256": sha256}, **recipe)
                 for out in (whole, resumed)]
    output = start(job_files[0]).communicate(timeout=180)[0]
    assert (whole / "result.json").exists(), output
    (resumed / "checkpoints").mkdir()
    for name in ("step-00000020.ckpt", "step-00000020.ckpt.sha256"):
        shutil.copy(whole / "checkpoints" / name, resumed / "checkpoints" / name)
    output = start(job_files[1]).communicate(timeout=180)[0]
    assert "resuming from step-00000020.ckpt" in output, output
    assert_same_weights(whole, resumed, atol=0)
    assert json.loads((resumed / "result.json").read_text())["step"] == 30


def test_the_distillation_loss_on_hand_checked_numbers():
    # one position, vocabulary of two: the student says [0, 0], the teacher [ln 3, 0], T = 1
    student, teacher, target = torch.zeros(1, 1, 2), torch.tensor([[[math.log(3), 0.0]]]), torch.tensor([[0]])
    loss = distillation_loss(student, teacher, target, alpha=0.25, temperature=1.0)
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert loss.ce.item() == pytest.approx(math.log(2))
    assert loss.kl.item() == pytest.approx(kl)
    assert loss.loss.item() == pytest.approx(0.25 * math.log(2) + 0.75 * kl)
    # T = 2 softens the teacher to [sqrt 3, 1] / (sqrt 3 + 1), and the KL term is scaled by T^2 = 4
    soft = math.sqrt(3) / (math.sqrt(3) + 1)
    kl_2 = soft * math.log(soft / 0.5) + (1 - soft) * math.log((1 - soft) / 0.5)
    softened = distillation_loss(student, teacher, target, alpha=0.25, temperature=2.0)
    assert softened.loss.item() == pytest.approx(0.25 * math.log(2) + 0.75 * 4 * kl_2)
    # an ignored target counts in neither term
    padded = distillation_loss(torch.zeros(1, 2, 2), torch.cat([teacher, torch.zeros(1, 1, 2)], 1),
                               torch.tensor([[0, -1]]), alpha=0.25, temperature=1.0)
    assert padded.loss.item() == pytest.approx(loss.loss.item())


def test_the_distillation_kl_equals_trls_on_the_same_logits(monkeypatch):
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl.experimental.gkd import GKDTrainer

    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(2, 5, 11, generator=generator), torch.randn(2, 5, 11, generator=generator)
    targets = torch.randint(0, 11, (2, 5), generator=generator)
    targets[1, 3:] = -1
    ours = distillation_loss(student, teacher, targets, alpha=0.0, temperature=2.0)
    # TRL's generalised JSD at beta 0 is KL(teacher || student) per scored token (its ignore id is -100)
    labels = targets.masked_fill(targets == -1, -100)
    theirs = GKDTrainer.generalized_jsd_loss(student, teacher, labels=labels, beta=0.0, temperature=2.0)
    assert ours.kl.item() == pytest.approx(theirs.item(), rel=1e-5)
    assert ours.loss.item() == pytest.approx(4 * theirs.item(), rel=1e-5)


def test_the_exact_kl_is_over_the_vocabulary_and_zero_only_for_equal_distributions():
    p, q = torch.tensor([0.5, 0.25, 0.25]), torch.tensor([0.25, 0.5, 0.25])
    assert kl_divergence(p.log(), q.log()).item() == pytest.approx(0.25 * math.log(2))
    assert (kl_divergence(torch.randn(2, 4, 7), torch.zeros(2, 4, 7)) > 0).all()
    logits = torch.randn(2, 4, 7)
    assert torch.allclose(kl_divergence(logits, logits + 3.0), torch.zeros(2, 4), atol=1e-6)


def rates(fp32: float, bf16: float) -> precision.Rates:
    return precision.Rates("a test CPU", fp32, bf16, 0.0)


def test_auto_precision_picks_fp32_where_bf16_is_slower_and_keeps_the_measurement(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    measured = []

    def emulated() -> precision.Rates:  # an AVX2 CPU: bf16 emulated, 140x slower
        measured.append(1)
        return rates(176.0, 1.25)

    chosen, why = precision.resolve("auto", tmp_path, emulated)
    assert chosen == "32-true" and measured == [1]
    assert "bf16 matmul 1.2 GFLOP/s, fp32 176.0 GFLOP/s (0.01x) on a test CPU" in why
    [kept] = tmp_path.iterdir()
    assert str(kept) in why and json.loads(kept.read_text())["bf16_gflops"] == 1.25
    # measured once per machine: the next run reads the file, even with a faster measure at hand
    assert precision.resolve("auto", tmp_path, lambda: rates(185.0, 415.0))[0] == "32-true"
    assert measured == [1]
    assert precision.resolve("auto", None, lambda: rates(185.0, 415.0))[0] == "bf16-mixed"
    assert precision.resolve("32-true", tmp_path, emulated) == ("32-true", "")


def test_the_measurement_times_both_precisions_here():
    measured = precision.measure()
    assert measured.fp32_gflops > 0 and measured.bf16_gflops > 0 and measured.machine == precision.machine()
