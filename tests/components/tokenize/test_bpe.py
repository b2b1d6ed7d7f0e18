"""Byte-level BPE: any text round-trips, tiktoken and tokenizers agree, special tokens sit at fixed ids."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webtext.components.errors import InputError
from webtext.components.sample.prose import stdlib_articles
from webtext.components.tokenize.bpe import (
    END_OF_TEXT,
    SPECIAL_TOKENS,
    encode_document,
    load,
    tiktoken_encoding,
    train,
    write_transformers_files,
)

VOCAB = 700
SCRIPTS = ("Grüße aus Köln. 서울에서 안녕하세요. 東京の天気は晴れ。 Emoji: 😀👍🏽 — “quotes”, "
           "tabs\tand\r\nbreaks.")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokenizer")
    texts = ["\n\n".join(article.paragraphs) for article in stdlib_articles(30)] + [SCRIPTS]
    size = train(iter(texts), directory / "tokenizer.json", vocab_size=VOCAB, min_frequency=2)
    write_transformers_files(directory)
    file = directory / "tokenizer.json"
    return directory, size, load(file), tiktoken_encoding(file)


def test_the_vocabulary_has_the_asked_size_and_special_tokens_first(trained):
    directory, size, hf, _ = trained
    assert size == VOCAB == hf.get_vocab_size()
    assert [hf.token_to_id(token) for token in SPECIAL_TOKENS] == [0, 1, 2, 3]
    merges = json.loads((directory / "tokenizer.json").read_text())["model"]["merges"]
    assert len(merges) == VOCAB - 256 - len(SPECIAL_TOKENS)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_any_text_round_trips_and_both_encoders_agree(trained, text):
    _, _, hf, encoding = trained
    ids = encode_document(encoding, text).tolist()
    assert ids == hf.encode(text).ids == encoding.encode_ordinary(text)
    assert encoding.decode(ids) == text == hf.decode(ids)


@pytest.mark.parametrize("text", [SCRIPTS, "\x00\x01\x7f control", " leading and trailing  ", "", "\n\n\n"])
def test_scripts_emoji_and_control_characters_round_trip(trained, text):
    _, _, hf, encoding = trained
    ids = encode_document(encoding, text).tolist()
    assert hf.encode(text).ids == ids and hf.decode(ids) == text


def test_special_token_spellings_in_text_are_ordinary_text(trained):
    _, _, hf, encoding = trained
    text = f"a page that quotes {END_OF_TEXT} and <|start|>"
    ids = encode_document(encoding, text).tolist()
    assert not set(ids) & {0, 1, 2, 3}
    assert hf.encode(text).ids == ids and encoding.decode(ids) == text


def test_invalid_utf8_becomes_the_replacement_character(trained):
    """Bytes that are not UTF-8 never reach the tokenizer: extraction decodes them to U+FFFD. A lone
    surrogate (invalid UTF-8 kept by surrogateescape) is encoded as U+FFFD too, as tiktoken does;
    decoding ids that end inside a character's bytes gives U+FFFD for the partial character."""
    _, _, hf, encoding = trained
    page = b"caf\xe9 \xff\xfe ok".decode("utf-8", errors="replace")
    assert encoding.decode(encode_document(encoding, page).tolist()) == page == "caf\ufffd \ufffd\ufffd ok"
    smuggled = b"a\xffb".decode("utf-8", errors="surrogateescape")
    assert encoding.decode(encode_document(encoding, smuggled).tolist()) == "a\ufffdb"
    ids = encode_document(encoding, "😀").tolist()
    assert encoding.decode(ids[:-1]).endswith("\ufffd") and hf.decode(ids[:-1]).endswith("\ufffd")


@pytest.mark.slow
def test_it_loads_as_a_transformers_fast_tokenizer(trained):
    transformers = pytest.importorskip("transformers")  # a dev dependency; missing only outside `make test`
    directory, _, hf, _ = trained
    fast = transformers.AutoTokenizer.from_pretrained(str(directory))
    assert fast.is_fast and fast.eos_token_id == 0 and len(fast) == VOCAB
    assert fast(SCRIPTS)["input_ids"] == hf.encode(SCRIPTS).ids
    assert fast.decode(hf.encode(SCRIPTS).ids) == SCRIPTS


def test_a_vocabulary_smaller_than_the_bytes_is_refused(tmp_path):
    with pytest.raises(InputError, match="vocab_size=100"):
        train(iter(["text"]), tmp_path / "t.json", vocab_size=100, min_frequency=1)
    assert not (tmp_path / "t.json").exists()


def test_a_missing_tokenizer_is_named(tmp_path):
    with pytest.raises(InputError, match="nothing.json"):
        load(tmp_path / "nothing.json")
    with pytest.raises(InputError, match="nothing.json"):
        tiktoken_encoding(tmp_path / "nothing.json")
