"""LoRA on our GPT: only the adapters train, r * (in + out) of them per targeted layer; the merged plain
GPT computes what the adapted one does and saves like any checkpoint; the adapters save alone."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_model, save_model

from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.model.lora import (
    adapter_state_dict,
    apply_lora,
    load_adapter,
    merge_lora,
    trainable_parameters,
)

CONFIG = GPTConfig(vocab_size=32, block_size=16, n_layer=2, n_head=2, n_embd=16)


def base_model() -> GPT:
    torch.manual_seed(0)
    return GPT(CONFIG)


def trained_adapters() -> tuple[GPT, dict[str, torch.Tensor]]:
    """A GPT with adapters on c_attn and c_proj after a few Adam steps, and its base weights before."""
    model = base_model()
    base = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    apply_lora(model, r=4, alpha=8, dropout=0.1, targets=["c_attn", "c_proj"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)  # all of them, frozen too
    tokens = torch.randint(0, CONFIG.vocab_size, (8, 16), generator=torch.Generator().manual_seed(1))
    model.train()
    for _ in range(5):
        loss = model(tokens[:, :-1], tokens[:, 1:])[1]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), base


def test_only_the_adapters_train_and_their_count_is_r_times_in_plus_out():
    model = base_model()
    total = sum(p.numel() for p in model.parameters())
    apply_lora(model, r=4, alpha=8, targets=["c_attn", "c_proj"])
    # per layer: attn.c_attn 16 -> 48, attn.c_proj 16 -> 16, mlp.c_proj 64 -> 16 (`c_proj` names both)
    adapters = CONFIG.n_layer * 4 * ((16 + 48) + (16 + 16) + (64 + 16))
    assert trainable_parameters(model) == (adapters, total + adapters)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in name or ".lora_B." in name for name in trainable)
    assert model.lm_head.weight is model.transformer.wte.weight  # still tied


def test_a_head_around_the_adapted_gpt_keeps_training():
    reward_like = torch.nn.ModuleDict(dict(gpt=base_model(), head=torch.nn.Linear(CONFIG.n_embd, 1)))
    apply_lora(reward_like["gpt"], r=2, alpha=4, targets=["c_attn"])
    assert all(p.requires_grad for p in reward_like["head"].parameters())
    assert not reward_like["gpt"].transformer.wpe.weight.requires_grad


def test_training_changes_the_adapters_and_not_the_base():
    model, base = trained_adapters()
    current = {name.replace(".base_layer", ""): tensor for name, tensor in model.state_dict().items()
               if ".lora_" not in name}
    assert current.keys() == base.keys()
    assert all(torch.equal(current[name], base[name]) for name in base)
    adapters_b = [p.detach() for name, p in model.named_parameters() if ".lora_B." in name]
    assert adapters_b and all(float(b.abs().max()) > 1e-3 for b in adapters_b)  # B started at zero


def test_the_merged_gpt_computes_what_the_adapted_one_does(tmp_path):
    model, base = trained_adapters()
    merged = merge_lora(model)
    tokens = torch.randint(0, CONFIG.vocab_size, (4, 16), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        adapted = model(tokens)[0]
        assert not torch.allclose(adapted, base_model().eval()(tokens)[0], atol=1e-3)  # trained
        torch.testing.assert_close(merged.eval()(tokens)[0], adapted, rtol=0, atol=1e-5)
    assert type(merged) is GPT and not hasattr(merged, "peft_config")
    assert merged.state_dict().keys() == base.keys()  # a plain checkpoint's keys
    assert merged.lm_head.weight is merged.transformer.wte.weight
    assert trainable_parameters(merged)[0] == trainable_parameters(merged)[1]
    save_model(merged, str(tmp_path / "model.safetensors"))
    reloaded = GPT(CONFIG).eval()
    load_model(reloaded, str(tmp_path / "model.safetensors"))
    with torch.no_grad():
        torch.testing.assert_close(reloaded(tokens)[0], adapted, rtol=0, atol=1e-5)
    assert any(".lora_" in name for name, _ in model.named_parameters())  # the adapted model is kept


def test_the_adapters_save_alone_and_load_onto_the_base():
    model, _ = trained_adapters()
    state = adapter_state_dict(model)
    assert len(state) == 2 * 3 * CONFIG.n_layer  # A and B of three layers per block
    assert all(key.endswith((".lora_A.weight", ".lora_B.weight")) for key in state)
    fresh = apply_lora(base_model(), r=4, alpha=8, targets=["c_attn", "c_proj"]).eval()
    load_adapter(fresh, state)
    tokens = torch.arange(16)[None]
    with torch.no_grad():
        torch.testing.assert_close(fresh(tokens)[0], model(tokens)[0], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="missing"):
        load_adapter(fresh, {key: value for key, value in state.items() if "h.0." not in key})


@pytest.mark.parametrize(("targets", "message"), [
    (["lm_head"], "tied"),
    (["c_attn", "wte"], "tied"),
    (["c_attn", "q_proj"], "matches no module"),
    (["ln_1"], "not a linear layer"),
    ([], "empty"),
])
def test_targets_that_cannot_be_adapted_are_refused(targets, message):
    with pytest.raises(ValueError, match=message):
        apply_lora(base_model(), r=4, alpha=8, targets=targets)


def test_adapters_are_added_once():
    model = apply_lora(base_model(), r=4, alpha=8, targets=["c_fc"])
    with pytest.raises(ValueError, match="already has LoRA adapters"):
        apply_lora(model, r=4, alpha=8, targets=["c_attn"])
