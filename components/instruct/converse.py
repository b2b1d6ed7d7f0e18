"""Talking to a model fine-tuned on conversations (`components.instruct.chat`'s format).

A `Chat` keeps the turns so far and asks the model for each answer with the conversation and
"\\n\\nAssistant:" (`generation_prompt`), tokenized as training tokenized it (`encode_chat`), so the
model sees exactly the kind of text it learned to continue. It samples until `<|endoftext|>`, which
ends every answer it was trained on, and keeps the answer without the space the format puts before it
(rendering puts it back).

A conversation outgrows the context: the prompt keeps what fits before the room the answer needs,
dropping the oldest exchanges whole (a turn cut in half reads as one the user never wrote) and keeping
the system turn, which says how to answer; only when the system turn and the newest question alone do
not fit are the oldest tokens cut. The turns themselves are all kept: the conversation is the user's,
the window is the model's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from webtext.components.instruct.chat import Turn, encode_chat
from webtext.components.model.gpt import GPT, before_stop
from webtext.components.tokenize.bpe import END_OF_TEXT, encode_document


@dataclass(frozen=True)
class Sampling:
    """How answers are drawn (`GPT.generate`): temperature 0 is greedy; an answer that has not ended
    after `max_tokens` is cut there."""
    max_tokens: int = 128
    temperature: float = 0.7
    top_p: float | None = 0.9
    top_k: int | None = None


def answer_room(block_size: int, max_tokens: int) -> int:
    """The tokens of the context kept free for the answer: `max_tokens`, but at most half the context,
    so a small model still reads the question; an answer longer than that goes on with the context
    sliding past the prompt's start (`GPT.generate`)."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens={max_tokens} must be at least 1")
    return min(max_tokens, block_size // 2)


def fit_prompt(encode: Callable[[str], list[int]], eot_id: int, turns: Sequence[Turn], budget: int
               ) -> list[int]:
    """The ids of `turns`' generation prompt in at most `budget` tokens: the oldest exchanges (a user
    turn and the answer after it) dropped whole until it fits, a system turn kept; when the system turn
    and the last user turn alone are too long, their newest `budget` tokens, which still end in
    "\\n\\nAssistant:"."""
    if budget < 1:
        raise ValueError(f"a prompt budget of {budget} tokens holds no prompt")
    system = list(turns[:1]) if turns and turns[0].role == "system" else []
    history = turns[len(system):]
    for start in [0, *(i for i, turn in enumerate(history) if i and turn.role == "user")]:
        ids = encode_chat(encode, eot_id, [*system, *history[start:]], add_generation_prompt=True)[0]
        if len(ids) <= budget:
            return ids
    return ids[-budget:]


class Chat:
    """A conversation with `model` (a GPT trained on the chat format), tokenized by `encoding` (a
    `bpe.tiktoken_encoding`), optionally opened by a `system` turn; `seed` makes sampled answers
    repeat. The model is put in eval mode: dropout while sampling would answer as a weaker model."""

    def __init__(self, model: GPT, encoding, *, system: str | None = None, sampling: Sampling = Sampling(),
                 seed: int | None = None):
        self.model, self.encoding, self.sampling = model.eval(), encoding, sampling
        self.eot = encoding.encode_single_token(END_OF_TEXT)
        self.system = [Turn("system", system)] if system else []
        self.turns: list[Turn] = list(self.system)
        self.device = next(model.parameters()).device
        self.generator = None if seed is None else torch.Generator(self.device).manual_seed(seed)

    def encode(self, text: str) -> list[int]:
        return encode_document(self.encoding, text).tolist()

    def reply(self, text: str) -> str:
        """The model's answer to the user's `text`; both join the conversation once it is answered
        (an interrupted answer leaves the conversation as it was)."""
        turns = [*self.turns, Turn("user", text)]
        block = self.model.config.block_size
        ids = fit_prompt(self.encode, self.eot, turns, block - answer_room(block, self.sampling.max_tokens))
        prompt = torch.tensor([ids], device=self.device)
        s = self.sampling
        out = self.model.generate(prompt, s.max_tokens, temperature=s.temperature, top_k=s.top_k,
                                  top_p=s.top_p, generator=self.generator, stop=self.eot)
        answer = self.encoding.decode(before_stop(out[0, len(ids):].tolist(), self.eot)).removeprefix(" ")
        self.turns = [*turns, Turn("assistant", answer)]
        return answer

    def reset(self) -> None:
        """Forget the conversation, keeping the system turn."""
        self.turns = list(self.system)


def ask(model: GPT, encoding, prompt: str, *, system: str | None = None, sampling: Sampling = Sampling(),
        seed: int | None = None) -> str:
    """One answer to one question, with no conversation before it."""
    return Chat(model, encoding, system=system, sampling=sampling, seed=seed).reply(prompt)

