"""The chat format: its ids are the rendered text's tokenized at once, only answers are trained, and
transformers' `apply_chat_template` on the export gives the same ids."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.components.instruct.tokenizer import train_tokenizer
from webtext.components.instruct.chat import (
    CHAT_TEMPLATE,
    Turn,
    encode_chat,
    generation_prompt,
    render,
    write_chat_template,
)
from webtext.components.tokenize.bpe import END_OF_TEXT, tiktoken_encoding

EOT = 0
DIALOGUE = (
    Turn("system", "Answer briefly."),
    Turn("user", "What is the capital of France? "),  # trailing space: " \n" joins it to the next marker
    Turn("assistant", "The capital of France is Paris."),
    Turn("user", "Grüße aus Köln 😀"),
    Turn("assistant", " Hallo!\n- red "),  # leading and trailing whitespace of its own
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokenizer")
    encode = train_tokenizer(directory)
    write_chat_template(directory)
    return directory, encode


def whole(directory, text: str) -> list[int]:
    """`text` tokenized at once, `<|endoftext|>` read as the special token."""
    encoding = tiktoken_encoding(directory / "tokenizer.json")
    return encoding.encode(text, allowed_special={END_OF_TEXT}, disallowed_special=())


def test_render_and_generation_prompt_follow_hh():
    assert render(DIALOGUE) == (
        "Answer briefly.\n\nHuman: What is the capital of France? \n\nAssistant: The capital of France "
        "is Paris.<|endoftext|>\n\nHuman: Grüße aus Köln 😀\n\nAssistant:  Hallo!\n- red <|endoftext|>")
    assert generation_prompt(DIALOGUE[:4]) == render(DIALOGUE[:4]) + "\n\nAssistant:"


def test_ids_are_the_rendered_text_tokenized_whole_not_turn_by_turn(exported):
    directory, encode = exported
    ids, _ = encode_chat(encode, EOT, DIALOGUE)
    assert ids == whole(directory, render(DIALOGUE))
    turn_by_turn = encode("Answer briefly.") + encode("\n\nHuman: What is the capital of France? ")
    assert ids[:len(turn_by_turn)] != turn_by_turn  # the trailing space and the newlines are one token


def test_only_answers_and_their_end_of_text_are_trained(exported):
    directory, encode = exported
    ids, mask = encode_chat(encode, EOT, DIALOGUE)
    encoding = tiktoken_encoding(directory / "tokenizer.json")
    trained = encoding.decode([i for i, m in zip(ids, mask) if m])
    assert trained == f" The capital of France is Paris.{END_OF_TEXT}  Hallo!\n- red {END_OF_TEXT}"
    assert ids[-1] == EOT and mask[-1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("ab :\n \tü😀'sH"), max_size=12), min_size=2, max_size=5))
def test_any_turn_texts_give_the_whole_texts_ids(exported, texts):
    directory, encode = exported
    turns = [Turn("user" if i % 2 == 0 else "assistant", text) for i, text in enumerate(texts)]
    for add_generation_prompt, text in ((False, render(turns)), (True, generation_prompt(turns))):
        ids, mask = encode_chat(encode, EOT, turns, add_generation_prompt=add_generation_prompt)
        assert ids == whole(directory, text)
        assert sum(mask) == sum(len(encode(f" {t.content}")) + 1 for t in turns if t.role == "assistant")


def test_a_tokenizer_that_joins_marker_and_answer_is_refused():
    def joining(text: str) -> list[int]:  # characters, but ": " is one token
        return [ord(c) for c in text.replace(": ", "\x01")]

    with pytest.raises(ValueError, match="no token boundary"):
        encode_chat(joining, EOT, [Turn("user", "hi"), Turn("assistant", "yo")])


def test_a_system_turn_after_the_first_is_refused():
    with pytest.raises(ValueError, match="turn 1: a system turn may only come first"):
        render([Turn("user", "hi"), Turn("system", "be brief")])


@pytest.mark.parametrize("add_generation_prompt", [False, True])
def test_apply_chat_template_on_the_export_gives_our_ids(exported, add_generation_prompt):
    transformers = pytest.importorskip("transformers")
    directory, encode = exported
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    turns = DIALOGUE[:4] if add_generation_prompt else DIALOGUE
    messages = [{"role": t.role, "content": t.content} for t in turns]
    ids, _ = encode_chat(encode, EOT, turns, add_generation_prompt=add_generation_prompt)
    theirs = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                           add_generation_prompt=add_generation_prompt)["input_ids"]
    assert theirs == ids
    text = tokenizer.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=add_generation_prompt)
    assert text == (generation_prompt(turns) if add_generation_prompt else render(turns))


def test_the_template_refuses_what_render_refuses(exported):
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(exported[0])
    with pytest.raises(Exception, match="turn 1"):
        tokenizer.apply_chat_template([{"role": "user", "content": "hi"}, {"role": "system", "content": "x"}],
                                      tokenize=False)


def test_writing_the_template_keeps_the_exports_other_keys(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"pad_token": "x", "chat_template": "old"}))
    write_chat_template(tmp_path)
    assert json.loads((tmp_path / "tokenizer_config.json").read_text()) == {
        "pad_token": "x", "chat_template": CHAT_TEMPLATE}
    write_chat_template(tmp_path / "fresh")
    config = json.loads((tmp_path / "fresh" / "tokenizer_config.json").read_text())
    assert config["chat_template"] == CHAT_TEMPLATE and config["eos_token"] == END_OF_TEXT
