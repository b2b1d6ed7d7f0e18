"""The sections of the stages from corpus to registered model: tokenize, pretrain, finetune,
evaluate and register."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from webtext.components.config.section import Section


class TokenizeConfig(Section):
    """Byte-level BPE trained on a snapshot, and the snapshot encoded into training shards."""

    snapshot: str | None = Field(
        None, description="The snapshot to tokenize: an id or a unique prefix of one. Default: the "
        "snapshot the current extract config published.",
    )
    vocab_size: int = Field(
        50_257, ge=260,
        description="Vocabulary size, special tokens included (GPT-2: 50,257). A small corpus may "
        "stop short of it: the trained size is recorded.",
    )
    min_frequency: int = Field(2, ge=1, description="Fewest occurrences of a pair for it to be merged.")
    train_max_bytes: int | None = Field(
        None, ge=1, description="Train on the snapshot's first documents up to this many UTF-8 bytes "
        "(None: all). Encoding always covers every document.",
    )
    val_fraction: float = Field(
        0.005, ge=0, lt=1,
        description="Share of documents (by doc_id hash) in the validation split (nanoGPT's "
        "OpenWebText: 0.0005; more here, as the sample is small).",
    )
    shard_tokens: int = Field(
        100_000_000, ge=1, description="Tokens per shard file (100M uint16: 200 MB, as modded-nanoGPT).",
    )
    batch_documents: int = Field(
        1024, ge=1, description="Documents read and encoded at a time: bounds the stage's memory.",
    )
    threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, description="Encoding threads.",
    )


class Devices(Section):
    """Where a training run runs: Lightning's accelerator, devices, nodes, strategy and precision."""

    precision: str = Field(
        "auto",
        description="Lightning precision; auto: on a GPU bf16-mixed where it has bf16 (else 16-mixed); on a "
        "CPU bf16-mixed where a bf16 matmul measured faster than fp32 (once per kind of machine, kept in "
        "the home's measurements/), else 32-true.",
    )
    accelerator: str = Field("auto", description="Lightning accelerator: auto (CUDA when present), cpu, gpu.")
    devices: int | Literal["auto"] = Field(
        "auto", description="Processes per node, one per device (Lightning `devices`); on CPU each process "
        "uses its share of the cores. auto: every GPU, or 1 on CPU.",
    )
    num_nodes: int = Field(1, ge=1, description="Nodes (Lightning `num_nodes`): see docs/operations.md.")
    strategy: Literal["auto", "ddp", "fsdp"] = Field(
        "auto", description="auto: one process, or ddp for more; ddp: every process holds the model and "
        "gradients are averaged; fsdp: parameters, gradients and optimizer state sharded across processes.",
    )
    launcher: list[str] = Field(
        default_factory=list,
        description="A command that starts every training process itself, put before `python -m "
        "webtext.components.train JOB`: [srun] in a Slurm allocation (one task per device), or [torchrun, "
        "--no-python, --nproc-per-node=8, ...]. Empty: Lightning starts the processes of this node.",
    )


class MuonConfig(Section):
    """Muon's settings for the hidden matrices when `pretrain.optimizer` is muon; the embeddings, head,
    norms and biases keep AdamW and its keys (`learning_rate`, `warmup_steps`, `min_lr_ratio`, ...)."""

    learning_rate: float = Field(
        0.02, gt=0, description="Peak learning rate (the GPT-2 speedrun: 0.02 to 0.05), scaled per matrix "
        "by sqrt(max(1, rows / columns)).",
    )
    momentum: float = Field(0.95, ge=0, lt=1, description="Nesterov momentum of the orthogonalised update.")
    weight_decay: float = Field(0.0, ge=0, description="Decoupled weight decay (times the learning rate).")
    ns_steps: int = Field(5, ge=1, description="Newton-Schulz iterations that orthogonalise each update.")
    warmup_steps: int = Field(0, ge=0, description="Linear warmup steps (the speedrun: none).")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="Cosine floor, as a share of the peak.")


class DistillConfig(Section):
    """How a student learns from `pretrain.teacher` (Hinton et al. 2015): loss = alpha * CE(labels) +
    (1 - alpha) * T^2 * KL(teacher_T || student_T), both distributions softened by the temperature T."""

    alpha: float = Field(0.5, ge=0, le=1, description="Weight of the cross-entropy on the true next token.")
    temperature: float = Field(
        2.0, gt=0, description="Softens both distributions: above 1, the teacher's ranking of the unlikely "
        "tokens carries more of the signal.",
    )


