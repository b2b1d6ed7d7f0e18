"""Answers are scored on the ids the reward model was trained on: the exchange in the chat format up to
the answer's `<|endoftext|>`, its newest tokens when it is longer than the context."""

from __future__ import annotations

import pytest
import torch

from tests.components.instruct.tokenizer import train_tokenizer
from webtext.components.instruct.chat import Turn, encode_chat
from webtext.components.instruct.reward import RewardModel
from webtext.components.instruct.scoring import score_answers
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.tokenize.bpe import tiktoken_encoding

EOT = 0
PROMPT = "What is the capital of France?"


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokenizer")
    encode = train_tokenizer(directory)
    return encode, tiktoken_encoding(directory / "tokenizer.json").n_vocab


@pytest.fixture(scope="module")
def encode(tokenizer):
    return tokenizer[0]


@pytest.fixture(scope="module")
def reward_model(tokenizer):
    _, vocab = tokenizer
    torch.manual_seed(0)
    model = RewardModel(GPT(GPTConfig(vocab_size=vocab, block_size=32, n_layer=1, n_head=2, n_embd=16,
                                      dropout=0.0)))
    with torch.no_grad():
        model.head.weight.normal_()  # rewards far enough apart to tell answers by
        model.offset.fill_(0.25)
    return model


def forward(model: RewardModel, ids: list[int]) -> float:
    with torch.no_grad():
        return float(model(torch.tensor([ids]), torch.tensor([len(ids)]))[0])


def test_a_reward_is_the_models_on_the_exchanges_chat_ids(encode, reward_model):
    answers = ["The capital of France is Paris.", "Goodbye."]
    rewards = score_answers(reward_model, encode, EOT, PROMPT, answers)
    for answer, reward in zip(answers, rewards, strict=True):
        ids, _ = encode_chat(encode, EOT, [Turn("user", PROMPT), Turn("assistant", answer)])
        assert ids[-1] == EOT and len(ids) <= 32
        assert reward == pytest.approx(forward(reward_model, ids), abs=1e-5)
    assert rewards[0] != pytest.approx(rewards[1])


def test_an_exchange_longer_than_the_context_keeps_its_newest_tokens(encode, reward_model):
    long = "You are welcome! " * 20
    ids, _ = encode_chat(encode, EOT, [Turn("user", PROMPT), Turn("assistant", long)])
    assert len(ids) > 32
    [reward] = score_answers(reward_model, encode, EOT, PROMPT, [long])
    assert reward == pytest.approx(forward(reward_model, ids[-32:]), abs=1e-5)
    assert reward != pytest.approx(forward(reward_model, ids[:32]), abs=1e-3)  # not its oldest tokens
