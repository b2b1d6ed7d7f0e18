"""What crosses between a stage and its training process: the job it is given, the result it leaves.

The stage writes `job.json` into the run directory and starts `python -m webtext.components.train`
(or `.finetune`, `.instruct` for SFT and reward models, `.align` for PPO and DPO) on it; the process
writes `result.json` beside its weights. Both are typed here, so a field renamed on one side fails on
the other at once, and a result is trusted only when the weights it names are the ones on disk.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from webtext.components.config import (
    AlignConfig,
    FinetuneConfig,
    PretrainConfig,
    RewardConfig,
    SFTConfig,
    TaskConfig,
)
from webtext.components.files import atomic_write_bytes
from webtext.components.records import WEIGHTS, weights_verify

JOB_FILE, RESULT_FILE = "job.json", "result.json"
KEPT_DIR = "steps"  # a pretraining run's weights along training: steps/step-NNNNNNNN/, as handed on
ANSWERS_FILE = "answers.json"  # an align run's held-out prompts answered before and after


def step_name(step: int) -> str:
    return f"step-{step:08d}"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def write(self, path: Path) -> Path:
        atomic_write_bytes(path, (self.model_dump_json(indent=1) + "\n").encode())
        return path

    @classmethod
    def read(cls, path: Path):
        return cls.model_validate_json(Path(path).read_text())


class TrainingJob(_Record):
    """What every training process is given: where it writes, and where the rates of this kind of
    machine are kept (`precision: auto`; None: measured in each process)."""

    out: Path
    measurements: Path | None = None


class PretrainJob(TrainingJob):
    """Train (or resume) one GPT on a token set into `out`."""

    tokens: Path
    tokenizer: Path
    val_tokens_per_byte: float
    model: dict
    pretrain: PretrainConfig
    teacher: Path | None = None  # the registered teacher's checkpoint directory, and its weights' sha256
    teacher_sha256: str | None = None
    keep_steps: list[int] = []  # also hand on the weights at these steps (`evaluate.every_steps`)


class FinetuneJob(TrainingJob):
    """Fine-tune a pretrained checkpoint (or the same shape from scratch) on one task into `out`."""

    parent: Path
    parent_sha256: str
    model: dict
    from_scratch: bool
    tokenizer: Path
    task: TaskConfig
    finetune: FinetuneConfig
    cache_dir: Path


class PostTrainingJob(TrainingJob):
    """Train from a checkpoint on records (the files of each split, resolved) into `out`."""

    parent: Path
    parent_sha256: str
    tokenizer: Path
    train: list[Path]
    validation: list[Path]


class SFTJob(PostTrainingJob):
    """Fine-tune a checkpoint on demonstrations."""

    sft: SFTConfig


class RewardJob(PostTrainingJob):
    """Train a reward model from a checkpoint on comparisons; its rewards are normalised to average 0
    on the demonstrations in `normalise` (when empty: on the training comparisons' best answers)."""

    normalise: list[Path]
    reward: RewardConfig


class AlignJob(PostTrainingJob):
    """Align an SFT model (`parent`, also the reference it is held near) by PPO against the reward
    model or the fine-tuned classifier in `reward_model` (as `align.reward` says) or the prompts' rule,
    or by DPO on comparisons. `tokens`: the pretraining token set, for PPO-ptx and the language-model
    loss the evaluation compares."""

    reward_model: Path | None
    reward_sha256: str | None
    tokens: Path | None
    align: AlignConfig


class TrainingResult(_Record):
    """`result.json`: the step reached, the sha256 of each file handed on, and the run's scores."""

    step: int
    files: dict[str, str]
    parameters: int | None = None
    val_loss: float | None = None  # pretraining: the final validation loss (nats/token) and bits/byte
    val_bpb: float | None = None
    accumulation: int | None = None
    task: str | None = None  # fine-tuning: the task, its validation scores and example counts
    scores: dict[str, float] = {}
    baseline: dict[str, float] = {}  # the same held-out scores of the weights training started from
    trainable: int | None = None  # parameters trained (fewer than `parameters` with LoRA)
    n_train: int | None = None
    n_validation: int | None = None
    kept: dict[int, str] = {}  # pretraining: step -> sha256 of the weights kept at it, under steps/

    @property
    def weights_sha256(self) -> str:
        return self.files[WEIGHTS]

    @classmethod
    def finished(cls, run_dir: Path) -> TrainingResult | None:
        """The result of a run that ended (perhaps never registered: the stage was killed in between, or
        the run was launched by hand on a cluster), if its weights are the ones it recorded."""
        try:
            result = cls.read(run_dir / RESULT_FILE)
        except (OSError, ValueError):
            return None
        return result if weights_verify(run_dir, result.files.get(WEIGHTS)) else None
