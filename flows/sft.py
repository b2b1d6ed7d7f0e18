"""The `sft` stage: the current pretrained checkpoint (or the registered model `sft.init` names) ->
a chat model fine-tuned on demonstrations with the loss on its answers only (InstructGPT's step 1), a
checkpoint of kind `sft` with its held-out response loss and bits per byte."""

from __future__ import annotations

from pathlib import Path

from webtext.components.config import SFTConfig, WebtextConfig
from webtext.components.records import Checkpoint
from webtext.components.train.job import SFTJob
from webtext.flows.post_training import PostTrainingStage, Work
from webtext.flows.pretrain import STAGE as PRETRAIN
from webtext.flows.pretrain import registered
from webtext.flows.stage import Context

STARTS = ("pretrain", "sft")  # the kinds of checkpoint a chat model is fine-tuned from


class SFT(PostTrainingStage):
    """Fine-tune the pretrained checkpoint on demonstrations: a model that answers in the chat format.

    Its held-out score is the response loss (nats per answer token, and bits per UTF-8 byte of the
    answers) on the validation demonstrations, written for the parent checkpoint too: the gain of SFT.
    """

    name = "sft"
    task = "demonstrations"

    def subject(self, config: WebtextConfig) -> str:
        return "lora" if config.sft.adapter else ""

    def records(self, ctx: Context) -> str:
        return "demonstrations"

    def settings(self, ctx: Context) -> SFTConfig:
        return ctx.config.sft

    def parent(self, ctx: Context) -> Checkpoint:
        if ctx.config.sft.init is None:
            return PRETRAIN.current(ctx)
        return registered(ctx, ctx.config.sft.init, "sft.init", STARTS)

    def job(self, ctx: Context, work: Work, train: list[Path], validation: list[Path]) -> SFTJob:
        return SFTJob(out=ctx.home.runs / work.checkpoint_id, measurements=ctx.home.measurements,
                      parent=work.parent.directory, parent_sha256=work.parent.sha256,
                      tokenizer=work.parent.tokenizer_path, train=train,
                      validation=validation, sft=ctx.config.sft)

    def metrics(self, values: dict[str, float], before: bool = False) -> dict[str, float]:
        return {f"response_{name}": value for name, value in values.items()}


STAGE = SFT()
sft = STAGE.flow