class PretrainConfig(Devices):
    """Language-model pretraining of the GPT on a token set (GPT-2's recipe, nanoGPT's defaults)."""

    model: str | dict[str, Any] = Field(
        "gpt2-small", description="A preset (gpt1, gpt2-small, gpt2-medium, gpt2-large, gpt2-xl, cpu-tiny, "
        "cpu-small, cpu-medium) or an inline shape: GPTConfig fields such as n_layer, n_head, n_embd, "
        "block_size, dropout, pre_ln, local_window, embedding_dim, share_layers.",
    )
    max_steps: int = Field(5000, ge=1, description="Optimizer steps to train for (and the cosine's length).")
    max_minutes: float | None = Field(
        None, gt=0, description="Also stop after this much wall time (a budget instead of a step count).",
    )

    @field_validator("model")
    @classmethod
    def _known_preset(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        from webtext.components.model.presets import PRESETS

        if isinstance(value, str) and value not in PRESETS:
            raise ValueError(f"unknown model preset {value!r}; presets: {', '.join(PRESETS)}")
        return value

    micro_batch_size: int = Field(8, ge=1, description="Sequences per device per forward pass.")
    batch_tokens: int = Field(
        524_288, ge=1,
        description="Tokens per optimizer step over all devices (GPT-2/nanoGPT: ~0.5M); reached by "
        "gradient accumulation, rounded to whole micro-batches.",
    )
    optimizer: Literal["adamw", "muon"] = Field(
        "adamw", description="adamw: AdamW on every parameter (GPT-2); muon: Muon on the transformer blocks' "
        "matrices (settings in `muon`), AdamW on the rest. Not with strategy fsdp: Muon orthogonalises "
        "whole matrices.",
    )
    muon: MuonConfig = Field(default_factory=MuonConfig, description="Muon's settings (optimizer: muon).")
    teacher: str | None = Field(
        None, description="Distil from this registered model (NAME, NAME:VERSION or NAME@ALIAS) of kind "
        "pretrain, which must share the token set's tokenizer; its logits are computed at every step. None: "
        "train on the labels alone.",
    )
    distill: DistillConfig = Field(
        default_factory=DistillConfig, description="The distillation loss's settings (with a teacher).")
    learning_rate: float = Field(
        6e-4, gt=0, description="Peak learning rate of AdamW (GPT-3 small: 6e-4); with muon, of the "
        "parameters Muon does not train.")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="Cosine floor, as a share of the peak.")
    warmup_steps: int = Field(100, ge=0, description="Linear warmup steps.")
    weight_decay: float = Field(0.1, ge=0, description="AdamW decay on matrices only (GPT-3: 0.1).")
    betas: tuple[float, float] = Field((0.9, 0.95), description="AdamW betas (GPT-3: 0.9, 0.95).")
    grad_clip: float = Field(
        1.0, ge=0, description="Gradient norm clip over all parameters, on every strategy (GPT-3: 1.0); 0 "
        "turns it off.",
    )
    compile: bool | Literal["auto"] = Field(
        "auto", description="torch.compile the model (faster steps after a slow start); auto: on CUDA.",
    )
    activation_checkpointing: bool = Field(
        False, description="Recompute each block's activations in the backward pass instead of storing "
        "them: less memory for one more forward pass of each block, the same losses.",
    )
    val_every_steps: int = Field(250, ge=1, description="Validate every this many optimizer steps.")
    val_batches: int = Field(20, ge=1, description="Validation micro-batches (the same ones every time).")
    checkpoint_every_steps: int = Field(250, ge=1, description="Resumable checkpoint every this many steps.")
    log_every_steps: int = Field(10, ge=1, description="Progress line every this many steps.")
    sample_tokens: int = Field(48, ge=0, description="Tokens sampled at each validation (0: none).")
    seed: int = Field(1337, description="Seeds initialisation, batches and dropout.")

    @model_validator(mode="after")
    def _not_sharded(self) -> PretrainConfig:
        """Muon orthogonalises whole matrices, which FSDP splits across processes; a teacher would be
        held whole on every process, which is what FSDP is chosen to avoid."""
        if self.strategy == "fsdp":
            if self.optimizer == "muon":
                raise ValueError("optimizer muon does not run with strategy fsdp (Muon orthogonalises whole "
                                 "matrices, FSDP shards them): use strategy ddp or optimizer adamw")
            if self.teacher is not None:
                raise ValueError("a teacher does not run with strategy fsdp (every process would hold it "
                                 "whole): use strategy ddp")
        return self


