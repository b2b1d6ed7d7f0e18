"""Loading the weights a run handed on: `model.safetensors` + `config.json`, checked against the
sha256 the warehouse recorded before anything is read (safetensors holds no code, but a damaged or
swapped file must not pass for the registered checkpoint).

`config.json` is the model's shape (`GPTConfig`); a fine-tuned checkpoint adds one key, `task`: its
head and how inputs are framed (`components.finetune.checkpoint` reads it and loads such weights).
"""

from __future__ import annotations

import json
from pathlib import Path

from webtext.components.errors import InputError
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.records import CONFIG, WEIGHTS, weights_verify

TASK = "task"  # the key of a fine-tuned checkpoint's task section in its config.json


def verified_config(directory: Path, sha256: str) -> tuple[GPTConfig, dict | None]:
    """The shape in `directory`'s config.json and its task section (None unless fine-tuned), once its
    weights match `sha256`."""
    if not weights_verify(directory, sha256):
        raise InputError(
            f"checkpoint {directory}: {WEIGHTS} is missing or does not match its recorded sha256")
    try:
        raw = json.loads((directory / CONFIG).read_text())
        task = raw.pop(TASK, None)
        return GPTConfig(**raw), task
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise InputError(f"checkpoint {directory}: {CONFIG} cannot be read: {exc}") from exc


def load_model(directory: Path, sha256: str) -> GPT:
    """The GPT in `directory`, in eval mode, after its weights are verified against `sha256`. A
    fine-tuned checkpoint is refused: its weights are a task model's (`load_finetuned` loads them)."""
    from safetensors.torch import load_model as load_weights

    config, task = verified_config(directory, sha256)
    if task is not None:
        kind = task.get("type", "?") if isinstance(task, dict) else task
        raise InputError(f"checkpoint {directory} is fine-tuned ({kind}): it predicts task labels and does "
                         f"not generate text; `webtext predict` runs it")
    model = GPT(config)
    load_weights(model, str(directory / WEIGHTS))
    return model.eval()
