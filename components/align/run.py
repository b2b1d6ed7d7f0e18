"""An `align` run in a process of its own, as SFT and the reward model run:
`python -m webtext.components.align JOB.json` (an `AlignJob`).

The run directory holds what theirs do (`components.instruct.run`): resumable checkpoints, between
rollout batches for PPO, `logs/metrics.csv`, and

    model.safetensors, config.json   the aligned policy: a GPT in the chat format
    answers.json                     held-out prompts answered before (SFT) and after
    result.json                      steps, the alignment evaluation before and after, file hashes

After training, global rank 0 scores the policy against the SFT model on the held-out prompts
(`components.align.evaluation`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning as L

from webtext.components.align.evaluation import evaluate, prompt_examples
from webtext.components.align.module import DPOModule, PPOModule, dpo_batch
from webtext.components.align.rewards import ClassifierReward, ModelReward, RuleReward, Scorer
from webtext.components.finetune.checkpoint import load_finetuned
from webtext.components.instruct.chat import Encoder, Turn
from webtext.components.instruct.checkpoint import chat_config, load_reward
from webtext.components.instruct.module import RecordData
from webtext.components.instruct.reward import RewardModel
from webtext.components.instruct.run import (
    fit_scored,
    held_out_scores,
    resume_from,
    save_model,
    steps,
    trainer_for,
    write_json,
    write_result,
)
from webtext.components.instruct.sft import sft_example
from webtext.components.instruct.sources import read_files
from webtext.components.model.checkpoint import load_model
from webtext.components.model.gpt import GPT
from webtext.components.model.lora import trainable_parameters
from webtext.components.records import CONFIG, WEIGHTS
from webtext.components.train.data import Windows
from webtext.components.train.distributed import gathered_model, run_each
from webtext.components.train.job import ANSWERS_FILE, AlignJob, TrainingResult


def run_align(job: AlignJob) -> TrainingResult | None:
    """Align the job's SFT model by PPO or DPO; evaluate it; write and return its result (rank 0)."""
    settings, data = job.align, job.align.data
    L.seed_everything(settings.seed, verbose=False)
    policy = load_model(job.parent, job.parent_sha256)
    reference = load_model(job.parent, job.parent_sha256)
    encode = Encoder(job.tokenizer)
    stop, block = encode.eot, policy.config.block_size
    scorer = _scorer(job, encode, stop)

    def prompts(paths: list[Path], limit: int | None, split: str):
        records, _ = read_files(paths, "prompts", data.max_malformed, limit, f"align {split} split")
        return prompt_examples(records, encode, stop, block, settings.max_new_tokens)

    validation = prompts(job.validation, data.max_validation_examples, data.validation_split)
    if settings.method == "ppo":
        train = prompts(job.train, data.max_train_examples, data.train_split)
        updates = settings.ppo_epochs * settings.minibatches
        max_steps = steps(settings, len(train), "prompts") * updates
        # the value head starts as the reward model (InstructGPT), or on the SFT model otherwise
        value = (load_reward(job.reward_model, job.reward_sha256) if settings.reward == "model"
                 else RewardModel(load_model(job.parent, job.parent_sha256)))
        pretraining = Windows(job.tokens, "train", block) if job.tokens and settings.ptx_coef else None
        module = PPOModule(policy, value, reference, scorer, settings, max_steps, stop, pretraining)
        trainer = trainer_for(settings, job, max_steps, steps_per_batch=updates)
        records = RecordData(train, validation, _prompt_batch, settings.batch_size, settings.seed,
                             steps_per_batch=updates)
        trainer.fit(module, datamodule=records, ckpt_path=resume_from(trainer, job.out))
        n_train, pairs = len(train), {}
    else:
        train = _rankings(job.train, data.max_train_examples, data.train_split, job, encode, block)
        held_out = _rankings(job.validation, data.max_validation_examples, data.validation_split, job, encode,
                             block)
        max_steps = steps(settings, len(train), "comparisons")
        module = DPOModule(policy, reference, settings, max_steps)
        trainer = trainer_for(settings, job, max_steps)
        records = RecordData(train, held_out, dpo_batch, settings.batch_size, settings.seed)
        _, after = fit_scored(trainer, module, records, job.out)
        n_train, pairs = len(train), held_out_scores(after)
    trained = gathered_model(trainer, lambda: GPT(policy.config))
    if trained is None:
        return None
    windows = Windows(job.tokens, "val", block) if job.tokens else None
    alignment = evaluate(trained, reference, scorer, validation, decode=encode.encoding.decode, stop=stop,
                         max_new_tokens=settings.eval_tokens, temperature=settings.temperature,
                         batch_size=settings.batch_size, seed=settings.seed, windows=windows,
                         lm_batches=settings.eval_lm_batches)
    files = {WEIGHTS: save_model(job.out / WEIGHTS, trained, step=str(trainer.global_step)),
             CONFIG: write_json(job.out / CONFIG, chat_config(trained.config)),
             ANSWERS_FILE: write_json(job.out / ANSWERS_FILE, {"answers": alignment.answers})}
    trainable, total = trainable_parameters(trained)
    return write_result(job.out, trainer, files, {**alignment.metrics, **pairs}, alignment.baseline,
                        n_train, len(validation), total, trainable)


def _scorer(job: AlignJob, encode: Encoder, stop: int) -> Scorer:
    reward = job.align.reward
    if reward == "rule":
        return RuleReward(encode.encoding.decode, stop)
    if job.reward_model is None:
        raise ValueError(f"align.reward is {reward}, but the job names no model to score by")
    if reward == "classifier":
        return ClassifierReward(load_finetuned(job.reward_model, job.reward_sha256), job.align.label, stop)
    return ModelReward(load_reward(job.reward_model, job.reward_sha256), stop)


def _prompt_batch(examples: list) -> tuple[list[list[int]], list]:
    """A rollout batch: the prompts' ids, and their records (for a rule)."""
    return [e.ids for e in examples], [e.prompt for e in examples]


def _rankings(paths: list[Path], limit: int | None, split: str, job: AlignJob, encode: Encoder, block: int
              ) -> list:
    """Each comparison as the SFT examples of its answers, best first; one whose answers do not all fit
    the context is left out."""
    data = job.align.data
    comparisons, _ = read_files(paths, "comparisons", data.max_malformed, limit, f"align {split} split")
    rankings = []
    for comparison in comparisons:
        examples = [sft_example([*comparison.prompt, Turn("assistant", answer)], encode, encode.eot, block)
                    for answer in comparison.answers]
        if all(examples):
            rankings.append(examples)
    if not rankings:
        raise ValueError(f"align {split} split: no comparison has every answer fit the model's context of "
                         f"{block} tokens")
    return rankings


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m webtext.components.align JOB.json", file=sys.stderr)
        return 2
    run_each([AlignJob.model_validate(json.loads(Path(args[0]).read_text()))], run_align)
    return 0

