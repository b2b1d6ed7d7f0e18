"""Loading the weights a run handed on: `model.safetensors` + `config.json`, checked against the
sha256 the warehouse recorded before anything is read (safetensors holds no code, but a damaged or
swapped file must not pass for the registered checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path

from webtext.components.errors import InputError
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.records import CONFIG, WEIGHTS, weights_verify


def load_model(directory: Path, sha256: str) -> GPT:
    """The GPT in `directory`, in eval mode, after its weights are verified against `sha256`."""
    from safetensors.torch import load_model as load_weights

    weights = directory / WEIGHTS
    if not weights_verify(directory, sha256):
        raise InputError(
            f"checkpoint {directory}: {WEIGHTS} is missing or does not match its recorded sha256")
    try:
        config = GPTConfig(**json.loads((directory / CONFIG).read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"checkpoint {directory}: {CONFIG} cannot be read: {exc}") from exc
    model = GPT(config)
    load_weights(model, str(weights))
    return model.eval()
