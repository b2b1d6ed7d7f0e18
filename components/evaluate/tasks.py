"""Zero- and few-shot tasks scored by the language model alone.

- last_word (LAMBADA, as GPT-2 and lm-evaluation-harness's `lambada_openai`): the context is the
  passage without its last word, the target `" " + last word`. `acc`: greedy decoding yields the whole
  target; `ppl`: exp of the mean negative log-likelihood of the target, per example.
- multiple_choice: each answer `" " + answer` after the context, scored by its log-likelihood summed
  (`acc`, GPT-2), divided by its tokens (`acc_token`, GPT-3) and by the characters of the answer
  without its leading space (`acc_norm`, lm-evaluation-harness).

K-shot (GPT-3, section 2): K solved examples from the shots split, each as its context followed by
its answer, joined by blank lines before the example's own context. They are drawn as
lm-evaluation-harness's default sampler draws them, from one generator seeded with `seed` per task, so
that with its `fewshot_random_seed` equal to ours the prompts are its prompts. Shots that do not fit
the window are dropped from the front, the example itself always kept (lm-evaluation-harness cuts
tokens from the left instead: the two differ only on prompts longer than the window).

Prompts are tokenized whole, as lm-evaluation-harness does: the context and its continuation are
encoded as one text, and the continuation's tokens are what follows the context's own. Encoding the
parts apart would end every shot in a lone blank-line token that the whole text never has.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from webtext.components.config import EvalTaskConfig
from webtext.components.errors import InputError
from webtext.components.evaluate.scoring import Score, continuation, score

SHOT_SEPARATOR = "\n\n"
TARGET_DELIMITER = " "  # between a context and its continuation (lm-evaluation-harness's default)


@dataclass(frozen=True)
class Example:
    """A context, its candidate continuations (one for last_word) and the index of the right one."""

    context: str
    choices: tuple[str, ...]
    answer: int

    @property
    def solved(self) -> str:
        """The example as a shot: its context and the right answer."""
        return self.context + self.choices[self.answer]

    @property
    def text(self) -> str:
        """Everything the example says, for the contamination check."""
        return " ".join((self.context, *self.choices))


def last_word_example(passage: str) -> Example:
    """Split a passage at its last space: the context, and `" " + last word` to predict."""
    context, sep, word = passage.rstrip().rpartition(" ")
    if not sep or not context.strip() or not word:
        raise ValueError(f"passage {passage[:60]!r} has no last word after a context")
    return Example(context, (TARGET_DELIMITER + word,), 0)


def examples(task: EvalTaskConfig, rows: list[dict]) -> list[Example]:
    """The task's rows as Examples; a missing column or an unknown label names the row."""
    out = []
    labels = [str(v) for v in task.labels] if task.labels is not None else None
    for n, row in enumerate(rows):
        try:
            if task.type == "last_word":
                out.append(last_word_example(str(row[task.text])))
                continue
            context, *answers = (" ".join(str(row[c]) for c in f) if isinstance(f, list) else str(row[f])
                                 for f in task.fields)
            value = str(row[task.label])
        except KeyError as exc:
            raise InputError(f"task {task.name!r}: row {n} has no column {exc}; columns: "
                             f"{', '.join(row)}") from None
        except ValueError as exc:
            raise InputError(f"task {task.name!r}: row {n}: {exc}") from None
        names = labels or [str(i) for i in range(len(answers))]
        if value not in names:
            raise InputError(f"task {task.name!r}: row {n} has label {value!r}, not one of {names}")
        answer = names.index(value)
        if not answers[answer].strip():
            raise InputError(f"task {task.name!r}: row {n}: its right answer (column {answer + 1}) is empty")
        kept = [i for i, a in enumerate(answers) if a.strip()]  # fewer answers than columns
        out.append(Example(context, tuple(TARGET_DELIMITER + answers[i].strip() for i in kept),
                           kept.index(answer)))
    return out


def choose_shots(pool: Sequence[Example], k: int, rng: random.Random, exclude: Example | None = None
                 ) -> list[Example]:
    """K distinct examples of `pool`, never `exclude` (the example being scored), in random order.

    Drawn as lm-evaluation-harness's default sampler (`ContextSampler.sample`) draws them, so that the
    same generator state gives the same shots there and here: when `exclude` is in the pool (shots
    from the scored split), K + 1 are drawn and every copy of it dropped, and should copies leave fewer
    than K, K are drawn again from the pool without it; otherwise K are drawn."""
    candidates = [e for e in pool if e != exclude]
    if k > len(candidates):
        raise InputError(f"{k} shots asked for, but the shots split has only {len(candidates)} examples")
    if len(candidates) == len(pool):
        return rng.sample(pool, k)
    shots = [e for e in rng.sample(pool, k + 1) if e != exclude][:k]
    return shots if len(shots) == k else rng.sample(candidates, k)


