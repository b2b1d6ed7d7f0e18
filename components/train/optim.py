"""GPT-2's optimisation recipe as one function: AdamW with decay on matrices only (biases and LayerNorm
gains are not decayed, as GPT-1 and nanoGPT do), linear warmup, then cosine decay to a floor."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def adamw_warmup_cosine(parameters: Iterable[torch.nn.Parameter], *, learning_rate: float,
                        weight_decay: float, warmup_steps: int, max_steps: int, min_lr_ratio: float,
                        betas: tuple[float, float] = (0.9, 0.95)) -> dict:
    """What a LightningModule's `configure_optimizers` returns: the optimizer over the trainable
    `parameters` (frozen ones, such as a LoRA base, are left out) and its per-step schedule."""
    trainable = [p for p in parameters if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in trainable if p.dim() >= 2], "weight_decay": weight_decay},
         {"params": [p for p in trainable if p.dim() < 2], "weight_decay": 0.0}],
        lr=learning_rate, betas=tuple(betas))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
