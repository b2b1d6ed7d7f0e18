"""The one chat format of every instruction-following stage: Anthropic HH's text form.

A conversation is a list of turns, each a role (`user`, `assistant`, or a `system` turn that may only
come first) and its text. It is rendered as

    {system}\\n\\nHuman: {user}\\n\\nAssistant: {assistant}<|endoftext|>\\n\\nHuman: {user} ...

- the system turn, when there is one, comes first as plain text;
- a user turn is "\\n\\nHuman: " and its text;
- an assistant turn is "\\n\\nAssistant: ", its text and `<|endoftext|>`, where a sampler stops;
- a model is asked for the next answer with the conversation so far and "\\n\\nAssistant:"
  (`generation_prompt`); the answer it writes starts with the space.

The markers are ordinary text, as in HH's datasets (Bai et al. 2022), so the BPE stays as trained and
no embedding is added; `<|endoftext|>` is already a special token (id 0) that pretraining put between
documents. Training predicts each answer (its leading space, its text, its `<|endoftext|>`) and nothing
else: system and user text and the markers are context (`encode_chat`'s mask).

The ids are those of the whole rendered text tokenized at once, `<|endoftext|>` read as the special
token; `transformers`' `apply_chat_template` with `CHAT_TEMPLATE` gives the same. An answer always
starts at a token boundary: GPT-2's pre-tokenizer splits between the colon of "Assistant:" and the space
after it, and tokenizers split at special tokens. Tokenizing each turn alone would not be the same: text
ending in whitespace shares one pre-token with the newlines of the next marker (" \\n").

Turn texts are read as text: a turn that spells `<|endoftext|>` cannot end itself. transformers reads
special-token spellings in the rendered text as the tokens, so for such a text (only) its ids differ.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from webtext.components.errors import InputError
from webtext.components.files import write_if_changed
from webtext.components.tokenize.bpe import (
    END_OF_TEXT,
    encode_document,
    tiktoken_encoding,
    transformers_tokenizer_config,
)

ROLES = ("system", "user", "assistant")
HUMAN, ASSISTANT = "\n\nHuman:", "\n\nAssistant:"

# The same rendering in Jinja, for `transformers`' `apply_chat_template` (which passes `messages` and
# `add_generation_prompt`, and `raise_exception` for a conversation the format cannot hold).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' and loop.first -%}{{ message['content'] }}"
    "{%- elif message['role'] == 'user' -%}{{ '\\n\\nHuman: ' + message['content'] }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ '\\n\\nAssistant: ' + message['content'] + '" + END_OF_TEXT + "' }}"
    "{%- else -%}{{ raise_exception('turn ' ~ loop.index0 ~ ': role ' ~ message['role'] ~ "
    "' is not user or assistant, or a system turn that is not first') }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '\\n\\nAssistant:' }}{%- endif -%}"
)


@dataclass(frozen=True)
class Turn:
    role: str  # one of ROLES
    content: str


def check(messages: Sequence[Turn]) -> None:
    """Raise ValueError naming the first turn the format cannot hold."""
    for i, turn in enumerate(messages):
        if turn.role not in ROLES:
            raise ValueError(f"turn {i}: role {turn.role!r} is not one of {', '.join(ROLES)}")
        if turn.role == "system" and i:
            raise ValueError(f"turn {i}: a system turn may only come first")
        if not isinstance(turn.content, str):
            raise ValueError(f"turn {i}: content is {type(turn.content).__name__}, not text")


def _exchanges(messages: Sequence[Turn], add_generation_prompt: bool) -> list[tuple[str, str | None]]:
    """The rendered text cut at each answer: (context, answer) pairs, the context being the text since
    the previous `<|endoftext|>` up to and including "\\n\\nAssistant:", the answer " {text}" (without
    its `<|endoftext|>`); the text after the last answer comes last, with answer None."""
    check(messages)
    out, context = [], ""
    for turn in messages:
        if turn.role == "assistant":
            out.append((context + ASSISTANT, f" {turn.content}"))
            context = ""
        else:
            context += turn.content if turn.role == "system" else f"{HUMAN} {turn.content}"
    out.append((context + (ASSISTANT if add_generation_prompt else ""), None))
    return out


def _text(exchanges: list[tuple[str, str | None]]) -> str:
    return "".join(context + ("" if answer is None else answer + END_OF_TEXT)
                   for context, answer in exchanges)


def render(messages: Sequence[Turn]) -> str:
    """The conversation as text."""
    return _text(_exchanges(messages, add_generation_prompt=False))


def generation_prompt(messages: Sequence[Turn]) -> str:
    """The text a model continues to write the next assistant turn: the conversation and
    "\\n\\nAssistant:"."""
    return _text(_exchanges(messages, add_generation_prompt=True))


def encode_chat(encode: Callable[[str], list[int]], eot_id: int, messages: Sequence[Turn], *,
                add_generation_prompt: bool = False) -> tuple[list[int], list[bool]]:
    """The conversation's ids (`render`'s text, or `generation_prompt`'s, tokenized at once) and for
    each id whether it is trained: the tokens of every answer and its `<|endoftext|>`.

    `encode` tokenizes ordinary text into a list (special-token spellings as text), e.g.
    `bpe.encode_document(encoding, text).tolist()` with a `tiktoken_encoding`. Each stretch between
    two `<|endoftext|>` is encoded whole and its answer found as the ids after those of its context
    alone, so a tokenizer whose tokens could cross from context into answer is refused rather than
    given a mask that splits a token."""
    ids: list[int] = []
    mask: list[bool] = []
    for context, answer in _exchanges(messages, add_generation_prompt):
        if answer is None:
            tail = list(encode(context))
            ids += tail
            mask += [False] * len(tail)
            continue
        head, whole = list(encode(context)), list(encode(context + answer))
        if whole[:len(head)] != head:
            raise ValueError(f"the tokenizer joins the end of {context[-20:]!r} and the start of "
                             f"{answer[:20]!r} in one token: the answer has no token boundary")
        ids += whole + [eot_id]
        mask += [False] * len(head) + [True] * (len(whole) - len(head) + 1)
    return ids, mask


def write_chat_template(directory: Path) -> None:
    """Put `CHAT_TEMPLATE` in the `tokenizer_config.json` of a transformers export in `directory`, so
    that `AutoTokenizer.from_pretrained(directory).apply_chat_template` renders this format. Other keys
    are kept (a missing file starts from `bpe.transformers_tokenizer_config`); written atomically,
    and left alone when it already holds the template."""
    path = directory / "tokenizer_config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        config = transformers_tokenizer_config()
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} cannot be read as JSON: {exc}") from exc
    config["chat_template"] = CHAT_TEMPLATE
    write_if_changed(path, (json.dumps(config, indent=1) + "\n").encode())


class Encoder:
    """A tokenizer.json as this format needs it: ordinary text to ids (special-token spellings as text,
    `encode_chat`'s `encode`), and the id of `<|endoftext|>`."""

    def __init__(self, tokenizer: Path):
        self.encoding = tiktoken_encoding(tokenizer)
        self.eot = self.encoding.encode_single_token(END_OF_TEXT)

    def __call__(self, text: str) -> list[int]:
        return encode_document(self.encoding, text).tolist()
