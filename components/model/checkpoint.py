"""Loading the weights a run handed on: `model.safetensors` + `config.json`, checked against the
sha256 the warehouse recorded before anything is read (safetensors holds no code, but a damaged or
swapped file must not pass for the registered checkpoint).

`config.json` is the model's shape (`GPTConfig`) and, for a model trained after pretraining, one
section saying what it became:
- `task`: a fine-tuned task head and how its inputs are framed (`components.finetune.checkpoint`);
- `reward`: a reward model, a scalar head on the GPT (`components.instruct.checkpoint`);
- `chat`: a GPT fine-tuned on demonstrations (SFT), which generates like any GPT and reads
  conversations in the chat format the section names (`components.instruct.chat`).
"""

from __future__ import annotations

import json
from pathlib import Path

from webtext.components.errors import InputError
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.records import CONFIG, WEIGHTS, weights_verify

TASK, REWARD, CHAT = "task", "reward", "chat"  # the sections a config.json may carry beside the shape
SECTIONS = (TASK, REWARD, CHAT)


def verified_config(directory: Path, sha256: str) -> tuple[GPTConfig, dict[str, dict]]:
    """The shape in `directory`'s config.json and its sections (by key; none for a pretrained
    checkpoint), once its weights match `sha256`."""
    if not weights_verify(directory, sha256):
        raise InputError(
            f"checkpoint {directory}: {WEIGHTS} is missing or does not match its recorded sha256")
    try:
        raw = json.loads((directory / CONFIG).read_text())
        sections = {key: raw.pop(key) for key in SECTIONS if key in raw}
        return GPTConfig(**raw), sections
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise InputError(f"checkpoint {directory}: {CONFIG} cannot be read: {exc}") from exc


def load_model(directory: Path, sha256: str) -> GPT:
    """The GPT in `directory`, in eval mode, after its weights are verified against `sha256`. A
    fine-tuned task model or a reward model is refused: its weights are a head's too
    (`load_finetuned`, `load_reward` load them)."""
    from safetensors.torch import load_model as load_weights

    config, sections = verified_config(directory, sha256)
    if TASK in sections:
        task = sections[TASK]
        kind = task.get("type", "?") if isinstance(task, dict) else task
        raise InputError(f"checkpoint {directory} is fine-tuned ({kind}): it predicts task labels and does "
                         f"not generate text; `webtext predict` runs it")
    if REWARD in sections:
        raise InputError(f"checkpoint {directory} is a reward model: it scores answers and does not "
                         f"generate text; `webtext reward` runs it")
    model = GPT(config)
    load_weights(model, str(directory / WEIGHTS))
    return model.eval()