class TaskConfig(Section):
    """One labelled task: where its data is, how its columns map onto GPT-1's input transformation."""

    name: str = Field(description="The task's name, as written in `evaluations.task`.")
    type: Literal["classification", "entailment", "similarity", "multiple_choice"] = Field(
        description="Input transformation and head (GPT-1, figure 1).",
    )
    files: dict[str, str] = Field(
        default_factory=dict,
        description="Split name -> a local .csv, .tsv, .json or .jsonl file (`${VAR}` expanded); "
        "offline use.",
    )
    hub: str | None = Field(None, description="A Hugging Face dataset name, used when `files` is empty.")
    hub_config: str | None = Field(
        None, description="The hub dataset's configuration (e.g. `sst2` of `glue`).")
    train_split: str = Field("train", description="The split fine-tuned on.")
    validation_split: str = Field("validation", description="The split scored.")
    fields: list[str | list[str]] = Field(
        description="Columns in input order: [text]; [premise, hypothesis]; [a, b]; [context, answer_1, "
        "answer_2, ...]. A list of columns is joined with spaces (a story's four sentences); empty "
        "answers are left out, so examples may have fewer choices than columns.",
    )
    label: str = Field("label", description="The label column.")
    labels: list[str | int] | None = Field(
        None,
        description="Label values in id order (for multiple choice: the value naming each answer). "
        "Default: the sorted distinct labels of the training split.",
    )
    regression: bool = Field(False, description="Similarity as a score (one output, MSE) instead of classes.")
    metrics: list[Literal["acc", "f1", "mcc", "pearson", "spearman"]] | None = Field(
        None,
        description="Metrics on the validation split. Default: acc; pearson and spearman for similarity.",
    )
    max_train_examples: int | None = Field(None, ge=1, description="Use only the first N training examples.")
    max_validation_examples: int | None = Field(None, ge=1, description="Score only the first N.")


class AdapterConfig(Section):
    """LoRA adapters (Hu et al. 2021) in place of training every weight: each targeted linear layer W
    gains a trained low-rank update (alpha / r) B A while W stays frozen; the run saves the adapters
    alone and the model with them merged in."""

    type: Literal["lora"] = Field("lora", description="The adapter kind: lora.")
    r: int = Field(8, ge=1, description="The rank of each update.")
    alpha: float = Field(16.0, gt=0, description="The update's scale is alpha / r.")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the adapter's input.")
    targets: list[str] = Field(
        default_factory=lambda: ["c_attn", "c_proj"], min_length=1,
        description="Linear layers to adapt, by module-name suffix: c_attn (attention in), c_proj (attention "
        "and MLP out), c_fc (MLP in). The tied output layer and embeddings cannot be adapted.",
    )


