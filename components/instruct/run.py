"""SFT and reward-model runs, each in a process of its own like pretraining:
`python -m webtext.components.instruct JOB.json` (an `SFTJob` or a `RewardJob`).

The run directory holds what a pretraining run's does (`components.train.run`): resumable
`checkpoints/step-*.ckpt` with their sha256 sidecars (a killed run, started again, resumes from the
newest whole one), `logs/metrics.csv`, and what it hands on:

    model.safetensors, config.json   an SFT model (a GPT; LoRA adapters merged in) or a reward model
    adapter.safetensors              with LoRA: the adapter weights alone, for the base they name
    result.json                      steps, held-out scores before and after, file hashes

Held-out scores are measured before training too (`baseline`): for SFT, the starting model's
response loss on the same demonstrations, the "before" of "before and after".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger

from webtext.components.config import PostTraining
from webtext.components.files import atomic_path, sha256_file
from webtext.components.instruct import reward as rm
from webtext.components.instruct.chat import Encoder
from webtext.components.instruct.checkpoint import chat_config, reward_config
from webtext.components.instruct.module import (
    PostTrainingModule,
    RecordData,
    RewardModule,
    SFTModule,
    reward_batch,
    sft_batch,
)
from webtext.components.instruct.sft import sft_examples
from webtext.components.instruct.sources import read_files
from webtext.components.model.checkpoint import load_model
from webtext.components.model.gpt import GPT
from webtext.components.model.lora import (
    ADAPTER,
    merge_lora,
    save_adapter,
    trainable_parameters,
    with_adapter,
)
from webtext.components.records import CONFIG, WEIGHTS
from webtext.components.train.distributed import (
    SameStart,
    gathered_model,
    run_each,
    trainer_settings,
    world_size,
)
from webtext.components.train.job import RESULT_FILE, RewardJob, SFTJob, TrainingJob, TrainingResult
from webtext.components.train.run import Progress, StepCheckpoints, latest_checkpoint

CHECKPOINTS = "checkpoints"


def steps(settings: PostTraining, n_records: int, what: str) -> int:
    """Optimizer steps for `settings.epochs` passes of whole batches over `n_records`."""
    per_epoch = n_records // settings.batch_size
    if not per_epoch:
        raise ValueError(f"batch_size={settings.batch_size} is more than the {n_records} {what} to train on: "
                         f"lower it or add records")
    return settings.epochs * per_epoch


def trainer_for(settings: PostTraining, job: TrainingJob, max_steps: int, steps_per_batch: int = 1
                ) -> L.Trainer:
    """The run's Trainer, writing into `job.out`. Lightning logs every so many batches; a batch of
    `steps_per_batch` optimizer steps (PPO's rollout batch) logs every `log_every_steps` steps all the
    same, rounded to batches."""
    world = world_size(settings)
    if settings.batch_size % world:
        raise ValueError(f"batch_size={settings.batch_size} does not split evenly over {world} processes: "
                         f"make it a multiple of {world}")
    return L.Trainer(
        **trainer_settings(settings, world, job.measurements), max_steps=max_steps,
        val_check_interval=min(settings.val_every_steps, max_steps), check_val_every_n_epoch=None,
        num_sanity_val_steps=0, log_every_n_steps=max(1, settings.log_every_steps // steps_per_batch),
        logger=CSVLogger(job.out, name="logs", version=""),
        callbacks=[StepCheckpoints(job.out / CHECKPOINTS, settings.checkpoint_every_steps), SameStart(),
                   Progress(settings.log_every_steps, max_steps)],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        use_distributed_sampler=False,  # StepBatches splits each batch by rank
    )


def fit_scored(trainer: L.Trainer, module: PostTrainingModule, data: RecordData, out: Path
               ) -> tuple[dict, dict]:
    """Score the held-out records, train (resuming from the newest whole checkpoint), and score them
    again, unless training did at its last step."""
    before = trainer.validate(module, datamodule=data, verbose=False)[0]
    trainer.fit(module, datamodule=data, ckpt_path=resume_from(trainer, out))
    if module.scored_in_training == trainer.global_step:
        return before, {name: value for name, value in trainer.callback_metrics.items()
                        if name.startswith("val/")}
    return before, trainer.validate(module, datamodule=data, verbose=False)[0]


def resume_from(trainer: L.Trainer, out: Path) -> Path | None:
    """The newest whole checkpoint of the run in `out`, if any (said on rank 0)."""
    resume = latest_checkpoint(out / CHECKPOINTS)
    if resume is not None and trainer.is_global_zero:
        print(f"resuming from {resume.name}", flush=True)
    return resume


def held_out_scores(metrics: dict) -> dict[str, float]:
    return {name.removeprefix("val/"): float(value) for name, value in metrics.items()}


def run_sft(job: SFTJob) -> TrainingResult | None:
    """Fine-tune on the job's demonstrations; write and return its result (on global rank 0)."""
    settings, data = job.sft, job.sft.data
    L.seed_everything(settings.seed, verbose=False)
    base = load_model(job.parent, job.parent_sha256)
    encode = Encoder(job.tokenizer)
    block = base.config.block_size

    def examples(paths: list[Path], limit: int | None, split: str) -> list:
        conversations, _ = read_files(paths, "demonstrations", data.max_malformed, limit,
                                      f"sft {split} split")
        kept, dropped = sft_examples(conversations, encode, encode.eot, block)
        if not kept:
            raise ValueError(f"sft {split} split: none of its {len(conversations)} demonstrations fits the "
                             f"model's context of {block} tokens (first: {dropped[0]})")
        return kept

    train = examples(job.train, data.max_train_examples, data.train_split)
    validation = examples(job.validation, data.max_validation_examples, data.validation_split)
    max_steps = steps(settings, len(train), "demonstrations")
    model = with_adapter(base.train(), settings.adapter)
    module = SFTModule(model, settings, max_steps)
    trainer = trainer_for(settings, job, max_steps)
    data_module = RecordData(train, validation, sft_batch, settings.batch_size, settings.seed)
    before, after = fit_scored(trainer, module, data_module, job.out)
    trained = gathered_model(trainer, lambda: with_adapter(GPT(base.config), settings.adapter))
    if trained is None:
        return None
    files = {}
    if settings.adapter is not None:
        files[ADAPTER] = save_adapter(job.out / ADAPTER, trained, job.parent_sha256,
                                      settings.adapter.model_dump(mode="json"))
        trained = merge_lora(trained)
    files[WEIGHTS] = save_model(job.out / WEIGHTS, trained, step=str(trainer.global_step))
    files[CONFIG] = write_json(job.out / CONFIG, chat_config(trained.config))
    trainable, total = trainable_parameters(model)
    return write_result(job.out, trainer, files, held_out_scores(after), held_out_scores(before), len(train),
                        len(validation), total, trainable)


def run_reward(job: RewardJob) -> TrainingResult | None:
    """Train a reward model on the job's comparisons and normalise it; write and return its result."""
    settings, data = job.reward, job.reward.data
    L.seed_everything(settings.seed, verbose=False)
    base = load_model(job.parent, job.parent_sha256)
    if settings.from_scratch:
        torch.manual_seed(settings.seed)
        base = GPT(base.config)
    encode = Encoder(job.tokenizer)
    block = base.config.block_size

    def rankings(paths: list[Path], limit: int | None, split: str) -> list[list[list[int]]]:
        comparisons, _ = read_files(paths, "comparisons", data.max_malformed, limit, f"reward {split} split")
        return [[rm.answer_tokens(encode, encode.eot, c.prompt, answer, block) for answer in c.answers]
                for c in comparisons]

    train = rankings(job.train, data.max_train_examples, data.train_split)
    validation = rankings(job.validation, data.max_validation_examples, data.validation_split)
    max_steps = steps(settings, len(train), "comparisons")
    model = rm.RewardModel(base.train())
    module = RewardModule(model, settings, max_steps)
    trainer = trainer_for(settings, job, max_steps)
    data_module = RecordData(train, validation, reward_batch, settings.batch_size, settings.seed)
    before, after = fit_scored(trainer, module, data_module, job.out)
    trained = gathered_model(trainer, lambda: rm.RewardModel(GPT(base.config)))
    if trained is None:
        return None
    if job.normalise:
        demonstrations, _ = read_files(job.normalise, "demonstrations", 1.0, None, "the demonstrations")
        sequences = [rm.answer_tokens(encode, encode.eot, d.turns[:-1], d.turns[-1].content, block)
                     for d in demonstrations]
        normalised_on = f"{len(sequences)} SFT demonstrations"
    else:
        sequences = [ranking[0] for ranking in train]
        normalised_on = f"the best answers of {len(sequences)} training comparisons"
    rm.normalise(trained, rm.score(trained, sequences))
    files = {WEIGHTS: save_model(job.out / WEIGHTS, trained, step=str(trainer.global_step)),
             CONFIG: write_json(job.out / CONFIG, reward_config(trained.gpt.config, normalised_on))}
    trainable, total = trainable_parameters(model)
    return write_result(job.out, trainer, files, held_out_scores(after), held_out_scores(before), len(train),
                        len(validation), total, trainable)


def save_model(path: Path, model: torch.nn.Module, **metadata: str) -> str:
    """A model's weights as safetensors (tied tensors once), written atomically; the file's sha256."""
    from safetensors.torch import save_model as save_safetensors

    with atomic_path(path) as tmp:
        save_safetensors(model.float(), str(tmp), metadata={"format": "pt", **metadata})
    return sha256_file(path)


def write_json(path: Path, content: dict) -> str:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(content, indent=1) + "\n")
    return sha256_file(path)


def write_result(out: Path, trainer: L.Trainer, files: dict[str, str], scores: dict, baseline: dict,
                 n_train: int, n_validation: int, parameters: int, trainable: int) -> TrainingResult:
    result = TrainingResult(step=trainer.global_step, files=files, scores=scores, baseline=baseline,
                            n_train=n_train, n_validation=n_validation, parameters=parameters,
                            trainable=trainable)
    result.write(out / RESULT_FILE)
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m webtext.components.instruct JOB.json", file=sys.stderr)
        return 2
    raw = json.loads(Path(args[0]).read_text())
    if "sft" in raw:
        run_each([SFTJob.model_validate(raw)], run_sft)
    else:
        run_each([RewardJob.model_validate(raw)], run_reward)
    return 0
