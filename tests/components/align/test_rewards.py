"""What PPO maximises besides a reward model and a rule: a fine-tuned classifier's log-odds of a label
for the answer, the same probability `webtext predict` gives the answer's text; a task whose head does
not classify one text, or a label it does not have, is refused naming it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from webtext.components.align.rewards import ClassifierReward
from webtext.components.align.rollout import Rollout
from webtext.components.config import TaskConfig
from webtext.components.errors import InputError
from webtext.components.finetune.checkpoint import Finetuned
from webtext.components.finetune.formats import Markers
from webtext.components.finetune.heads import TaskModel
from webtext.components.finetune.predict import predict
from webtext.components.model.gpt import GPT, GPTConfig

STOP = 255  # bytes are the tokens here; no ASCII text holds this one


def encode(text: str) -> list[int]:
    return list(text.encode())


def classifier(task_type: str = "classification") -> Finetuned:
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=256, block_size=32, n_layer=1, n_head=2, n_embd=16))
    model = TaskModel(gpt, task_type, 2, dropout=0.0)
    nn.init.normal_(model.head.weight, std=2.0)  # a head that tells texts apart
    task = TaskConfig(name="sentiment", type=task_type, fields=["sentence"], labels=["0", "1"],
                      files={"train": "train.tsv"})
    return Finetuned(model.eval(), task, Markers())


def rollout(answers: list[str]) -> Rollout:
    """The answers after a two-token prompt; ended ones stop, the rest run to the block's end."""
    ids = [encode(a) for a in answers]
    width = max(map(len, ids)) + 1
    answer_tokens = torch.tensor([row + [STOP] * (width - len(row)) for row in ids])
    prompts = [[104, 105]] * len(answers)
    mask = torch.arange(width)[None] <= torch.tensor([len(row) for row in ids])[:, None]
    tokens = torch.cat([torch.tensor(prompts), answer_tokens], 1)
    return Rollout(tokens, torch.zeros(len(ids), dtype=torch.long), 2, mask, prompts)


def test_a_classifier_rewards_the_log_odds_of_its_label_as_predict_gives_it():
    finetuned = classifier()
    answers = ["a lovely film", "dull and slow", "", "what a wonderful evening at the harbour"]
    rewards = ClassifierReward(finetuned, "1", STOP)(rollout(answers), [])
    positive = torch.tensor([row["probabilities"]["1"] for row in
                             predict(finetuned, [{"sentence": a} for a in answers], encode)])
    assert torch.allclose(torch.sigmoid(rewards), positive, atol=1e-6)  # log p / (1 - p)
    assert rewards.std() > 0.1  # the answers are told apart
    negative = ClassifierReward(finetuned, "0", STOP)(rollout(answers), [])
    assert torch.allclose(negative, -rewards, atol=1e-4)


def test_a_classifier_that_cannot_score_an_answer_is_refused_naming_it():
    with pytest.raises(InputError, match="align.label '2' is not a label of task 'sentiment' \\(0, 1\\)"):
        ClassifierReward(classifier(), "2", STOP)
    with pytest.raises(InputError, match="task 'sentiment' \\(entailment\\) does not classify one text"):
        ClassifierReward(classifier("entailment"), "1", STOP)