class FinetuneConfig(Devices):
    """GPT-1's fine-tuning recipe (Radford et al. 2018, section 4.1) on each task, from the pretrained
    checkpoint of the current config."""

    tasks: list[TaskConfig] = Field(default_factory=list, description="The tasks, each fine-tuned apart.")
    lm_weight: float = Field(
        0.5, ge=0, description="Weight of the auxiliary LM loss (GPT-1: 0.5; 0 turns it off).")
    learning_rate: float = Field(
        6.25e-5, gt=0, description="Peak learning rate (GPT-1: 6.25e-5, for 117M parameters; small models "
        "want ~1e-3).",
    )
    batch_size: int = Field(32, ge=1, description="Examples per step (GPT-1: 32).")
    epochs: int = Field(3, ge=1, description="Passes over the training split (GPT-1: 3).")
    warmup_fraction: float = Field(
        0.002, ge=0, le=1, description="Linear warmup share of the steps (GPT-1: 0.2%).")
    weight_decay: float = Field(0.01, ge=0, description="Decay on matrices (GPT-1's L2 of 0.01).")
    classifier_dropout: float = Field(0.1, ge=0, lt=1, description="Dropout before the head (GPT-1: 0.1).")
    from_scratch: bool = Field(
        False, description="Start from random weights of the same shape: measures what pretraining gives.",
    )
    with_scratch_baseline: bool = Field(
        False, description="Also fine-tune each task from random weights of the same shape, with every "
        "weight trained and the same settings: GPT-1's pretrained-against-scratch comparison, which "
        "`webtext report` plots. The baselines are scored, not registered.",
    )
    adapter: AdapterConfig | None = Field(
        None, description="Train LoRA adapters on the backbone (and the head in full) instead of every "
        "weight; none: full fine-tuning.",
    )
    seed: int = Field(1337, description="Seeds the head, the example order and dropout.")

    @model_validator(mode="after")
    def _adapter_needs_a_base(self) -> FinetuneConfig:
        if self.adapter is not None and self.from_scratch:
            raise ValueError("adapter with from_scratch would train low-rank updates of random frozen "
                             "weights: use one or the other")
        if self.with_scratch_baseline and self.from_scratch:
            raise ValueError("with_scratch_baseline compares fine-tuning the pretrained model with "
                             "fine-tuning from scratch, but from_scratch is set: use one or the other")
        return self

    def settings(self, from_scratch: bool) -> FinetuneConfig:
        """These settings without the tasks, for one run: from the pretrained weights as configured, or
        from scratch (a scratch baseline trains every weight)."""
        update = {"tasks": [], "with_scratch_baseline": False}
        if from_scratch:
            update |= {"from_scratch": True, "adapter": None}
        return self.model_copy(update=update)


class EvalTaskConfig(Section):
    """One zero- or few-shot task, scored by the language model alone (GPT-2, section 3; GPT-3,
    section 2): no head, no training."""

    name: str = Field(description="The task's name, as written in `evaluations.task`.")
    type: Literal["last_word", "multiple_choice"] = Field(
        description="last_word: predict a passage's final word from the rest (LAMBADA; acc, ppl); "
        "multiple_choice: the likeliest answer after the context (acc, acc_token, acc_norm).",
    )
    files: dict[str, str] = Field(
        default_factory=dict,
        description="Split name -> a local .csv, .tsv, .json or .jsonl file (`${VAR}` expanded).",
    )
    hub: str | None = Field(None, description="A Hugging Face dataset name, used when `files` is empty.")
    hub_config: str | None = Field(None, description="The hub dataset's configuration.")
    split: str = Field("test", description="The split scored.")
    shots: int | list[int] = Field(
        0, description="K solved examples from `shots_split` put before each one (GPT-3's K-shot); a list "
        "scores the task once per K, as task `<name>-<K>shot` (GPT-3's sweep over K, which `webtext "
        "report` plots).")
    shots_split: str = Field("train", description="The split the K examples are drawn from.")
    text: str = Field("text", description="last_word: the passage column.")
    fields: list[str | list[str]] = Field(
        default_factory=list,
        description="multiple_choice: [context, answer_1, answer_2, ...]; a list of columns is joined "
        "with spaces; empty answers are left out.",
    )
    label: str = Field("label", description="multiple_choice: the column naming the right answer.")
    labels: list[str | int] | None = Field(
        None, description="multiple_choice: the label value naming each answer, in answer order "
        "(default 0, 1, 2, ...).",
    )
    max_examples: int | None = Field(None, ge=1, description="Score only the first N examples.")

    @model_validator(mode="after")
    def _fields_for_type(self) -> EvalTaskConfig:
        if self.type == "multiple_choice" and len(self.fields) < 3:
            raise ValueError(f"task {self.name!r}: multiple_choice needs fields [context, answer_1, "
                             f"answer_2, ...]")
        ks = self.shots if isinstance(self.shots, list) else [self.shots]
        if not ks or min(ks) < 0 or len(set(ks)) != len(ks):
            raise ValueError(f"task {self.name!r}: shots must be a K of 0 or more, or a list of distinct "
                             f"ones, not {self.shots!r}")
        return self

    def at_each_k(self) -> list[EvalTaskConfig]:
        """The task as scored: itself, or one task per K of a `shots` list, named `<name>-<K>shot`."""
        if isinstance(self.shots, int):
            return [self]
        return [self.model_copy(update={"name": f"{self.name}-{k}shot", "shots": k}) for k in self.shots]


