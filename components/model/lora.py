"""LoRA adapters on our GPT (Hu et al. 2021), through `peft`: each targeted linear layer W gains a
low-rank update (alpha / r) B A, with A (r x in) and B (out x r) trained and W frozen; B starts at zero,
so training starts from the base model exactly.

`peft.inject_adapter_in_model` works on any `nn.Module`: it replaces each targeted `nn.Linear` in place
with a `peft` layer holding the original as `base_layer`, and marks only adapter weights trainable. The
model stays a `GPT` (its methods and the trainers' calls are unchanged); only its state-dict keys of the
targeted layers change (`c_attn.weight` becomes `c_attn.base_layer.weight`). `merge_lora` folds the
updates back into W and gives a plain `GPT` with the original keys, which saves, loads and exports like
any checkpoint; `adapter_state_dict` is the adapter weights alone, to keep apart from the base.

Targets are module-name suffixes (`c_proj` is both the attention's and the MLP's output projection).
The output layer and the embeddings are refused: `lm_head.weight` is `wte.weight` (tied), and
`wte_proj.weight` is read directly by `GPT.logits`, so an adapter there would either change the
embeddings on merge or not apply to the output at all.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from webtext.components.config import AdapterConfig
from webtext.components.model.gpt import GPT

TIED = ("lm_head", "wte", "wte_proj")  # weights shared with or read outside their own module
ADAPTER = "adapter.safetensors"  # beside a run's merged weights: the adapters alone (`save_adapter`)


def apply_lora(model: GPT, r: int, alpha: float, dropout: float = 0.0,
               targets: Sequence[str] = ("c_attn", "c_proj")) -> GPT:
    """`model` with LoRA adapters of rank `r` on the linear layers named by `targets`, every other
    weight of `model` frozen (modules around it, such as a reward head, keep their own setting). In
    place: the same object is returned."""
    from peft import LoraConfig, inject_adapter_in_model

    if hasattr(model, "peft_config"):
        raise ValueError("the model already has LoRA adapters: merge them (merge_lora) before adding more")
    if r < 1 or alpha <= 0 or not 0 <= dropout < 1:
        raise ValueError(f"LoRA needs r >= 1, alpha > 0 and 0 <= dropout < 1 (got r={r}, alpha={alpha}, "
                         f"dropout={dropout})")
    check_targets(model, targets)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets))
    return inject_adapter_in_model(config, model)


def with_adapter(model: GPT, adapter: AdapterConfig | None) -> GPT:
    """`model` with the adapters a stage's `adapter` config names (`apply_lora`), or as it is if none."""
    if adapter is None:
        return model
    return apply_lora(model, adapter.r, adapter.alpha, adapter.dropout, adapter.targets)


def check_targets(model: GPT, targets: Sequence[str]) -> None:
    """Refuse targets that match nothing, match a module other than `nn.Linear`, or match a tied layer
    (`peft` accepts a target list of which only some match, and wraps tied layers without complaint)."""
    if not targets:
        raise ValueError("LoRA targets are empty: name linear layers such as c_attn, c_proj, c_fc")
    linear = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                     if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] not in TIED})
    for target in targets:
        if target.rsplit(".", 1)[-1] in TIED:
            raise ValueError(f"LoRA target {target!r} is tied to the embeddings or read outside its module; "
                             f"choose among {linear}")
        matched = [module for name, module in model.named_modules()
                   if name == target or name.endswith("." + target)]
        if not matched:
            raise ValueError(f"LoRA target {target!r} matches no module of the model; choose among {linear}")
        if not all(isinstance(module, nn.Linear) for module in matched):
            raise ValueError(f"LoRA target {target!r} is not a linear layer; choose among {linear}")


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts, tied parameters counted once: what a run reports to show
    the share that LoRA trains."""
    parameters = list(model.parameters())  # `parameters()` yields a shared tensor once
    return sum(p.numel() for p in parameters if p.requires_grad), sum(p.numel() for p in parameters)


def merge_lora(model: GPT) -> GPT:
    """A plain `GPT` with each adapter's update added to its base weight and the adapters removed:
    the same outputs as `model`, the original state-dict keys, every parameter trainable. `model` is
    left as it was (a copy is merged)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    merged = copy.deepcopy(model)
    for name, module in list(merged.named_modules()):
        if isinstance(module, BaseTunerLayer):
            module.merge(safe_merge=True)  # safe: refuses a merge that gives non-finite weights
            parent, _, child = name.rpartition(".")
            setattr(merged.get_submodule(parent), child, module.get_base_layer())
    del merged.peft_config
    return merged.requires_grad_(True)


def adapter_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """The adapter weights alone (`...c_attn.lora_A.weight`, `...lora_B.weight`), a few percent of the
    model, to save apart from the base checkpoint they apply to."""
    from peft import get_peft_model_state_dict

    return {key: value.detach().clone() for key, value in get_peft_model_state_dict(model).items()}


def load_adapter(model: GPT, state: dict[str, torch.Tensor]) -> None:
    """Put saved adapter weights (`adapter_state_dict`) into `model`, which `apply_lora` gave the same
    adapters; a key that fits no adapter, or an adapter left without weights, is an error."""
    from peft import set_peft_model_state_dict

    expected = set(adapter_state_dict(model))
    if set(state) != expected:
        raise ValueError(f"adapter weights do not fit the model: missing {sorted(expected - set(state))}, "
                         f"unexpected {sorted(set(state) - expected)}")
    set_peft_model_state_dict(model, state)


def save_adapter(path: Path, model: torch.nn.Module, base_sha256: str, settings: dict) -> str:
    """Write what training changed apart from the frozen base: the adapter weights of every `GPT` in
    `model` under its own prefix (`adapter_state_dict`'s names) and every other trainable tensor (a task
    or reward head, trained in full), as safetensors naming the base's weights (`base_sha256`) and the
    adapter `settings`. Written atomically; returns the file's sha256."""
    from safetensors.torch import save_file

    from webtext.components.files import atomic_path, sha256_file

    tensors: dict[str, torch.Tensor] = {}
    adapted = [(name, module) for name, module in model.named_modules() if hasattr(module, "peft_config")]
    for name, module in adapted:
        prefix = f"{name}." if name else ""
        tensors.update({prefix + key: value for key, value in adapter_state_dict(module).items()})
    inside = tuple(f"{name}." if name else "" for name, _ in adapted)
    tensors.update({name: p.detach() for name, p in model.named_parameters()
                    if p.requires_grad and not (inside and name.startswith(inside))})
    with atomic_path(path) as tmp:
        save_file({key: t.float().contiguous() for key, t in tensors.items()}, str(tmp),
                  metadata={"format": "pt", "base_sha256": base_sha256, "adapter": json.dumps(settings)})
    return sha256_file(path)
