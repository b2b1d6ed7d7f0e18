"""How an aligned policy compares with the SFT model it started from, on held-out prompts.

Each prompt is answered once by the policy and once by the SFT model, both sampled with the same seed
(so a policy that has not moved gives the same answers: a win rate of exactly 0.5 and a KL of 0):

    reward      mean score of the policy's answers under what was maximised (reward model or rule)
    win_rate    share of prompts where that score beats the SFT answer's (a tie counts half)
    kl          mean KL(policy || SFT) per answer: at each of its tokens, the exact KL of the two
                next-token distributions, summed over the policy's own answer (never negative, and with
                less variance than the sampled log-ratio the PPO penalty uses)
    rule        share of the prompts that require words whose answer names them all: the independent
                judge when a reward model is maximised
    answer_tokens  mean answer length in tokens: a reward model that favours short or long answers
                shows here first (the commonest reward hack)
    lm_loss     the language-model loss (nats per token) on windows of the pretraining validation
                split, and `lm_loss_increase` over the SFT model's: what PPO-ptx guards

The SFT model's `reward`, `rule`, `answer_tokens` and `lm_loss` are the "before".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from webtext.components.align.rewards import Scorer
from webtext.components.align.rollout import Rollout, answer_logits, sample
from webtext.components.instruct.converse import fit_prompt
from webtext.components.instruct.data import Prompt
from webtext.components.model.gpt import GPT
from webtext.components.train.data import Windows
from webtext.components.train.distill import kl_divergence
from webtext.components.train.distributed import seed_of


@dataclass(frozen=True)
class PromptExample:
    ids: list[int]  # the generation prompt, room left for the answer
    prompt: Prompt


def prompt_examples(prompts: list[Prompt], encode, eot: int, block_size: int, max_new_tokens: int
                    ) -> list[PromptExample]:
    """Prompts as generation prompts that leave `max_new_tokens` of the context for the answer (the
    oldest exchanges dropped first, `converse.fit_prompt`)."""
    if max_new_tokens > block_size // 2:
        raise ValueError(f"max_new_tokens={max_new_tokens} leaves a prompt less than half of the model's "
                         f"context of {block_size} tokens: lower it to {block_size // 2} or less")
    return [PromptExample(fit_prompt(encode, eot, p.turns, block_size - max_new_tokens), p) for p in prompts]


@dataclass(frozen=True)
class Alignment:
    metrics: dict[str, float]  # the policy's (module docstring)
    baseline: dict[str, float]  # the SFT model's reward, rule and lm_loss
    answers: list[dict]  # the first `shown` prompts with both answers and their scores, for a reader


@torch.no_grad()
def evaluate(policy: GPT, reference: GPT, scorer: Scorer, examples: list[PromptExample], *, decode,
             stop: int, max_new_tokens: int, temperature: float, batch_size: int, seed: int,
             windows: Windows | None = None, lm_batches: int = 0, shown: int = 5) -> Alignment:
    """Score `policy` against `reference` on `examples` (module docstring)."""
    policy.eval(), reference.eval()
    device = next(policy.parameters()).device
    totals = {"reward": 0.0, "reference_reward": 0.0, "wins": 0.0, "kl": 0.0, "tokens": 0.0,
              "reference_tokens": 0.0}
    rule_hits, reference_hits, n_rule = 0, 0, 0
    answers = []
    for first in range(0, len(examples), batch_size):
        batch = examples[first:first + batch_size]
        prompts = [e.prompt for e in batch]
        drawn = {}
        for name, model in (("policy", policy), ("reference", reference)):
            generator = torch.Generator(device).manual_seed(seed_of(seed, first))
            drawn[name] = sample(model, [e.ids for e in batch], max_new_tokens, temperature, stop, generator)
        mine, theirs = drawn["policy"], drawn["reference"]
        score, reference_score = scorer(mine, prompts).float(), scorer(theirs, prompts).float()
        totals["reward"] += float(score.sum())
        totals["reference_reward"] += float(reference_score.sum())
        totals["wins"] += float((score > reference_score).sum() + 0.5 * (score == reference_score).sum())
        totals["kl"] += float(_kl(policy, reference, mine).sum())
        totals["tokens"] += float(mine.mask.sum())
        totals["reference_tokens"] += float(theirs.mask.sum())
        texts, reference_texts = _texts(mine, decode, stop), _texts(theirs, decode, stop)
        for prompt, text, reference_text in zip(prompts, texts, reference_texts, strict=True):
            if prompt.require:
                n_rule += 1
                rule_hits += prompt.satisfied(text)
                reference_hits += prompt.satisfied(reference_text)
        shown_here = list(zip(prompts, texts, reference_texts, reference_score.tolist(), score.tolist()))
        for prompt, text, reference_text, before, after in shown_here[:shown - len(answers)]:
            answers.append({"prompt": prompt.turns[-1].content, "require": list(prompt.require),
                            "before": reference_text, "after": text, "score_before": before,
                            "score_after": after})
    n = len(examples)
    metrics = {"reward": totals["reward"] / n, "win_rate": totals["wins"] / n, "kl": totals["kl"] / n,
               "answer_tokens": totals["tokens"] / n}
    baseline = {"reward": totals["reference_reward"] / n, "answer_tokens": totals["reference_tokens"] / n}
    if n_rule:
        metrics["rule"], baseline["rule"] = rule_hits / n_rule, reference_hits / n_rule
    if windows is not None and lm_batches:
        mine, theirs = (lm_loss(model, windows, batch_size, lm_batches, seed)
                        for model in (policy, reference))
        metrics.update(lm_loss=mine, lm_loss_increase=mine - theirs)
        baseline["lm_loss"] = theirs
    return Alignment(metrics, baseline, answers)


def _kl(policy: GPT, reference: GPT, rollout: Rollout) -> torch.Tensor:
    """KL(pi || pi_ref) of the next-token distributions summed over each answer's tokens (B,)."""
    divergence = kl_divergence(answer_logits(policy, rollout), answer_logits(reference, rollout))
    return (divergence * rollout.mask).sum(1)


def _texts(rollout: Rollout, decode, stop: int) -> list[str]:
    return [decode(ids).removeprefix(" ") for ids in rollout.answers(stop)]


@torch.no_grad()
def lm_loss(model: GPT, windows: Windows, batch_size: int, batches: int, seed: int) -> float:
    """The mean language-model loss on `batches` batches of windows drawn from `seed`: the same windows
    for every model scored with the same seed."""
    device = next(model.parameters()).device
    rng = np.random.default_rng([seed, 3])
    total = 0.0
    for _ in range(batches):
        x, y = windows.batch(rng, batch_size)
        total += float(model(x.to(device), y.to(device))[1])
    return total / batches