class EvaluateConfig(Section):
    """Scoring the pretrained checkpoint: bits per byte, zero/few-shot tasks, contamination."""

    texts: list[str] = Field(
        default_factory=list,
        description="Fixed text files (or globs) scored in bits per byte for every version, so versions "
        "compare; their total is task `texts`, each file task `texts/<file name>`.",
    )
    tasks: list[EvalTaskConfig] = Field(default_factory=list, description="Zero- and few-shot tasks.")
    every_steps: int | list[int] | None = Field(
        None, description="Also score the pretrained model's weights along training, every this many steps "
        "or at these steps: bits per byte and every task at each (GPT-2's question of how zero-shot scores "
        "grow with training, which `webtext report` plots). Pretraining keeps the weights at those steps, "
        "so setting it trains the model again. None: the final weights only.",
    )
    val_tokens: int | None = Field(
        None, ge=1, description="Score at most this many tokens of the snapshot's validation split "
        "(task `validation`); default all.",
    )
    contamination_ngram: int = Field(
        13, ge=1, description="Words in the n-grams matched against the training snapshot (GPT-3: 13; "
        "GPT-2: 8).",
    )
    batch_size: int = Field(16, ge=1, description="Sequences per forward pass.")
    device: str = Field("auto", description="torch device: auto (cuda when present, else cpu), cpu, cuda:0.")
    seed: int = Field(1234, description="Seeds the choice of few-shot examples and the sample generations.")
    prompts: list[str] = Field(
        default_factory=lambda: ["The", "In a statement on"],
        description="Prompts continued in the evaluation report (sample generations).",
    )
    sample_tokens: int = Field(40, ge=0, description="Tokens sampled per prompt in the report.")

    @field_validator("every_steps")
    @classmethod
    def _positive_steps(cls, value: int | list[int] | None) -> int | list[int] | None:
        if value is not None and min(value if isinstance(value, list) else [value], default=0) < 1:
            raise ValueError(f"steps are 1 or more, not {value!r}")
        return value

    def steps(self, max_steps: int) -> list[int]:
        """The steps before `max_steps` whose weights are scored besides the final ones."""
        every = self.every_steps
        if every is None:
            return []
        chosen = range(every, max_steps, every) if isinstance(every, int) else every
        return sorted({step for step in chosen if step < max_steps})

    def scored_tasks(self) -> list[EvalTaskConfig]:
        """Every task as scored, a `shots` list unrolled into one task per K."""
        return [scored for task in self.tasks for scored in task.at_each_k()]


MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"  # a registered model's name: a directory and a REF


class GateConfig(Section):
    """One condition a version must meet to take an alias."""

    task: str = Field(description="The evaluation task, as in `evaluations.task` (e.g. `texts`).")
    metric: str = Field(description="The metric (e.g. `bpb`); bpb, ppl and contamination are better lower.")
    beat_current: bool = Field(
        False, description="Must be better than the version holding the alias now (passes when none does); "
        "both scores must have been measured on the same data, else the gate says it cannot compare.")
    margin: float = Field(
        0.0, ge=0, description="beat_current: better by more than this, in the metric's units.")
    min: float | None = Field(None, description="Must be at least this.")
    max: float | None = Field(None, description="Must be at most this.")
    max_contamination: float | None = Field(
        None, ge=0, le=1, description="The largest share of the task's examples (for `texts`, paragraphs) "
        "that may share an n-gram with the version's training snapshot; none: not checked.")


class RegisterConfig(Section):
    """The model registry (MLflow-style): numbered versions of a named model, and aliases."""

    name: str = Field(
        "webtext-gpt", pattern=MODEL_NAME,
        description="The registered model's name: letters, digits, `.`, `_`, `-`.",
    )
    alias: str = Field(
        "champion", pattern=r"^[A-Za-z][A-Za-z0-9_-]*$",
        description="The alias a newly registered version is promoted to when it passes the gates.",
    )
    gates: dict[str, list[GateConfig]] = Field(
        default_factory=lambda: {
            "champion": [GateConfig(task="texts", metric="bpb", beat_current=True, max_contamination=0.1)],
            # the aligned model (`<name>-aligned`): better than the SFT model by the reward it was given,
            # near it (nats per answer), and no worse a language model than it by more than 0.1 nats
            "chat": [GateConfig(task="alignment", metric="win_rate", min=0.5),
                     GateConfig(task="alignment", metric="kl", max=25.0),
                     GateConfig(task="alignment", metric="lm_loss_increase", max=0.1)]},
        description="Alias -> the gates a version must pass to take it; an alias not named has none.",
    )
