"""A fine-tuned classifier in the format transformers' GPT2ForSequenceClassification (pre-LN) or
OpenAIGPTForSequenceClassification (GPT-1's post-LN) loads, with logits equal to ours.

Those models score one sequence at its last token that is not `pad_token_id`; our head reads the
`extract` token, which ends every framed input. So:

- `pad_token_id` is `<|endoftext|>`, which no framed input holds (a special token's spelling in text
  encodes as text): the last non-pad token is `extract`, in a padded batch or alone;
- the exported tokenizer frames as fine-tuning did: `tokenizer(text)` gives `start text extract` and
  `tokenizer(premise, hypothesis)` gives `start premise delimiter hypothesis extract`; it pads with
  `<|endoftext|>`, reads special-token spellings in text as text, and returns no `token_type_ids`
  (both models would add them to the input as token embeddings);
- their `score` layer has no bias. Ours is folded into the bias of the last LayerNorm (GPT-2's `ln_f`,
  GPT-1's last `ln_2`), which there feeds only `score`: a vector d with W d = b is added to it, so the
  logits are ours and the exported hidden states differ from ours by d.

Refused, because transformers has no class that computes them: multiple choice (a score per answer
sequence, normalised across an example's answers: AutoModelForMultipleChoice has no GPT-2 or GPT-1
model, and their DoubleHeads models need each answer's extract position passed by hand) and similarity
(the head reads the sum of the final states of both orders, (a, b) and (b, a); a sequence classifier
reads one sequence).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from webtext.components.config import TaskConfig
from webtext.components.finetune.checkpoint import Finetuned
from webtext.components.finetune.heads import TaskModel
from webtext.components.model.gpt import GPT

ARCHITECTURES = {True: "GPT2ForSequenceClassification", False: "OpenAIGPTForSequenceClassification"}
_FOLD_TOLERANCE = 1e-6  # of W d - b: float64 least squares on a full-rank head lands far below it


def refuse_task(task: TaskConfig) -> None:
    """A ValueError saying why a task's head has no transformers equivalent; nothing when it has one."""
    if task.type == "multiple_choice":
        raise ValueError("a multiple-choice head scores each answer's sequence and normalises across the "
                         "answers; transformers has no GPT-2 or GPT-1 model for multiple choice "
                         "(AutoModelForMultipleChoice), so it cannot be exported; `webtext predict` runs it")
    if task.type == "similarity":
        raise ValueError("a similarity head reads the sum of the final states of both orders, (a, b) and "
                         "(b, a); transformers' sequence classifiers read one sequence, so it cannot be "
                         "exported; `webtext predict` runs it")


def classifier_config(finetuned: Finetuned, eot_id: int) -> dict:
    """The transformers `config.json`: the backbone's, with the classifier's labels and padding."""
    from webtext.components.model.hf import hf_config

    task, gpt = finetuned.task, finetuned.model.gpt.config
    names = ["value"] if task.regression else [str(label) for label in task.labels]  # one output: a score
    return {**hf_config(gpt, eot_id), "architectures": [ARCHITECTURES[gpt.pre_ln]], "pad_token_id": eot_id,
            "id2label": dict(enumerate(names)), "label2id": {name: i for i, name in enumerate(names)}}


def _last_norm_bias(gpt: GPT) -> str:
    """The name of the bias the final hidden states end with: GPT-2's `ln_f`, GPT-1's last `ln_2`."""
    config = gpt.config
    return "transformer.ln_f.bias" if config.pre_ln else f"transformer.h.{config.n_layer - 1}.ln_2.bias"


def classifier_state_dict(model: TaskModel) -> dict[str, torch.Tensor]:
    """The backbone in transformers' names and layout, `score.weight` from our head, and the head's
    bias folded into the last LayerNorm's bias."""
    return folded_state_dict(model.gpt, model.head.weight, model.head.bias)


def folded_state_dict(gpt: GPT, weight: torch.Tensor, bias: torch.Tensor) -> dict[str, torch.Tensor]:
    """`gpt` in transformers' names and layout with a linear head on its final states as `score.weight`,
    the head's `bias` folded into the last LayerNorm's bias (transformers' `score` has none)."""
    from webtext.components.model.hf import to_hf_state_dict

    weight, bias = weight.detach().double(), bias.detach().double()
    shift = torch.linalg.pinv(weight) @ bias  # the least-norm d with W d = b
    if (weight @ shift - bias).abs().max() > _FOLD_TOLERANCE * max(1.0, bias.abs().max().item()):
        raise ValueError("the head's rows are linearly dependent, so its bias cannot be folded into the "
                         "last LayerNorm; transformers' `score` layer has no bias of its own")
    tensors = to_hf_state_dict(gpt)
    name = _last_norm_bias(gpt)
    tensors[name] = (tensors[name].double() + shift).float().contiguous()
    tensors["score.weight"] = weight.float().contiguous()
    return tensors


def classifier_tokenizer_files(tokenizer_json: Path, finetuned: Finetuned) -> dict[str, str]:
    """`tokenizer.json` and `tokenizer_config.json` of a tokenizer that frames, pads and truncates
    inputs as the classifier reads them."""
    from tokenizers import Tokenizer, processors

    from webtext.components.tokenize.bpe import (
        DELIMITER,
        END_OF_TEXT,
        EXTRACT,
        START,
        transformers_tokenizer_config,
    )

    markers = finetuned.markers
    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{START} $A {EXTRACT}", pair=f"{START} $A {DELIMITER} $B:0 {EXTRACT}",
        special_tokens=[(START, markers.start), (DELIMITER, markers.delimiter), (EXTRACT, markers.extract)])
    config = {**transformers_tokenizer_config(), "pad_token": END_OF_TEXT, "padding_side": "right",
              "model_max_length": finetuned.model.gpt.config.block_size, "split_special_tokens": True,
              "model_input_names": ["input_ids", "attention_mask"]}
    return {"tokenizer.json": tokenizer.to_str(),
            "tokenizer_config.json": json.dumps(config, indent=1) + "\n"}


def classifier_export(directory: Path, weights_sha256: str, eot_id: int
                      ) -> tuple[dict, dict[str, torch.Tensor], dict[str, str]]:
    """The config, tensors and tokenizer files of the fine-tuned checkpoint in `directory` as a
    transformers sequence classifier; a ValueError naming why when its head has no equivalent."""
    from webtext.components.finetune.checkpoint import load_finetuned

    finetuned = load_finetuned(directory, weights_sha256)
    refuse_task(finetuned.task)
    return (classifier_config(finetuned, eot_id), classifier_state_dict(finetuned.model),
            classifier_tokenizer_files(directory / "tokenizer.json", finetuned))
