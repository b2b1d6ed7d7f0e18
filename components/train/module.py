"""The GPT as a LightningModule: GPT-2's optimisation recipe (or Muon), distillation from a teacher,
losses in bits per byte, samples.

AdamW with weight decay on matrices only, or Muon on the blocks' matrices and AdamW on the rest; linear
warmup then cosine decay to `min_lr_ratio` of the peak (GPT-1, section 4.1; `components.train.optim`);
gradient norm clipping over all parameters (every shard of them under FSDP). With a teacher, the
training loss is `components.train.distill`'s; the teacher stays frozen, in eval mode, and out of the
checkpoints (it is read from its registered files).

Dropout is reseeded from (seed, rank, micro-batch index) at every step, so a resumed run draws the same
masks as an uninterrupted one and no two processes draw the same.
Validation losses are summed over every process's share of the batches and divided once, so they equal
a one-process run's on those batches.
"""

from __future__ import annotations

import math

import lightning as L
import torch

from webtext.components.config import DistillConfig, MuonConfig
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.train.distill import distillation_loss
from webtext.components.train.distributed import seed_of, shard
from webtext.components.train.optim import adamw_warmup_cosine, muon_adamw_warmup_cosine

TEACHER = "teacher."  # the teacher's keys in the module's state dict


class GPTModule(L.LightningModule):
    def __init__(self, model: dict, learning_rate: float, min_lr_ratio: float, warmup_steps: int,
                 max_steps: int, weight_decay: float, betas: tuple[float, float], seed: int,
                 val_tokens_per_byte: float, sample_tokens: int = 0, tokenizer: str | None = None, *,
                 grad_clip: float = 1.0, compile: bool = False, activation_checkpointing: bool = False,
                 optimizer: str = "adamw", muon: dict | None = None, teacher: GPT | None = None,
                 distill: dict | None = None):
        super().__init__()
        self.save_hyperparameters(ignore=["teacher"])
        self.model = GPT(GPTConfig(**model))
        self.model.activation_checkpointing = activation_checkpointing
        self.teacher = teacher
        if teacher is not None:
            teacher.requires_grad_(False)
        self._distill = DistillConfig(**(distill or {}))
        self._decoder = None
        self._configured = False
        self._val_losses: list[torch.Tensor] = []

    def configure_model(self) -> None:
        """Shard each block and then the rest (FSDP2) when the strategy gives a device mesh, then compile.
        Lightning calls this before every fit or validate: the work is done once."""
        if self._configured:
            return
        self._configured = True
        if self.device_mesh is not None:
            shard(self.model, self.model.transformer.h, self.device_mesh["data_parallel"])
        if self.hparams.compile:
            self.model.compile()  # in place: the state dict keeps its names

    def train(self, mode: bool = True):
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # no dropout in the targets, whatever mode Lightning sets
        return self

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["state_dict"]
        checkpoint["state_dict"] = {k: v for k, v in state.items() if not k.startswith(TEACHER)}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if self.teacher is not None:
            checkpoint["state_dict"].update({TEACHER + k: v for k, v in self.teacher.state_dict().items()})

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model(idx)[0]

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y, micro = batch
        torch.manual_seed(seed_of(self.hparams.seed, self.global_rank, micro))  # this step's dropout masks
        logits, loss = self.model(x, y)
        if self.teacher is not None:
            with torch.no_grad():
                teacher_logits = self.teacher(x)[0]
            distilled = distillation_loss(logits, teacher_logits, y, alpha=self._distill.alpha,
                                          temperature=self._distill.temperature)
            loss = distilled.loss
            self.log_dict({"train/ce": distilled.ce, "train/kl": distilled.kl}, batch_size=x.size(0))
        self.log("train/loss", loss, prog_bar=True, batch_size=x.size(0))
        groups = self.trainer.optimizers[0].param_groups
        self.log("train/lr", groups[-1]["lr"])  # AdamW's (its last group: biases and gains)
        if self.hparams.optimizer == "muon":
            self.log("train/muon_lr", groups[0]["lr"])
        return loss

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        """The norm over all parameters: on sharded parameters (DTensors) torch reduces it across shards,
        which Lightning's precision plugins would refuse or get wrong for FSDP."""
        if self.hparams.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.parameters(), self.hparams.grad_clip)

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y, _ = batch
        _, loss = self.model(x, y)
        self._val_losses.append(loss.detach().float())  # every batch holds as many tokens

    def on_validation_epoch_end(self) -> None:
        losses = torch.stack(self._val_losses) if self._val_losses else torch.zeros(0, device=self.device)
        self._val_losses = []
        sums = torch.stack([losses.sum(), torch.tensor(float(len(losses)), device=self.device)])
        loss_sum, count = self.trainer.strategy.reduce(sums, reduce_op="sum")
        loss = loss_sum / count  # already the same on every process: syncing averages equal values
        self.log("val/loss", loss, sync_dist=True)
        # nats per token -> bits per byte, with the val split's own tokens-per-byte ratio
        self.log("val/bpb", loss * self.hparams.val_tokens_per_byte / math.log(2), sync_dist=True)
        if not self.hparams.sample_tokens or not self.hparams.tokenizer or self.trainer.sanity_checking:
            return
        text = self.sample(self.hparams.sample_tokens)
        if self.trainer.is_global_zero:
            print(f"sample at step {self.global_step}: {text!r}", flush=True)
            for logger in self.loggers:
                if hasattr(logger.experiment, "add_text"):
                    logger.experiment.add_text("sample", text, self.global_step)

    def sample(self, n_tokens: int) -> str:
        """Text sampled after `<|endoftext|>` (id 0) with a fixed generator, so steps compare."""
        from webtext.components.tokenize.bpe import load

        if self._decoder is None:
            self._decoder = load(self.hparams.tokenizer)
        start = torch.zeros((1, 1), dtype=torch.long, device=self.device)
        generator = torch.Generator(device=self.device).manual_seed(self.hparams.seed)
        was_training = self.model.training
        self.model.eval()
        ids = self.model.generate(start, n_tokens, temperature=0.8, top_k=50, generator=generator)
        self.model.train(was_training)
        return self._decoder.decode(ids[0, 1:].tolist())

    def configure_optimizers(self):
        h = self.hparams
        schedule = dict(learning_rate=h.learning_rate, weight_decay=h.weight_decay,
                        warmup_steps=h.warmup_steps, max_steps=h.max_steps, min_lr_ratio=h.min_lr_ratio,
                        betas=tuple(h.betas))
        if h.optimizer == "muon":
            muon = MuonConfig(**(h.muon or {}))
            return muon_adamw_warmup_cosine(self.model, self.model.transformer.h, muon=muon, **schedule)
        return adamw_warmup_cosine(self.model.parameters(), **schedule)
