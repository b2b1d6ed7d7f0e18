"""What an SFT run and a reward-model run hand on, and loading them back.

Both write `model.safetensors` and `config.json` as every run does (`components.model.checkpoint`):
- an SFT model is a plain GPT (LoRA adapters, if it had any, merged in), so it generates, evaluates and
  exports as any GPT; its config.json adds `chat`: the chat format it was trained on, which `webtext
  chat` and the export's `chat_template` read;
- a reward model's weights are `RewardModel`'s (`gpt.*`, the scalar `head.*` and the normalising
  `offset`); its config.json adds `reward`: what the score is read from and what it was normalised on.
"""

from __future__ import annotations

from pathlib import Path

from webtext.components.errors import InputError
from webtext.components.instruct.chat import CHAT_TEMPLATE
from webtext.components.instruct.reward import RewardModel
from webtext.components.model.checkpoint import CHAT, REWARD, verified_config
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.records import WEIGHTS

CHAT_FORMAT = "hh"  # components.instruct.chat: Anthropic HH's text form


def chat_config(gpt: GPTConfig) -> dict:
    """An SFT model's config.json: the shape and the chat format (with its transformers template)."""
    return {**gpt.to_dict(), CHAT: {"format": CHAT_FORMAT, "template": CHAT_TEMPLATE}}


def reward_config(gpt: GPTConfig, normalised_on: str) -> dict:
    """A reward model's config.json: the shape, the chat format it reads, and what its rewards average
    0 on (`normalised_on`: the demonstrations or the chosen answers it was normalised with)."""
    return {**gpt.to_dict(), REWARD: {"format": CHAT_FORMAT, "score": "final token",
                                      "normalised_on": normalised_on}}


def chat_format(sections: dict[str, dict], directory: Path) -> str:
    """The chat format a checkpoint was trained on; an InputError naming `directory` for one it was not
    (a pretrained GPT continues text: it has no turns to take)."""
    section = sections.get(CHAT) or sections.get(REWARD)
    if section is None:
        raise InputError(f"checkpoint {directory} was not trained on conversations (no `chat` section in "
                         f"its config.json): `webtext generate` continues text with it; train it with the "
                         f"sft stage to chat")
    if section.get("format") != CHAT_FORMAT:
        raise InputError(f"checkpoint {directory}: chat format {section.get('format')!r} is not one this "
                         f"version of webtext reads ({CHAT_FORMAT!r})")
    return CHAT_FORMAT


def load_reward(directory: Path, sha256: str) -> RewardModel:
    """The reward model in `directory`, in eval mode, its weights verified against `sha256` first."""
    from safetensors.torch import load_model as load_weights

    config, sections = verified_config(directory, sha256)
    if REWARD not in sections:
        raise InputError(f"checkpoint {directory} is not a reward model (no `reward` section in its "
                         f"config.json): the reward stage trains one")
    chat_format(sections, directory)
    model = RewardModel(GPT(config))
    load_weights(model, str(directory / WEIGHTS))
    return model.eval()