def prompt(shots: Sequence[Example], context: str) -> str:
    """A K-shot context: the solved shots, then the example's own context, blank lines between."""
    return "".join(shot.solved + SHOT_SEPARATOR for shot in shots) + context


def encode_pair(encode: Callable[[str], list[int]], context: str, target: str) -> tuple[list[int], list[int]]:
    """The tokens of `context` and of `target` after it, split as lm-evaluation-harness splits them: the
    whole text is encoded at once and the target is what follows the context's own tokens, with any
    trailing whitespace of the context moved to the target first."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, target = context[:-spaces], context[-spaces:] + target
    context_tokens = encode(context)
    return context_tokens, encode(context + target)[len(context_tokens):]


def _requests(example: Example, shots: Sequence[Example], encode: Callable[[str], list[int]],
              block_size: int) -> list[tuple[list[int], int]]:
    """One request per choice. Shots that do not fit the window with the longest choice go, first
    ones first; the example's own context is then cut from the left by `continuation`."""
    shots = list(shots)
    while True:
        pairs = [encode_pair(encode, prompt(shots, example.context), choice) for choice in example.choices]
        if not shots or max(len(c) + len(t) for c, t in pairs) <= block_size + 1:
            return [continuation(context, target, block_size) for context, target in pairs]
        shots.pop(0)


@dataclass(frozen=True)
class TaskResult:
    """Each example's scores (one Score per choice), from which the metrics of it or of any subset of
    its examples follow (the clean subset: those sharing no n-gram with the training corpus)."""

    task_type: str
    items: list[Example]
    scores: list[list[Score]]
    vocab_size: int

    @property
    def n_examples(self) -> int:
        return len(self.items)

    @property
    def metrics(self) -> dict[str, float]:
        return task_metrics(self.task_type, self.items, self.scores)

    @property
    def chance(self) -> float:
        """The accuracy of a uniform guess: among an example's answers, or, for a last word, over the
        vocabulary at each of its tokens."""
        if self.task_type == "last_word":
            return math.fsum(self.vocab_size ** -s[0].n_tokens for s in self.scores) / self.n_examples
        return math.fsum(1 / len(e.choices) for e in self.items) / self.n_examples

    def subset(self, keep: Sequence[bool]) -> TaskResult | None:
        """The result on the examples `keep` marks; None when it marks none."""
        if len(keep) != self.n_examples:
            raise ValueError(f"{len(keep)} flags for {self.n_examples} examples")
        kept = [i for i, k in enumerate(keep) if k]
        if not kept:
            return None
        return TaskResult(self.task_type, [self.items[i] for i in kept], [self.scores[i] for i in kept],
                          self.vocab_size)


def task_metrics(task_type: str, items: list[Example], scores: list[list[Score]]) -> dict[str, float]:
    """The metrics of a task from each example's scores (one Score per choice)."""
    if task_type == "last_word":
        lls = [s[0].logprob for s in scores]
        return {"acc": sum(s[0].greedy for s in scores) / len(scores),
                "ppl": math.exp(-math.fsum(lls) / len(lls))}
    hits = {"acc": 0, "acc_token": 0, "acc_norm": 0}
    for example, choice_scores in zip(items, scores, strict=True):
        by = {"acc": [s.logprob for s in choice_scores],
              "acc_token": [s.logprob / s.n_tokens for s in choice_scores],
              "acc_norm": [s.logprob / len(c.removeprefix(TARGET_DELIMITER))
                           for s, c in zip(choice_scores, example.choices, strict=True)]}
        for metric, values in by.items():
            hits[metric] += max(range(len(values)), key=values.__getitem__) == example.answer
    return {metric: n / len(items) for metric, n in hits.items()}


def evaluate_task(model, task: EvalTaskConfig, items: list[Example], shots_pool: list[Example],
                  encode: Callable[[str], list[int]], *, batch_size: int, device: str, seed: int
                  ) -> TaskResult:
    """Score every example of a task. K-shot contexts are drawn, example after example, from one
    generator seeded with `seed` alone, as lm-evaluation-harness seeds each task's sampler with its
    `fewshot_random_seed`: the same seed, shots pool and examples in order give its shots."""
    if not items:
        raise InputError(f"task {task.name!r} has no examples to score")
    rng = random.Random(seed)
    requests, spans = [], []
    for example in items:
        shots = choose_shots(shots_pool, task.shots, rng, exclude=example) if task.shots else []
        mine = _requests(example, shots, encode, model.config.block_size)
        spans.append((len(requests), len(mine)))
        requests += mine
    scores = score(model, requests, batch_size=batch_size, device=device)
    grouped = [scores[at:at + n] for at, n in spans]
    return TaskResult(task.type, items, grouped, model.config.vocab_size)
