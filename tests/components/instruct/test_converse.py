"""A chat asks the model with the conversation tokenized as training tokenized it, ends each answer at
`<|endoftext|>`, fits a long conversation into the context by dropping its oldest exchanges, and
repeats itself at temperature 0."""

from __future__ import annotations

import pytest
import torch

from tests.components.instruct.tokenizer import train_tokenizer
from webtext.components.instruct.chat import ASSISTANT, Turn, encode_chat
from webtext.components.instruct.converse import Chat, Sampling, answer_room, ask, fit_prompt
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.tokenize.bpe import tiktoken_encoding

EOT = 0
SYSTEM = "Answer briefly."


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokenizer")
    encode = train_tokenizer(directory)
    return tiktoken_encoding(directory / "tokenizer.json"), encode


def tiny_gpt(encoding, block_size: int = 64, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=encoding.n_vocab, block_size=block_size, n_layer=1, n_head=2, n_embd=16,
                         dropout=0.0))


def recording(model: GPT) -> tuple[list[list[int]], list[list[int]]]:
    """The prompts `model.generate` is called with from now on, and what it returns (prompt and
    continuation)."""
    prompts, outputs, generate = [], [], model.generate

    def record(idx, *args, **kwargs):
        prompts.append(idx[0].tolist())
        outputs.append(generate(idx, *args, **kwargs)[0].tolist())
        return torch.tensor([outputs[-1]])

    model.generate = record
    return prompts, outputs


def test_the_model_is_asked_with_the_conversations_generation_prompt(tokenizer):
    encoding, encode = tokenizer
    model = tiny_gpt(encoding)
    prompts, _ = recording(model)
    chat = Chat(model, encoding, system=SYSTEM, sampling=Sampling(max_tokens=8, temperature=0))
    first = chat.reply("What is the capital of France? ")
    chat.reply("thanks")
    expected = [Turn("system", SYSTEM), Turn("user", "What is the capital of France? ")]
    assert prompts[0] == encode_chat(encode, EOT, expected, add_generation_prompt=True)[0]
    expected += [Turn("assistant", first), Turn("user", "thanks")]
    assert prompts[1] == encode_chat(encode, EOT, expected, add_generation_prompt=True)[0]
    assert chat.turns[:4] == expected and chat.turns[4].role == "assistant"


def test_an_answer_ends_at_end_of_text_without_its_leading_space(tokenizer):
    encoding, encode = tokenizer
    model = tiny_gpt(encoding)
    written = encode(" The capital of France is Paris.") + [EOT] + encode(" \n\nHuman: and Spain?")
    model.generate = lambda idx, *args, **kwargs: torch.cat([idx, torch.tensor([written])], dim=1)
    chat = Chat(model, encoding)
    assert chat.reply("What is the capital of France?") == "The capital of France is Paris."
    assert chat.turns[-1] == Turn("assistant", "The capital of France is Paris.")


def test_generation_stops_at_end_of_text(tokenizer):
    """A model whose every position is the same hidden vector, which `<|endoftext|>`'s embedding
    matches best: it answers nothing, in one step of the twenty it may take."""
    encoding, encode = tokenizer
    model = tiny_gpt(encoding)
    with torch.no_grad():
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.fill_(1.0)
        model.transformer.wte.weight[EOT] = 10.0
    _, outputs = recording(model)
    assert Chat(model, encoding, sampling=Sampling(max_tokens=20)).reply("hi") == ""
    prompt = encode_chat(encode, EOT, [Turn("user", "hi")], add_generation_prompt=True)[0]
    assert outputs == [[*prompt, EOT]]


def test_a_long_conversation_keeps_its_newest_exchanges_and_the_system_turn(tokenizer):
    encoding, encode = tokenizer
    model = tiny_gpt(encoding, block_size=64)
    prompts, _ = recording(model)
    chat = Chat(model, encoding, system=SYSTEM, sampling=Sampling(max_tokens=16, temperature=0))
    for question in ["What is the capital of France?", "thanks", "Grüße aus Köln 😀", "again?", "bye"] * 2:
        chat.reply(question)
    assert all(len(prompt) <= 64 - 16 for prompt in prompts)
    assert all(encoding.decode(prompt).endswith(ASSISTANT) for prompt in prompts)
    last = prompts[-1]
    fits = [start for start in range(1, len(chat.turns) - 1, 2)  # the user turns
            if encode_chat(encode, EOT, [chat.turns[0], *chat.turns[start:-1]],
                           add_generation_prompt=True)[0] == last]
    assert fits and fits[0] > 1  # older exchanges dropped whole, the system turn kept
    assert encoding.decode(last).startswith(SYSTEM + "\n\nHuman: ")


def test_a_question_longer_than_the_budget_keeps_its_newest_tokens(tokenizer):
    encoding, encode = tokenizer
    turns = [Turn("system", SYSTEM), Turn("user", "What is the capital of France? " * 20)]
    whole = encode_chat(encode, EOT, turns, add_generation_prompt=True)[0]
    assert len(whole) > 30
    assert fit_prompt(encode, EOT, turns, 30) == whole[-30:]
    assert encoding.decode(whole[-30:]).endswith(ASSISTANT)
    with pytest.raises(ValueError, match="budget of 0 tokens"):
        fit_prompt(encode, EOT, turns, 0)


def test_the_answer_gets_at_most_half_the_context():
    assert answer_room(64, 16) == 16
    assert answer_room(64, 500) == 32
    with pytest.raises(ValueError, match="max_tokens=0"):
        answer_room(64, 0)


def test_temperature_0_is_deterministic_and_a_seed_repeats_a_sample(tokenizer):
    encoding, _ = tokenizer
    model = tiny_gpt(encoding)
    greedy = Sampling(max_tokens=12, temperature=0)
    runs = [[chat.reply(q) for q in ("hi", "again?")]
            for chat in (Chat(model, encoding, sampling=greedy, seed=seed) for seed in (1, 2))]
    assert runs[0] == runs[1]
    sampled = Sampling(max_tokens=12, temperature=1.0, top_p=0.9)
    twice = [ask(model, encoding, "hi", sampling=sampled, seed=3) for _ in range(2)]
    assert twice[0] == twice[1]
    assert ask(model, encoding, "hi", sampling=greedy) == runs[0][0]


def test_reset_keeps_only_the_system_turn(tokenizer):
    encoding, _ = tokenizer
    chat = Chat(tiny_gpt(encoding), encoding, system=SYSTEM, sampling=Sampling(max_tokens=4, temperature=0))
    chat.reply("hi")
    chat.reset()
    assert chat.turns == [Turn("system", SYSTEM)]
