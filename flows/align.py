"""The `align` stage: the sft stage's chat model (or the registered one `align.init` names) -> a policy
optimised by PPO against the reward stage's model or the prompts' rule (InstructGPT's step 3), or by
DPO on comparisons; a checkpoint of kind `align`, scored against the SFT model it started from."""

from __future__ import annotations

import json
from pathlib import Path

from prefect.artifacts import create_markdown_artifact

from webtext.components.config import AlignConfig
from webtext.components.errors import InputError
from webtext.components.records import Checkpoint
from webtext.components.train.job import ANSWERS_FILE, AlignJob
from webtext.flows.post_training import PostTrainingStage, Work
from webtext.flows.pretrain import registered
from webtext.flows.reward import STAGE as REWARD
from webtext.flows.sft import STAGE as SFT
from webtext.flows.stage import Context

# the evaluation's metrics that the SFT model has too
BEFORE = ("reward", "rule", "answer_tokens", "lm_loss")


class Align(PostTrainingStage):
    """Align the chat model, held near itself (the frozen reference) by a KL penalty (PPO) or by DPO's
    implicit one.

    The checkpoint's id also hashes the reward model when `reward: model` (PPO follows it; both methods
    are judged by it). PPO-ptx and the language-model loss read the parent's pretraining token set. Its
    held-out scores (`components.align.evaluation`) go to `evaluations` as task `alignment`, with the
    SFT model's reward, rule, answer length and language-model loss on the same prompts beside them;
    answers before and after are in the run's `answers.json` and the stage's artifact.
    """

    name = "align"
    task = "alignment"
    process = "webtext.components.align"

    def subject(self, config) -> str:
        return config.align.method

    def records(self, ctx: Context) -> str:
        return "prompts" if ctx.config.align.method == "ppo" else "comparisons"

    def settings(self, ctx: Context) -> AlignConfig:
        return ctx.config.align

    def parent(self, ctx: Context) -> Checkpoint:
        if ctx.config.align.init is not None:
            return registered(ctx, ctx.config.align.init, "align.init", ("sft",))
        chat = SFT.current(ctx)
        if chat is None:
            raise InputError("align starts from an SFT model, but sft.data names no demonstrations: "
                             "configure them, or name a registered one in align.init")
        return chat

    def judge(self, ctx: Context) -> Checkpoint | None:
        """What PPO maximises and the evaluation scores answers by, for either method: the reward stage's
        model (`reward: model`), the registered classifier `align.classifier` names, or none (the rule)."""
        settings = ctx.config.align
        if settings.reward == "classifier":
            return self.classifier(ctx)
        if settings.reward == "rule":
            return None
        judge = REWARD.current(ctx)
        if judge is None:
            raise InputError("align.reward is model, but reward.data names no comparisons: configure them, "
                             "or set align.reward: rule")
        return judge

    def classifier(self, ctx: Context) -> Checkpoint:
        """The registered classifier `align.classifier` names, once it is known to read the policy's
        tokens and to classify one text into `align.label` among others."""
        from webtext.components.align.rewards import rewarded_label
        from webtext.components.finetune.checkpoint import read_task
        from webtext.components.model.checkpoint import TASK, verified_config

        settings = ctx.config.align
        classifier = registered(ctx, settings.classifier, "align.classifier", ("finetune",))
        policy = self.parent(ctx)
        if classifier.tokenizer_id != policy.tokenizer_id:
            raise InputError(f"align.classifier={settings.classifier!r} reads tokenizer "
                             f"{classifier.tokenizer_id}, the policy writes {policy.tokenizer_id}: fine-tune "
                             f"it from the policy's line")
        _, sections = verified_config(classifier.directory, classifier.sha256)
        task, _ = read_task(sections.get(TASK), classifier.directory)
        rewarded_label(task, settings.label)
        return classifier

    def extra(self, ctx: Context) -> dict:
        judge = self.judge(ctx)
        return {"reward_id": judge.checkpoint_id, "reward_sha256": judge.sha256} if judge else {}

    def job(self, ctx: Context, work: Work, train: list[Path], validation: list[Path]) -> AlignJob:
        from webtext.warehouse import tokenize as token_sets

        judge = self.judge(ctx)
        token_set = token_sets.token_set_row(ctx.con, work.parent.token_set_id)
        return AlignJob(out=ctx.home.runs / work.checkpoint_id, measurements=ctx.home.measurements,
                        parent=work.parent.directory, parent_sha256=work.parent.sha256,
                        tokenizer=work.parent.tokenizer_path, train=train,
                        validation=validation, reward_model=judge.directory if judge else None,
                        reward_sha256=judge.sha256 if judge else None,
                        tokens=ctx.home.tokens / token_set["path"] if token_set else None,
                        align=ctx.config.align)

    def metrics(self, values: dict[str, float], before: bool = False) -> dict[str, float]:
        return {name: value for name, value in values.items() if name in BEFORE} if before else values

    def charts(self, ctx: Context) -> tuple[tuple[str, ...], ...]:
        if ctx.config.align.method == "dpo":
            return super().charts(ctx)
        return (("train/reward",), ("train/kl",), ("train/entropy", "train/clip_fraction"),
                ("train/value_loss",))

    def publish(self, ctx: Context, run_dir: Path, checkpoint_id: str) -> None:
        """The `align-answers` artifact: held-out prompts answered by the SFT model and the policy."""
        def cell(text: str) -> str:
            return " ".join(text.split()).replace("|", "\\|") or "(empty)"

        answers = json.loads((run_dir / ANSWERS_FILE).read_text())["answers"]
        rows = [f"| {cell(a['prompt'])} | {cell(', '.join(a['require']))} | {cell(a['before'])} | "
                f"{a['score_before']:.3f} | {cell(a['after'])} | {a['score_after']:.3f} |" for a in answers]
        create_markdown_artifact(
            key="align-answers",
            markdown=f"# {checkpoint_id}: answers before (SFT) and after, with their rewards\n\n"
                     f"| prompt | requires | before | reward | after | reward |\n|---|---|---|---|---|---|\n"
                     + "\n".join(rows),
            description="Held-out prompts answered by the SFT model and by the aligned one, same seed.")


STAGE = Align()
align = STAGE.flow
