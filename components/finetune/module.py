"""A task model as a LightningModule: GPT-1's fine-tuning objective, schedule and metrics.

Loss = task loss + lm_weight * LM loss on the task's inputs; AdamW with decay on matrices, linear
warmup over `warmup_fraction` of the steps then linear decay to zero (GPT-1, section 4.1). Metrics
are computed over the whole validation split at the end of every epoch: with several processes each
scores its share and the predictions are gathered, so the scores are those of one process.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, Subset

from webtext.components.finetune.heads import Batch, TaskModel, collate, task_loss
from webtext.components.finetune.metrics import score
from webtext.components.train.distributed import gathered, seed_of, shard


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
        self.scored = 0  # validation examples the scores cover (gathered from every process)
        self._predicted: list[np.ndarray] = []
        self._gold: list[np.ndarray] = []
        self._configured = False

    def configure_model(self) -> None:
        """Shard the backbone's blocks and the rest (FSDP2) when the strategy gives a device mesh."""
        if self.device_mesh is not None and not self._configured:
            shard(self.model, self.model.gpt.transformer.h, self.device_mesh["data_parallel"])
        self._configured = True

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        torch.manual_seed(seed_of(self.seed, self.global_rank, self.global_step))  # this step's dropout masks
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
        self.log("val/task_loss", loss, batch_size=len(batch.labels), sync_dist=True)
        predicted = scores.squeeze(-1) if self.regression else scores.argmax(dim=-1)
        self._predicted.append(predicted.float().cpu().numpy())
        self._gold.append(batch.labels.float().cpu().numpy())

    def on_validation_epoch_end(self) -> None:
        predicted, gold = gathered(self.trainer, self._predicted), gathered(self.trainer, self._gold)
        self._predicted, self._gold = [], []
        if not predicted:
            return
        predicted, gold = np.concatenate(predicted), np.concatenate(gold)
        self.scores, self.scored = score(self.metric_names, predicted, gold), len(gold)
        for name, value in self.scores.items():  # the same on every process: syncing averages equal values
            self.log(f"val/{name}", value, sync_dist=True)

    def configure_optimizers(self):
        trained = [p for p in self.model.parameters() if p.requires_grad]  # with LoRA: adapters and head
        matrices = [p for p in trained if p.dim() >= 2]
        others = [p for p in trained if p.dim() < 2]
        optimizer = torch.optim.AdamW([{"params": matrices, "weight_decay": self.weight_decay},
                                       {"params": others, "weight_decay": 0.0}], lr=self.learning_rate)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = max(1, round(self.warmup_fraction * total))

        def factor(step: int) -> float:
            return (step + 1) / warmup if step < warmup else max(0.0, (total - step) / max(1, total - warmup))

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class TaskData(L.LightningDataModule):
    """Training examples reshuffled every epoch and validation examples in order; of several processes,
    each takes its share: training through a sampler split by rank, validation every world-th example
    (no example repeated, so the gathered predictions are the split's)."""

    def __init__(self, train: list, validation: list, batch_size: int, regression: bool, seed: int):
        super().__init__()
        self.train, self.validation, self.batch_size = train, validation, batch_size
        self.regression, self.seed = regression, seed

    def _loader(self, examples, **kwargs) -> DataLoader:
        return DataLoader(examples, batch_size=self.batch_size,
                          collate_fn=lambda items: collate(items, regression=self.regression), **kwargs)

    def train_dataloader(self) -> DataLoader:
        sampler = DistributedSampler(self.train, num_replicas=self.trainer.world_size,
                                     rank=self.trainer.global_rank, shuffle=True, seed=self.seed)
        return self._loader(self.train, sampler=sampler)  # Lightning sets the sampler's epoch

    def val_dataloader(self) -> DataLoader:
        world, rank = self.trainer.world_size, self.trainer.global_rank
        return self._loader(Subset(self.validation, range(rank, len(self.validation), world)))
