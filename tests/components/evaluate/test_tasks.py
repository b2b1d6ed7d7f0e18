"""LAMBADA-style and multiple-choice scoring, and K-shot prompts."""

from __future__ import annotations

import math
import random

import pytest
import torch

from webtext.components.config import EvalTaskConfig
from webtext.components.errors import InputError
from webtext.components.evaluate.scoring import Score
from webtext.components.evaluate.tasks import (
    Example,
    TaskResult,
    _requests,
    choose_shots,
    evaluate_task,
    examples,
    last_word_example,
    prompt,
    task_metrics,
)
from webtext.components.model.gpt import GPT, GPTConfig

LAST_WORD = EvalTaskConfig(name="lambada", type="last_word")
CHOICE = EvalTaskConfig(name="story", type="multiple_choice", fields=["context", "a", "b", "c"],
                        label="answer", labels=[1, 2, 3])


def test_a_passage_splits_into_its_context_and_its_last_word():
    example = last_word_example("He reached for the lamp.\n\nShe handed him the lamp ")
    assert example.context == "He reached for the lamp.\n\nShe handed him the"
    assert example.choices == (" lamp",) and example.answer == 0
    with pytest.raises(ValueError, match="no last word"):
        last_word_example("single")


def test_lambada_metrics_on_a_hand_checked_example():
    # Two passages: the first target is the greedy choice at log-probability -1 over its two tokens,
    # the second is missed at -3. acc = 1/2; ppl = exp(-(-1 - 3) / 2) = e^2.
    items = [last_word_example("a b c"), last_word_example("d e f")]
    scores = [[Score(-1.0, True, 2)], [Score(-3.0, False, 1)]]
    metrics = task_metrics("last_word", items, scores)
    assert metrics["acc"] == 0.5 and metrics["ppl"] == pytest.approx(math.e ** 2)


def test_the_three_multiple_choice_normalisations_can_disagree():
    # " a": 1 token, -2.0; " bbbbbbbb": 4 tokens, 8 characters after the space, -3.0.
    # acc takes the higher sum (" a"); per token -2.0 < -0.75 and per character -2.0 < -0.375 take the other.
    item = Example("ctx", (" a", " bbbbbbbb"), 1)
    metrics = task_metrics("multiple_choice", [item], [[Score(-2.0, False, 1), Score(-3.0, False, 4)]])
    assert metrics == {"acc": 0.0, "acc_token": 1.0, "acc_norm": 1.0}


def test_multiple_choice_chance_is_one_over_each_examples_answers():
    two, three = Example("c", (" a", " b"), 0), Example("c", (" a", " b", " c"), 2)
    scores = [[Score(-1.0, False, 1)] * 2, [Score(-1.0, False, 1)] * 3]
    result = TaskResult("multiple_choice", [two, three], scores, vocab_size=50)
    assert result.chance == pytest.approx((1 / 2 + 1 / 3) / 2)


def test_acc_norm_divides_by_the_answer_without_its_leading_space():
    # lm-evaluation-harness: " a" counts 1 character, " bb" 2, so -1.0 / 1 < -1.8 / 2 and " bb" wins;
    # counting the space (2 and 3) would pick " a" (-0.5 > -0.6).
    item = Example("ctx", (" a", " bb"), 1)
    metrics = task_metrics("multiple_choice", [item], [[Score(-1.0, False, 1), Score(-1.8, False, 1)]])
    assert metrics["acc_norm"] == 1.0 and metrics["acc"] == 0.0


def test_a_k_shot_prompt_is_tokenized_whole(tmp_path):
    """The tokens scored are the whole prompt's: with a real BPE, the blank line that ends a shot is
    tokenized otherwise alone than before the next shot, so encoding the parts apart would differ."""
    from webtext.components.tokenize.bpe import encode_document, tiktoken_encoding, train

    shots = [Example("The harbour was quiet.", (" Boats",), 0),
             Example("The market was loud.", (" Crowds",), 0)]
    # texts that end in a blank line, as documents may: BPE learns a token for it
    train([shot.solved + "\n\n" for shot in shots] * 20, tmp_path / "bpe.json", vocab_size=300,
          min_frequency=1)
    encoding = tiktoken_encoding(tmp_path / "bpe.json")
    encode = lambda text: encode_document(encoding, text).tolist()  # noqa: E731
    example = Example("The harbour was", (" quiet", " loud"), 0)
    whole = prompt(shots, example.context)
    requests = _requests(example, shots, encode, block_size=256)
    for (sequence, n_scored), choice in zip(requests, example.choices, strict=True):
        assert sequence == encode(whole + choice)
        assert sequence[-n_scored:] == encode(whole + choice)[len(encode(whole)):]
    apart = [t for part in (shot.solved + "\n\n" for shot in shots) for t in encode(part)] + encode(
        example.context)
    assert requests[0][0][:len(apart)] != apart  # what encoding the shots one by one gives


