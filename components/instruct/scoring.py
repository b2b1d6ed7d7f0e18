"""Scoring answers to a prompt with a reward model (`components.instruct.reward`), as `webtext reward`
does.

Each answer is read as training read it (`reward.answer_tokens`): the user's prompt and the answer in
the chat format, ending in the answer's `<|endoftext|>`, whose hidden state the head reads; longer
than the context, the newest tokens, since the head must see the end of the answer. So a reward here
is on the scale training and normalisation set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from webtext.components.instruct.chat import Turn
from webtext.components.instruct.reward import RewardModel, answer_tokens, score


def score_answers(model: RewardModel, encode: Callable[[str], list[int]], eot_id: int, prompt: str,
                  answers: Sequence[str]) -> list[float]:
    """The reward of each of `answers` to the user's `prompt`, in order: higher is better, and 0 the
    mean of what the model was normalised on."""
    block = model.gpt.config.block_size
    question = [Turn("user", prompt)]
    sequences = [answer_tokens(encode, eot_id, question, answer, block) for answer in answers]
    return score(model, sequences, pad_id=eot_id).tolist()
