"""The pretraining optimisers, each as what a LightningModule's `configure_optimizers` returns.

`adamw`: GPT-2's recipe. AdamW with decay on matrices only (biases and LayerNorm gains are not decayed,
as GPT-1 and nanoGPT do), linear warmup, then cosine decay to a floor.

`muon`: Muon (Jordan et al. 2024, `torch.optim.Muon`) on the hidden matrices, the 2-D weights inside
the transformer blocks, whose momentum it orthogonalises by Newton-Schulz iterations; AdamW as above on
the rest (embeddings and the tied head, whose rows are looked up one token at a time, LayerNorm gains
and biases). Each has its own peak learning rate, warmup and floor over the same cosine.

Lightning's automatic optimization drives one optimizer (with gradient accumulation, clipping, the
precision plugin and checkpoints), so the two step as one `Chained` optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn


def warmup_cosine(warmup_steps: int, max_steps: int, min_lr_ratio: float) -> Callable[[int], float]:
    """The learning rate's factor at each step: linear warmup, then cosine decay to `min_lr_ratio`."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def _adamw(parameters: list[nn.Parameter], learning_rate: float, weight_decay: float,
           betas: tuple[float, float]) -> torch.optim.AdamW:
    return torch.optim.AdamW(
        [{"params": [p for p in parameters if p.dim() >= 2], "weight_decay": weight_decay},
         {"params": [p for p in parameters if p.dim() < 2], "weight_decay": 0.0}],
        lr=learning_rate, betas=tuple(betas))


def adamw_warmup_cosine(parameters: Iterable[nn.Parameter], *, learning_rate: float, weight_decay: float,
                        warmup_steps: int, max_steps: int, min_lr_ratio: float,
                        betas: tuple[float, float] = (0.9, 0.95)) -> dict:
    """AdamW over the trainable `parameters` (frozen ones, such as a LoRA base, are left out) and its
    per-step schedule."""
    optimizer = _adamw([p for p in parameters if p.requires_grad], learning_rate, weight_decay, betas)
    return _scheduled(optimizer, warmup_cosine(warmup_steps, max_steps, min_lr_ratio))


def muon_parameters(blocks: nn.Module) -> list[nn.Parameter]:
    """What Muon trains: the trainable matrices of the transformer `blocks` (attention and MLP weights)."""
    return [p for p in blocks.parameters() if p.requires_grad and p.dim() == 2]


def muon_adamw_warmup_cosine(model: nn.Module, blocks: nn.Module, *, muon, learning_rate: float,
                             weight_decay: float, warmup_steps: int, max_steps: int, min_lr_ratio: float,
                             betas: tuple[float, float] = (0.9, 0.95)) -> dict:
    """Muon (settings `muon`: a `MuonConfig`) over `muon_parameters(blocks)`, AdamW over the rest of
    `model`'s trainable parameters, each on its own warmup and cosine."""
    hidden = muon_parameters(blocks)
    chosen = {id(p) for p in hidden}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in chosen]
    orthogonalised = torch.optim.Muon(hidden, lr=muon.learning_rate, weight_decay=muon.weight_decay,
                                      momentum=muon.momentum, nesterov=True, ns_steps=muon.ns_steps,
                                      adjust_lr_fn="original")
    optimizer = Chained(orthogonalised, _adamw(rest, learning_rate, weight_decay, betas))
    hidden_factor = warmup_cosine(muon.warmup_steps, max_steps, muon.min_lr_ratio)
    rest_factor = warmup_cosine(warmup_steps, max_steps, min_lr_ratio)
    return _scheduled(optimizer, [hidden_factor] * len(orthogonalised.param_groups) + [rest_factor] * 2)


def _scheduled(optimizer: torch.optim.Optimizer, factors) -> dict:
    """`optimizer` with a per-step LambdaLR of `factors` (one, or one per parameter group)."""
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factors)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class Chained(torch.optim.Optimizer):
    """Optimizers over disjoint parameters, stepped, zeroed, saved and restored as one.

    `param_groups` and `state` are read through to the optimizers on every access (`Optimizer.__init__`
    is not called, it would copy them): loading a state dict replaces an optimizer's groups, and a
    schedule must then move the new ones.
    """

    def __init__(self, *optimizers: torch.optim.Optimizer):
        self.optimizers = optimizers
        self.defaults: dict = {}

    @property
    def param_groups(self) -> list[dict]:
        return [group for optimizer in self.optimizers for group in optimizer.param_groups]

    @property
    def state(self) -> dict:
        return {p: s for optimizer in self.optimizers for p, s in optimizer.state.items()}

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for optimizer in self.optimizers:
            optimizer.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"optimizers": [optimizer.state_dict() for optimizer in self.optimizers]}

    def load_state_dict(self, state_dict: dict) -> None:
        saved = state_dict["optimizers"]
        if len(saved) != len(self.optimizers):
            raise ValueError(f"a checkpoint of {len(saved)} chained optimizers cannot restore "
                             f"{len(self.optimizers)}: it was written with another pretrain.optimizer")
        for optimizer, state in zip(self.optimizers, saved, strict=True):
            optimizer.load_state_dict(state)

    def __repr__(self) -> str:
        return f"Chained({', '.join(type(o).__name__ for o in self.optimizers)})"
