"""A reward model in the format transformers' GPT2ForSequenceClassification (pre-LN) or
OpenAIGPTForSequenceClassification (post-LN) loads with one label: the layout TRL's reward trainer
writes and its PPO trainer reads, with rewards equal to ours.

Those models score a sequence at its rightmost token that is not `pad_token_id`; ours reads the
answer's `<|endoftext|>`, which ends every scored sequence but may also end earlier turns. So the pad
token is `<|start|>`, a special token no conversation holds (its spelling in text encodes as text), and
the exported tokenizer pads with it on the right. The head's bias less the normalising offset is folded
into the last LayerNorm's bias (transformers' `score` has none), as a fine-tuned classifier's is
(`components.finetune.export`). The tokenizer carries the chat format's `chat_template`:
`apply_chat_template(prompt + [answer])` gives the ids the reward model was trained on.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from webtext.components.finetune.export import ARCHITECTURES, folded_state_dict
from webtext.components.instruct.chat import CHAT_TEMPLATE
from webtext.components.instruct.reward import RewardModel
from webtext.components.tokenize.bpe import START, transformers_tokenizer_config


def reward_export(model: RewardModel, tokenizer_json: Path, eot_id: int
                  ) -> tuple[dict, dict[str, torch.Tensor], dict[str, str]]:
    """The transformers config, tensors and tokenizer files of a reward model."""
    from webtext.components.model.hf import hf_config

    gpt = model.gpt.config
    pad_id = json.loads(tokenizer_json.read_text())["model"]["vocab"][START]
    config = {**hf_config(gpt, eot_id), "architectures": [ARCHITECTURES[gpt.pre_ln]], "pad_token_id": pad_id,
              "id2label": {0: "reward"}, "label2id": {"reward": 0}}
    bias = model.head.bias.detach().double() - model.offset.detach().double()
    tensors = folded_state_dict(model.gpt, model.head.weight, bias)
    tokenizer_config = {**transformers_tokenizer_config(), "pad_token": START, "padding_side": "right",
                        "model_max_length": gpt.block_size, "truncation_side": "left",
                        "chat_template": CHAT_TEMPLATE}
    return config, tensors, {"tokenizer.json": tokenizer_json.read_text(),
                             "tokenizer_config.json": json.dumps(tokenizer_config, indent=1) + "\n"}
