"""The `reward` stage: the sft stage's model (or the pretrained one) -> a reward model trained on
comparisons (InstructGPT's step 2), a checkpoint of kind `reward` with its held-out pairwise accuracy
and mean margin."""

from __future__ import annotations

from pathlib import Path

from webtext.components.config import RewardConfig
from webtext.components.errors import InputError
from webtext.components.files import sha256_file
from webtext.components.instruct.sources import split_files
from webtext.components.records import Checkpoint
from webtext.components.train.job import RewardJob
from webtext.flows.post_training import PostTrainingStage, Work
from webtext.flows.pretrain import STAGE as PRETRAIN
from webtext.flows.sft import STAGE as SFT
from webtext.flows.stage import Context


class Reward(PostTrainingStage):
    """Train a reward model on comparisons: a scalar head on the final token of prompt + answer.

    Every answer of a prompt is scored in one batch and all its ranked pairs enter the loss together.
    Its rewards are shifted to average 0 on the SFT stage's training demonstrations (on the comparisons'
    best answers when no SFT is configured), which the checkpoint's id therefore also hashes.
    """

    name = "reward"
    task = "comparisons"

    def records(self, ctx: Context) -> str:
        return "comparisons"

    def settings(self, ctx: Context) -> RewardConfig:
        return ctx.config.reward

    def parent(self, ctx: Context) -> Checkpoint:
        if ctx.config.reward.init == "pretrained":
            return PRETRAIN.current(ctx)
        chat = SFT.current(ctx)
        if chat is None:
            raise InputError("reward.init is sft, but sft.data names no demonstrations: configure them, or "
                             "set reward.init: pretrained")
        return chat

    def _normalise(self, ctx: Context) -> list[Path]:
        data = ctx.config.sft.data
        return [] if data is None else split_files(data, data.train_split, self.cache(ctx), SFT.key)

    def extra(self, ctx: Context) -> dict:
        return {"normalised_on_sha256": [sha256_file(path) for path in self._normalise(ctx)]}

    def job(self, ctx: Context, work: Work, train: list[Path], validation: list[Path]) -> RewardJob:
        return RewardJob(out=ctx.home.runs / work.checkpoint_id, measurements=ctx.home.measurements,
                         parent=work.parent.directory, parent_sha256=work.parent.sha256,
                         tokenizer=work.parent.tokenizer_path, train=train,
                         validation=validation, normalise=self._normalise(ctx), reward=ctx.config.reward)

    def metrics(self, values: dict[str, float], before: bool = False) -> dict[str, float]:
        return {} if before else values  # before training the head is random: nothing to compare


STAGE = Reward()
reward = STAGE.flow
