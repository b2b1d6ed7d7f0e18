"""The sections of InstructGPT's post-training stages (Ouyang et al. 2022): supervised fine-tuning on
demonstrations (`sft`), a reward model trained on comparisons (`reward`), and the policy optimised
against it (`align`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from webtext.components.config.model_stages import AdapterConfig, Devices
from webtext.components.config.section import Section


class InstructData(Section):
    """Where a post-training stage's records are: local files for each split, or a hub dataset. The
    record formats are those `components.instruct.data` reads (JSONL, gzipped JSONL, Parquet)."""

    files: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Split name -> local files or globs (`${VAR}` expanded); offline use.",
    )
    hub: str | None = Field(None, description="A Hugging Face dataset name, used when `files` is empty.")
    hub_data_dir: str | None = Field(
        None, description="A folder of the hub dataset (Anthropic/hh-rlhf: harmless-base, helpful-base).")
    train_split: str = Field("train", description="The split trained on.")
    validation_split: str = Field("validation", description="The held-out split scored.")
    max_train_examples: int | None = Field(None, ge=1, description="Train on the first N records only.")
    max_validation_examples: int | None = Field(None, ge=1, description="Score the first N only.")
    max_malformed: float = Field(
        0.5, ge=0, le=1, description="A file with a larger share of malformed records is refused whole, "
        "before any training; fewer are skipped and counted.",
    )

    @model_validator(mode="after")
    def _somewhere(self) -> InstructData:
        if not self.files and not self.hub:
            raise ValueError("name `files` for each split, or a `hub` dataset")
        return self


class PostTraining(Devices):
    """What both post-training stages share: the optimisation and the run's rhythm."""

    learning_rate: float = Field(
        1e-5, gt=0, description="Peak learning rate (InstructGPT's 1.3B SFT: 1.3e-5 scaled by batch; small "
        "models want ~1e-3).",
    )
    batch_size: int = Field(32, ge=1, description="Records per optimizer step over all processes.")
    epochs: int = Field(2, ge=1, description="Passes over the training records (InstructGPT: SFT 16, RM 1).")
    warmup_fraction: float = Field(0.05, ge=0, le=1, description="Linear warmup share of the steps.")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="Cosine floor after warmup, share of the peak.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW decay on matrices.")
    grad_clip: float = Field(1.0, ge=0, description="Gradient norm clip (0: off).")
    val_every_steps: int = Field(50, ge=1, description="Score the held-out split every this many steps.")
    checkpoint_every_steps: int = Field(50, ge=1, description="Resumable checkpoint every this many steps.")
    log_every_steps: int = Field(10, ge=1, description="Progress line every this many steps.")
    seed: int = Field(1337, description="Seeds the order of the records, new weights and dropout.")


class SFTConfig(PostTraining):
    """Supervised fine-tuning on demonstrations (InstructGPT's step 1): the loss on the assistant's
    answers only, from the current pretrained checkpoint or any registered one."""

    data: InstructData | None = Field(
        None, description="The demonstrations; none: the stage has nothing to do.",
    )
    init: str | None = Field(
        None, description="A registered model to start from (NAME, NAME:VERSION, NAME@ALIAS or a checkpoint "
        "id); none: the current pretrained checkpoint.",
    )
    adapter: AdapterConfig | None = Field(
        None, description="Train LoRA adapters instead of every weight; none: full fine-tuning.",
    )


class RewardConfig(PostTraining):
    """A reward model on comparisons (InstructGPT's step 2): the transformer with a scalar head on the
    final token of prompt + answer, the pairwise loss over every ranked pair of a prompt at once."""

    data: InstructData | None = Field(
        None, description="The comparisons; none: the stage has nothing to do.",
    )
    init: Literal["sft", "pretrained"] = Field(
        "sft", description="The transformer to start from: the sft stage's model, or the pretrained one.",
    )
    epochs: int = Field(1, ge=1, description="Passes over the comparisons (InstructGPT: 1; more over-fits).")
    batch_size: int = Field(16, ge=1, description="Prompts per step over all processes, each with all its "
                            "answers.")
    from_scratch: bool = Field(
        False, description="Start from random weights of the init model's shape: measures what pretraining "
        "gives.",
    )


