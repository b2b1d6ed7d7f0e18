"""A task model as a LightningModule: GPT-1's fine-tuning objective, schedule and metrics.

Loss = task loss + lm_weight * LM loss on the task's inputs; AdamW with decay on matrices, linear
warmup over `warmup_fraction` of the steps then linear decay to zero (GPT-1, section 4.1). Metrics
are computed over the whole validation split at the end of every epoch.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from webtext.components.finetune.heads import Batch, TaskModel, collate, task_loss
from webtext.components.finetune.metrics import score


class FinetuneModule(L.LightningModule):
    def __init__(self, model: TaskModel, *, regression: bool, metrics: list[str], lm_weight: float,
                 learning_rate: float, warmup_fraction: float, weight_decay: float, seed: int):
        super().__init__()
        self.model = model
        self.regression, self.metric_names, self.lm_weight = regression, metrics, lm_weight
        self.learning_rate, self.warmup_fraction = learning_rate, warmup_fraction
        self.weight_decay = weight_decay
        self.seed = seed
        self.scores: dict[str, float] = {}
        self._predicted: list[np.ndarray] = []
        self._gold: list[np.ndarray] = []

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        torch.manual_seed(self.seed * 1_000_003 + self.global_step)  # dropout masks of this step
        scores, lm = self.model(batch)
        task = task_loss(scores, batch.labels, self.regression)
        loss = task + self.lm_weight * lm if self.lm_weight else task
        size = len(batch.labels)
        self.log("train/task_loss", task, batch_size=size)
        self.log("train/lm_loss", lm, batch_size=size)
        self.log("train/loss", loss, batch_size=size)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        scores, _ = self.model(batch)
        loss = task_loss(scores, batch.labels, self.regression)
        self.log("val/task_loss", loss, batch_size=len(batch.labels))
        predicted = scores.squeeze(-1) if self.regression else scores.argmax(dim=-1)
        self._predicted.append(predicted.float().cpu().numpy())
        self._gold.append(batch.labels.float().cpu().numpy())

    def on_validation_epoch_end(self) -> None:
        if not self._predicted:
            return
        self.scores = score(self.metric_names, np.concatenate(self._predicted), np.concatenate(self._gold))
        for name, value in self.scores.items():
            self.log(f"val/{name}", value)
        self._predicted, self._gold = [], []

    def configure_optimizers(self):
        matrices = [p for p in self.model.parameters() if p.dim() >= 2]
        others = [p for p in self.model.parameters() if p.dim() < 2]
        optimizer = torch.optim.AdamW([{"params": matrices, "weight_decay": self.weight_decay},
                                       {"params": others, "weight_decay": 0.0}], lr=self.learning_rate)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = max(1, round(self.warmup_fraction * total))

        def factor(step: int) -> float:
            return (step + 1) / warmup if step < warmup else max(0.0, (total - step) / max(1, total - warmup))

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def loader(examples: list, batch_size: int, regression: bool, shuffle: bool, seed: int) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(examples, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      collate_fn=lambda items: collate(items, regression=regression))
