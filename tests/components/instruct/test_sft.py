"""SFT examples: the loss is on answers only, long conversations lose their oldest tokens, and the
held-out response loss is counted in bits per byte."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from webtext.components.instruct.chat import Turn
from webtext.components.instruct.data import Conversation
from webtext.components.instruct.sft import IGNORE, collate, response_bits, sft_example, sft_examples
from webtext.components.model.gpt import GPT, GPTConfig

EOT = 0


def encode(text: str) -> list[int]:
    """One id per ASCII character, so a one-character change is a one-token change; 0 is end-of-text."""
    return [ord(c) + 1 for c in text]


def qa(question: str, answer: str) -> list[Turn]:
    return [Turn("user", question), Turn("assistant", answer)]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=129, block_size=64, n_layer=1, n_head=2, n_embd=16, dropout=0.0)
    return GPT(config).eval()


@torch.no_grad()
def loss(model, inputs: list[int], targets: list[int]) -> float:
    return float(model(torch.tensor([inputs]), torch.tensor([targets]))[1])


def test_a_prompt_tokens_target_does_not_change_the_loss_an_answer_tokens_does(model):
    base = sft_example(qa("What is two plus two?", "four"), encode, EOT, 64)
    prompt_changed = sft_example(qa("What is twO plus two?", "four"), encode, EOT, 64)
    answer_changed = sft_example(qa("What is two plus two?", "fouR"), encode, EOT, 64)
    assert prompt_changed.input_ids != base.input_ids
    reference = loss(model, base.input_ids, base.targets)
    assert loss(model, base.input_ids, prompt_changed.targets) == reference
    assert loss(model, base.input_ids, answer_changed.targets) != reference
    # the loss is the mean over the answer " four" and its end-of-text, and nothing else
    with torch.no_grad():
        logits = model(torch.tensor([base.input_ids]))[0][0]
    answer = encode(" four") + [EOT]
    at = range(len(base.input_ids) - len(answer), len(base.input_ids))
    by_hand = F.cross_entropy(logits[list(at)], torch.tensor(answer))
    assert reference == pytest.approx(float(by_hand), abs=1e-6)
    assert [t for t in base.targets if t != IGNORE] == answer


def long_dialogue() -> list[Turn]:
    """98 ids: the first answer " bbbbbbbbbb" + end-of-text at ids 41..52, the last " dd" + end-of-text
    at 94..97."""
    return [*qa("a" * 20, "b" * 10), *qa("c" * 20, "dd")]


@pytest.mark.parametrize("block_size, trained, response_bytes", [
    (97, encode(" bbbbbbbbbb") + [EOT] + encode(" dd") + [EOT], 14),  # fits whole
    (60, encode(" bbbbbbbbbb") + [EOT] + encode(" dd") + [EOT], 14),  # cut in the first prompt
    (52, encode(" dd") + [EOT], 3),  # cut inside the first answer: no longer trained
    (4, encode(" dd") + [EOT], 3),  # the last answer after one prompt id (":")
])
def test_a_long_conversation_loses_its_oldest_tokens(block_size, trained, response_bytes):
    example = sft_example(long_dialogue(), encode, EOT, block_size)
    assert len(example.input_ids) == len(example.targets) == min(block_size, 97)
    assert example.input_ids[-1] == encode("d")[0]
    assert [t for t in example.targets if t != IGNORE] == trained
    assert example.response_bytes == response_bytes


def test_a_conversation_whose_last_answer_does_not_fit_is_dropped_and_named():
    conversations = [Conversation(tuple(long_dialogue()), "demos.jsonl:7"),
                     Conversation(tuple(qa("Hi", "Y")), "demos.jsonl:8")]
    assert sft_example(long_dialogue(), encode, EOT, 3) is None
    kept, dropped = sft_examples(conversations, encode, EOT, 3)
    assert dropped == ["demos.jsonl:7"] and len(kept) == 1
    with pytest.raises(ValueError, match="ends with an assistant answer"):
        sft_example([Turn("user", "Hi")], encode, EOT, 64)


def test_padding_changes_no_loss_and_response_loss_is_in_bits_per_byte(model):
    pairs = [("Hi", "Hello there."), ("What is two plus two?", "four"), ("Name a colour", "Red")]
    examples = [sft_example(qa(q, a), encode, EOT, 64) for q, a in pairs]
    batch = collate(examples)
    assert batch.input_ids.shape == batch.targets.shape == (3, max(len(e.input_ids) for e in examples))
    assert batch.response_bytes == sum(len(f" {a}") for _, a in pairs)
    one_by_one = [response_bits(model, [e], batch_size=1, device="cpu") for e in examples]
    together = response_bits(model, examples, batch_size=3, device="cpu")
    assert together.nats == pytest.approx(sum(b.nats for b in one_by_one), rel=1e-5)
    assert together.n_tokens == sum(len(a) + 2 for _, a in pairs)  # the space, the text, end-of-text
    assert together.bpb == pytest.approx(together.nats / math.log(2) / batch.response_bytes)