class AlignConfig(PostTraining):
    """InstructGPT's step 3: the SFT model optimised against a reward with PPO and a per-token KL penalty
    toward itself (`ppo`), or directly on comparisons with DPO (`dpo`), with no reward model in the
    loop. Steps are rollout batches for PPO (each `ppo_epochs` passes of updates over its samples) and
    batches of comparisons for DPO."""

    method: Literal["ppo", "dpo"] = Field(
        "ppo", description="ppo: sample answers to `data`'s prompts and follow `reward`; dpo: learn from "
        "`data`'s comparisons directly.",
    )
    data: InstructData | None = Field(
        None, description="ppo: prompts (any record with a prompt; `require` words define a rule); dpo: "
        "comparisons. None: the stage has nothing to do.",
    )
    init: str | None = Field(
        None, description="A registered SFT model to start from (and to stay near); none: the sft stage's.",
    )
    reward: Literal["model", "rule", "classifier"] = Field(
        "model", description="ppo: what is maximised: the reward stage's model; the prompts' rule (1 when "
        "the answer names every `require` word, else 0); or a fine-tuned classifier's log-odds of `label` "
        "for the answer alone (Ziegler et al. 2019's sentiment control).",
    )
    classifier: str | None = Field(
        None, description="With `reward: classifier`: a registered fine-tuned classification model sharing "
        "the policy's tokenizer (e.g. `webtext-sample-sentiment`).",
    )
    label: str | None = Field(
        None, description="With `reward: classifier`: the label value whose log-odds is the reward (e.g. "
        "`'1'` for SST-2's positive).",
    )
    learning_rate: float = Field(1e-5, gt=0, description="Peak learning rate (InstructGPT's PPO: 9.65e-6).")
    batch_size: int = Field(
        32, ge=1, description="ppo: prompts sampled per rollout batch; dpo: comparisons per step (over all "
        "processes).",
    )
    epochs: int = Field(1, ge=1, description="Passes over the prompts (ppo) or comparisons (dpo).")
    beta: float = Field(
        0.05, ge=0, description="ppo: the KL penalty's coefficient (InstructGPT: 0.02), where the adaptive "
        "controller starts; dpo: the implicit reward's scale (Rafailov et al.: 0.1).",
    )
    target_kl: float | None = Field(
        None, gt=0, description="ppo: adapt beta toward this KL per answer (nats; Ziegler et al. section "
        "2.2); none: beta stays fixed.",
    )
    ppo_epochs: int = Field(4, ge=1, description="ppo: passes over each rollout batch's samples.")
    minibatches: int = Field(1, ge=1, description="ppo: optimizer steps per pass over a rollout batch.")
    clip_range: float = Field(0.2, gt=0, description="ppo: the policy ratio's clip, epsilon.")
    value_clip: float = Field(0.2, gt=0, description="ppo: how far one rollout batch may move a value.")
    value_coef: float = Field(0.1, ge=0, description="ppo: the value loss's weight beside the policy's.")
    gamma: float = Field(1.0, ge=0, le=1, description="ppo: discount over an answer's tokens.")
    lam: float = Field(0.95, ge=0, le=1, description="ppo: GAE's lambda.")
    max_new_tokens: int = Field(32, ge=1, description="ppo: the longest answer sampled; longer ones are cut.")
    temperature: float = Field(1.0, gt=0, description="ppo: sampling temperature of the rollouts.")
    ptx_coef: float = Field(
        0.0, ge=0, description="ppo: PPO-ptx's gamma, the weight of the pretraining loss on the pretrain "
        "token set mixed into every update (InstructGPT: 27.8); 0: plain PPO.",
    )
    eval_tokens: int = Field(32, ge=1, description="The longest answer sampled for the held-out evaluation.")
    eval_lm_batches: int = Field(
        4, ge=1, description="Windows of the pretrain token set's validation split scored (batches of "
        "`batch_size`) before and after: the regression PPO-ptx guards against.",
    )

    @model_validator(mode="after")
    def _classifier_named(self) -> AlignConfig:
        if (self.reward == "classifier") != (self.classifier is not None and self.label is not None):
            raise ValueError("`reward: classifier` and the `classifier` and `label` it reads go together")
        return self