def test_rows_become_examples_and_bad_rows_are_named():
    rows = [{"context": "Once.", "a": "yes", "b": "", "c": "no", "answer": 3}]
    [item] = examples(CHOICE, rows)
    assert item == Example("Once.", (" yes", " no"), 1)  # the empty answer is left out
    with pytest.raises(InputError, match="row 0 has label '4'"):
        examples(CHOICE, [{**rows[0], "answer": 4}])
    with pytest.raises(InputError, match="row 0 has no column 'text'"):
        examples(LAST_WORD, [{"passage": "x y"}])


def test_shots_never_include_the_example_and_come_before_its_context():
    pool = [Example(f"c{i}", (f" w{i}",), 0) for i in range(5)]
    shots = choose_shots(pool, 4, random.Random(0), exclude=pool[2])
    assert len(shots) == 4 and pool[2] not in shots and len(set(shots)) == 4
    assert choose_shots(pool, 4, random.Random(0), exclude=pool[2]) == shots  # seeded
    assert prompt(shots[:2], "ctx") == f"{shots[0].solved}\n\n{shots[1].solved}\n\nctx"
    with pytest.raises(InputError, match="5 shots"):
        choose_shots(pool, 5, random.Random(0), exclude=pool[0])


class CountingRandom(random.Random):
    """A generator that counts its draws."""

    draws = 0

    def sample(self, population, k, **kwargs):
        self.draws += 1
        return super().sample(population, k, **kwargs)


@pytest.mark.parametrize("same_split", [True, False])
def test_shots_are_the_ones_lm_evaluation_harness_draws(same_split):
    """One generator per task, examples in order: the shots are the documents lm-evaluation-harness's
    default sampler picks with the same seed, in its order. From the scored split it draws K + 1 and
    drops the example; one example is in that pool three times, and with this seed two of its copies
    are drawn once, which takes the path that draws again without it."""
    samplers = pytest.importorskip("lm_eval.api.samplers")
    docs = [{"text": f"passage {i} ends in w{i}"} for i in range(12)]
    eval_docs = docs if same_split else [{"text": f"other {i} ends in v{i}"} for i in range(6)]
    pool_docs = [*docs, docs[3], docs[3]] if same_split else docs
    sampler = samplers.ContextSampler(pool_docs, rnd=1234)
    as_example = {d["text"]: last_word_example(d["text"]) for d in [*docs, *eval_docs]}
    pool = [as_example[d["text"]] for d in pool_docs]
    rng = CountingRandom(1234)
    for doc in eval_docs:
        theirs = sampler.sample(n=3, eval_doc=doc if same_split else None)
        ours = choose_shots(pool, 3, rng, exclude=as_example[doc["text"]])
        assert ours == [as_example[d["text"]] for d in theirs]
        assert as_example[doc["text"]] not in ours
    assert rng.draws == len(eval_docs) + same_split


def test_evaluate_task_matches_brute_force_and_drops_shots_that_do_not_fit():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=64, block_size=12, n_layer=1, n_head=2, n_embd=16, dropout=0.0)).eval()
    encode = lambda text: [ord(ch) % 64 for ch in text]  # noqa: E731  one token per character
    items = [last_word_example(p) for p in ("ab cd", "xy zw", "pq rs")]
    result = evaluate_task(model, LAST_WORD, items, [], encode, batch_size=2, device="cpu", seed=0)
    lls = []
    for item in items:
        sequence = encode(item.context + item.choices[0])
        with torch.no_grad():
            logprobs = torch.log_softmax(model(torch.tensor([sequence[:-1]]))[0][0].double(), dim=-1)
        n = len(item.choices[0])
        positions = range(len(sequence) - 1 - n, len(sequence) - 1)
        lls.append(sum(logprobs[p, sequence[p + 1]].item() for p in positions))
    assert result.n_examples == 3
    assert result.metrics["ppl"] == pytest.approx(math.exp(-sum(lls) / 3), rel=1e-4)
    targets = [len(item.choices[0]) for item in items]  # tokens of each target
    assert result.chance == pytest.approx(sum(64.0 ** -n for n in targets) / 3)
    # A subset's metrics are those of its examples alone.
    last_two = result.subset([False, True, True])
    assert last_two.n_examples == 2 and result.subset([False] * 3) is None
    assert last_two.metrics["ppl"] == pytest.approx(math.exp(-sum(lls[1:]) / 2), rel=1e-4)

    # Three 6-token shots cannot all fit a 12-token window before a 5-token example: they are dropped
    # from the front, and the example is still scored.
    shot_task = EvalTaskConfig(name="lambada", type="last_word", shots=3)
    pool = [last_word_example(p) for p in ("aa bbb", "cc ddd", "ee fff", "gg hhh")]
    few = evaluate_task(model, shot_task, items, pool, encode, batch_size=2, device="cpu", seed=0)
    assert few.n_examples == 3 and few.metrics["ppl"] > 0
