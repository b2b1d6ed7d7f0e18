"""Fine-tuned checkpoints written as a fine-tuning run writes them, from random weights of a tiny shape."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_model

from webtext.components.config import TaskConfig
from webtext.components.files import sha256_file
from webtext.components.finetune.checkpoint import finetuned_config
from webtext.components.finetune.formats import Markers
from webtext.components.finetune.heads import TaskModel
from webtext.components.model.gpt import GPT, GPTConfig

SHAPE = dict(vocab_size=300, block_size=32, n_layer=2, n_head=2, n_embd=32, dropout=0.0)
MARKERS = Markers(start=1, delimiter=2, extract=3)
TASKS = {
    "classification": TaskConfig(name="sentiment", type="classification", fields=["sentence"]),
    "entailment": TaskConfig(name="inference", type="entailment", fields=["premise", "hypothesis"]),
    "similarity": TaskConfig(name="paraphrase", type="similarity", fields=["sentence1", "sentence2"],
                             label="score", regression=True),
    "multiple_choice": TaskConfig(name="story", type="multiple_choice", label="answer",
                                  fields=["context", "ending1", "ending2", "ending3"]),
}
LABELS = {"classification": ["0", "1"], "entailment": ["entailment", "not_entailment"], "similarity": [],
          "multiple_choice": ["1", "2", "3"]}


def write_finetuned(directory: Path, task_type: str, scale: float = 1.0, **shape) -> tuple[TaskModel, str]:
    """A fine-tuned run's model.safetensors and config.json in `directory`: a random task model, its
    matrices and head bias times `scale` (trained weights are far from their initial scale). Returns
    the model (eval mode) and the sha256 of its weights."""
    torch.manual_seed(0)
    task, labels = TASKS[task_type], LABELS[task_type]
    config = GPTConfig(**{**SHAPE, **shape})
    model = TaskModel(GPT(config), task.type, 1 if task.regression else len(labels), dropout=0.0).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() >= 2:
                parameter.mul_(scale)
        model.head.bias.normal_(std=scale)
    directory.mkdir(parents=True, exist_ok=True)
    save_model(model, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps(finetuned_config(config, task, labels, MARKERS)))
    return model, sha256_file(directory / "model.safetensors")
