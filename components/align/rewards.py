"""What PPO maximises, and what judges an aligned model: a score for each answer of a rollout.

Scorers are modules, so the models inside them move with the policy to its device; their weights are
frozen. A reward model (`ModelReward`) scores prompt + answer as it was trained to; a rule
(`RuleReward`) gives 1 to an answer that names every word its prompt requires and 0 otherwise, a judge
no model in the loop was trained on, so a rise in the reward model's score that the rule does not share
shows reward hacking; a fine-tuned classifier (`ClassifierReward`) scores the answer alone, as Ziegler
et al. (2019) rewarded continuations of movie reviews by a sentiment classifier's log-odds.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from webtext.components.align.rollout import Rollout, model_scores
from webtext.components.config import TaskConfig
from webtext.components.errors import InputError
from webtext.components.finetune.checkpoint import Finetuned
from webtext.components.finetune.formats import transform
from webtext.components.finetune.heads import collate
from webtext.components.instruct.data import Prompt
from webtext.components.instruct.reward import RewardModel


def frozen(model: nn.Module) -> nn.Module:
    """`model` in eval mode with no parameter trained."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model.eval()


class Scorer(nn.Module):
    def forward(self, rollout: Rollout, prompts: list[Prompt]) -> torch.Tensor:
        """The score (B,) of each answer of `rollout` to `prompts`."""
        raise NotImplementedError


class ModelReward(Scorer):
    """A reward model's score of the prompt and the answer, ended with `<|endoftext|>` as in training."""

    def __init__(self, model: RewardModel, stop: int):
        super().__init__()
        self.model, self.stop = frozen(model), stop

    def forward(self, rollout: Rollout, prompts: list[Prompt]) -> torch.Tensor:
        return model_scores(self.model, rollout, self.stop)


class RuleReward(Scorer):
    """1 for an answer naming every word its prompt requires (`Prompt.satisfied`), else 0."""

    def __init__(self, decode: Callable[[list[int]], str], stop: int):
        super().__init__()
        self.decode, self.stop = decode, stop

    def forward(self, rollout: Rollout, prompts: list[Prompt]) -> torch.Tensor:
        answers = [self.decode(ids) for ids in rollout.answers(self.stop)]
        return torch.tensor([float(p.satisfied(a)) for p, a in zip(prompts, answers, strict=True)])


def rewarded_label(task: TaskConfig, label: str) -> int:
    """The head output of `label`, for a task that classifies one text into labels; an InputError
    naming the task otherwise."""
    labels = [str(value) for value in task.labels or ()]
    if task.type != "classification" or task.regression:
        kind = "a regression" if task.regression else task.type
        raise InputError(f"align.classifier: task {task.name!r} ({kind}) does not classify one text, "
                         f"as the reward needs")
    if label not in labels:
        raise InputError(f"align.label {label!r} is not a label of task {task.name!r} ({', '.join(labels)})")
    return labels.index(label)


class ClassifierReward(Scorer):
    """A fine-tuned classifier's log-odds of `label`, log p(label) - log p(not label), for the answer
    framed as in fine-tuning. It reads the policy's token ids, so it must share the policy's tokenizer."""

    def __init__(self, finetuned: Finetuned, label: str, stop: int):
        super().__init__()
        self.model, self.markers, self.stop = frozen(finetuned.model), finetuned.markers, stop
        self.label = rewarded_label(finetuned.task, label)

    def forward(self, rollout: Rollout, prompts: list[Prompt]) -> torch.Tensor:
        block = self.model.gpt.config.block_size
        framed = [(transform("classification", [ids], self.markers, block), 0)
                  for ids in rollout.answers(self.stop)]
        device = next(self.model.parameters()).device
        log_p = self.model.scores(collate(framed).to(device)).float().log_softmax(-1)
        others = log_p.index_fill(1, torch.tensor([self.label], device=device), float("-inf"))
        return log_p[:, self.label] - others.logsumexp(-1)
