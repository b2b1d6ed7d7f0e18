"""Log-likelihood scoring and bits per byte against a direct computation on a real GPT."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from webtext.components.evaluate.bpb import Bits, stream_bits
from webtext.components.evaluate.scoring import continuation, score, stream_nats, windows
from webtext.components.model.gpt import GPT, GPTConfig


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.0)).eval()


def direct(model: GPT, sequence: list[int], n_scored: int) -> tuple[float, bool]:
    """The summed log-probability of the last n tokens from one full forward pass, and greedy match."""
    with torch.no_grad():
        logits, _ = model(torch.tensor([sequence[:-1]]))
    logprobs = torch.log_softmax(logits[0].double(), dim=-1)
    positions = range(len(sequence) - 1 - n_scored, len(sequence) - 1)
    total = sum(logprobs[p, sequence[p + 1]].item() for p in positions)
    greedy = all(logprobs[p].argmax().item() == sequence[p + 1] for p in positions)
    return total, greedy


def test_scores_equal_a_direct_forward_whatever_the_batching(model):
    rng = np.random.default_rng(1)
    requests = [(rng.integers(0, 50, size=int(rng.integers(2, 18))).tolist(), 0) for _ in range(9)]
    requests = [(seq, int(rng.integers(1, len(seq)))) for seq, _ in requests]
    one = score(model, requests, batch_size=1, device="cpu")
    many = score(model, requests, batch_size=4, device="cpu")
    for (seq, n), a, b in zip(requests, one, many, strict=True):
        expected, greedy = direct(model, seq, n)
        assert a.logprob == pytest.approx(expected, abs=1e-4)
        assert b.logprob == pytest.approx(expected, abs=1e-4)
        assert a.greedy == b.greedy == greedy and a.n_tokens == n


def test_greedy_is_true_when_the_target_is_the_argmax(model):
    context = [5, 6, 7]
    with torch.no_grad():
        best = model(torch.tensor([context]))[0][0, -1].argmax().item()
    hit, miss = score(model, [(context + [best], 1), (context + [(best + 1) % 50], 1)], batch_size=2,
                      device="cpu")
    assert hit.greedy and not miss.greedy and hit.logprob > miss.logprob


def test_a_long_context_is_cut_from_the_left():
    sequence, n = continuation(list(range(40)), [90, 91], block_size=16)
    assert sequence == list(range(40))[-15:] + [90, 91] and n == 2
    with pytest.raises(ValueError, match="does not fit"):
        continuation([1], list(range(17)), block_size=16)


@pytest.mark.parametrize("n_tokens, block, stride", [(2, 16, 8), (17, 16, 8), (50, 16, 8), (50, 16, 16),
                                                     (33, 8, 3)])
def test_windows_score_every_token_after_the_first_exactly_once(n_tokens, block, stride):
    scored = []
    for start, end, n in windows(n_tokens, block, stride):
        assert end - start <= block + 1 and end - n - 1 >= start
        if start > 0:  # every window after the first gives its tokens at least block - stride of context
            assert end - n - start >= block - stride
        scored += range(end - n, end)
    assert scored == list(range(1, n_tokens))


def test_stream_bits_equal_the_mean_loss_when_the_stream_fits_one_window(model):
    tokens = np.arange(1, 17) % 50
    nats, n = stream_nats(model, tokens, batch_size=4, device="cpu")
    with torch.no_grad():
        _, loss = model(torch.tensor(tokens[None, :-1]), torch.tensor(tokens[None, 1:]))
    assert n == 15 and nats / n == pytest.approx(loss.item(), abs=1e-5)
    bits = stream_bits(model, iter([tokens[:8], tokens[8:]]), tokens_per_byte=0.25, max_tokens=None,
                       batch_size=4, device="cpu")
    assert bits.bpb == pytest.approx(loss.item() / math.log(2) * 0.25, abs=1e-5)
    assert (Bits(1.0, 2, 3.0) + Bits(2.0, 1, 1.0)) == Bits(3.0, 3, 4.0)
