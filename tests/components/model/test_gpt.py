"""The GPT matches transformers' GPT-2 and GPT-1 exactly, and its options do what they say."""

from __future__ import annotations

import pytest
import torch

from webtext.components.model.gpt import GPT, GPTConfig, KVCache, left_pad, next_tokens
from webtext.components.model.hf import from_hf, to_hf_state_dict
from webtext.components.model.presets import PRESETS, model_config

transformers = pytest.importorskip("transformers")  # a dev dependency; missing only outside `make test`

SMALL = dict(vocab_size=97, n_positions=32, n_embd=48, n_layer=3, n_head=4)


def tokens(vocab: int = 97, shape=(2, 32)) -> torch.Tensor:
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(0))


def test_gpt2_logits_equal_transformers():
    torch.manual_seed(1)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**SMALL, attn_implementation="eager")).eval()
    ours = from_hf(hf).eval()
    assert ours.config.pre_ln and ours.config.gelu == "tanh"
    idx = tokens()
    torch.testing.assert_close(ours(idx)[0], hf(idx).logits, atol=1e-5, rtol=0)
    # transformers shifts the labels itself: position t predicts token t + 1
    torch.testing.assert_close(ours(idx[:, :-1], idx[:, 1:])[1], hf(idx, labels=idx).loss, atol=1e-5, rtol=0)


def test_gpt1_logits_equal_transformers():
    torch.manual_seed(2)
    hf = transformers.OpenAIGPTLMHeadModel(transformers.OpenAIGPTConfig(**SMALL)).eval()
    ours = from_hf(hf).eval()
    assert not ours.config.pre_ln and "ln_f" not in ours.transformer
    idx = tokens()
    torch.testing.assert_close(ours(idx)[0], hf(idx).logits, atol=1e-5, rtol=0)


def test_our_gpt2_weights_load_into_transformers():
    torch.manual_seed(3)
    ours = GPT(GPTConfig(vocab_size=97, block_size=32, n_layer=2, n_head=4, n_embd=48, dropout=0.0)).eval()
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=97, n_positions=32, n_embd=48, n_layer=2, n_head=4)).eval()
    missing, unexpected = hf.load_state_dict(to_hf_state_dict(ours), strict=False)
    assert not unexpected and all(name.endswith(".attn.bias") or name == "lm_head.weight" for name in missing)
    idx = tokens()
    torch.testing.assert_close(hf(idx).logits, ours(idx)[0], atol=1e-5, rtol=0)


def test_gpt2_initialisation_scales_residual_projections():
    config = GPTConfig(vocab_size=512, block_size=64, n_layer=8, n_head=4, n_embd=256)
    model = GPT(config)
    assert model.lm_head.weight is model.transformer.wte.weight
    c_proj = torch.cat([b.mlp.c_proj.weight.flatten() for b in model.transformer.h])
    c_fc = torch.cat([b.mlp.c_fc.weight.flatten() for b in model.transformer.h])
    assert abs(c_fc.std().item() - 0.02) < 0.001
    assert abs(c_proj.std().item() - 0.02 / (2 * 8) ** 0.5) < 0.0005


def test_banded_layers_see_only_their_window():
    config = GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=16, dropout=0.0,
                       local_window=3)
    model = GPT(config).eval()
    assert model.transformer.h[0].attn.window is None and model.transformer.h[1].attn.window == 3
    local = model.transformer.h[1]
    x = torch.randn(1, 16, 16)
    y = local.attn(x)
    x2 = x.clone()
    x2[0, :10] += torch.randn(10, 16)  # positions 10 and later do not see 0..9 through a window of 3...
    assert torch.allclose(local.attn(x2)[0, 12:], y[0, 12:], atol=1e-6)
    assert not torch.allclose(local.attn(x2)[0, 11], y[0, 11])  # ...but 11 sees 9


@pytest.mark.slow
def test_albert_options_shrink_the_parameters_and_still_train():
    base = dict(vocab_size=1000, block_size=32, n_layer=4, n_head=4, n_embd=64, dropout=0.0)
    plain = GPT(GPTConfig(**base))
    albert = GPT(GPTConfig(**base, embedding_dim=16, share_layers=True))
    assert albert.num_parameters() < plain.num_parameters() / 3
    assert len(albert.transformer.h) == 1
    idx = tokens(1000, (4, 32))
    optimizer = torch.optim.AdamW(albert.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        _, loss = albert(idx[:, :-1], idx[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 1


def test_generate_extends_the_prompt_and_greedy_is_deterministic():
    model = GPT(GPTConfig(vocab_size=50, block_size=8, n_layer=1, n_head=2, n_embd=16)).eval()
    prompt = torch.tensor([[1, 2, 3]])
    out = model.generate(prompt, 10, temperature=0)
    assert out.shape == (1, 13) and torch.equal(out[:, :3], prompt)
    assert torch.equal(out, model.generate(prompt, 10, temperature=0))  # past the context too
    sampled = model.generate(prompt, 10, top_k=1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sampled, out)  # top-1 sampling is greedy


def drawn(logits: list[float], n: int = 4000, **options) -> torch.Tensor:
    """`n` ids drawn from one row of probabilities, as logits, with a seeded generator."""
    rows = torch.tensor([logits]).log().repeat(n, 1)
    return next_tokens(rows, generator=torch.Generator().manual_seed(0), **options)[:, 0]


def test_nucleus_sampling_draws_from_the_fewest_likeliest_tokens_that_reach_top_p():
    probabilities = [0.5, 0.3, 0.15, 0.05]
    nucleus = drawn(probabilities, temperature=1.0, top_p=0.7)  # 0.5 < 0.7 <= 0.5 + 0.3
    assert set(nucleus.tolist()) == {0, 1}
    assert float((nucleus == 0).float().mean()) == pytest.approx(0.5 / 0.8, abs=0.03)  # renormalised
    assert set(drawn(probabilities, temperature=1.0, top_p=1.0).tolist()) == {0, 1, 2, 3}
    assert set(drawn(probabilities, temperature=1.0, top_p=0.5).tolist()) == {0}  # the likeliest reaches it
    assert set(drawn(probabilities, temperature=1.0, top_p=0.01).tolist()) == {0}  # and is always kept
    shuffled = drawn([0.05, 0.3, 0.15, 0.5], temperature=1.0, top_p=0.7)  # by probability, not position
    assert set(shuffled.tolist()) == {1, 3}


def test_nucleus_comes_after_temperature_and_top_k():
    probabilities = [0.5, 0.3, 0.15, 0.05]
    # temperature 2: proportional to sqrt(p), 0.379 0.294 0.208 0.120; the first two hold 0.673 < 0.7
    assert set(drawn(probabilities, temperature=2.0, top_p=0.7).tolist()) == {0, 1, 2}
    # top-k 3 renormalises to 0.526 0.316 0.158: the first two now reach 0.83, which 0.5 + 0.3 do not
    assert set(drawn(probabilities, temperature=1.0, top_k=3, top_p=0.83).tolist()) == {0, 1}
    assert set(drawn(probabilities, temperature=1.0, top_p=0.83).tolist()) == {0, 1, 2}


def test_generate_samples_from_the_nucleus_and_refuses_a_mass_outside_0_1():
    model = GPT(GPTConfig(vocab_size=50, block_size=8, n_layer=1, n_head=2, n_embd=16)).eval()
    prompt = torch.tensor([[1, 2, 3]])
    greedy = model.generate(prompt, 10, temperature=0)
    narrow = model.generate(prompt, 10, top_p=1e-6, generator=torch.Generator().manual_seed(0))
    assert torch.equal(narrow, greedy)  # only the likeliest reaches a vanishing mass
    for top_p in (0, 1.5):
        with pytest.raises(ValueError, match=f"top_p={top_p} is not a probability mass"):
            model.generate(prompt, 1, top_p=top_p)


@pytest.mark.parametrize("shape", [{}, {"pre_ln": False}, {"local_window": 3}, {"share_layers": True}],
                         ids=["gpt2", "gpt1", "banded", "shared"])
def test_cached_generation_equals_recomputing_the_context_token_for_token(shape):
    """Three prompts at once, greedy and sampled, on past the context (where the cache is rebuilt from
    the last block_size tokens at every step): the key-value cache changes nothing but the speed."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(**{**dict(vocab_size=50, block_size=12, n_layer=3, n_head=2, n_embd=16,
                                    dropout=0.0), **shape})).eval()
    with torch.no_grad():  # weights at a trained scale, so logits have real gaps and real ties are rare
        for parameter in model.parameters():
            parameter.mul_(4)
    prompts = torch.randint(0, 50, (3, 5))
    for options in ({"temperature": 0}, {"temperature": 1.0, "top_k": 20}):
        runs = [model.generate(prompts, 16, generator=torch.Generator().manual_seed(1), cache=cache,
                               **options) for cache in (True, False)]
        assert runs[0].shape == (3, 21) and torch.equal(runs[0], runs[1]), options


@pytest.mark.parametrize("shape", [{}, {"pre_ln": False}, {"local_window": 3}],
                         ids=["gpt2", "gpt1", "banded"])
def test_left_padded_prompts_generate_what_each_would_alone(shape):
    """Prompts of 2, 5 and 9 tokens in one batch, greedy, cached and not, on past the context (where
    the window slides over and then off the padding): each row's tokens are those it makes alone."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(**{**dict(vocab_size=50, block_size=12, n_layer=2, n_head=2, n_embd=16,
                                    dropout=0.0), **shape})).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(4)
    prompts = [torch.randint(0, 50, (n,)).tolist() for n in (2, 5, 9)]
    idx, pad = left_pad(prompts, pad_id=0)
    assert pad.tolist() == [7, 4, 0] and idx[0, :7].eq(0).all()
    for cache in (True, False):
        batch = model.generate(idx, 14, temperature=0, cache=cache, pad=pad)
        for row, prompt, n in zip(batch, prompts, pad.tolist(), strict=True):
            alone = model.generate(torch.tensor([prompt]), 14, temperature=0, cache=cache)[0]
            assert torch.equal(row[n:], alone), (cache, len(prompt))
    unmasked = model.generate(idx, 14, temperature=0)  # padding read as tokens changes the short rows
    assert not torch.equal(unmasked, model.generate(idx, 14, temperature=0, pad=pad))


def test_cached_logits_equal_the_full_forward():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=16, dropout=0.0)).eval()
    idx = torch.randint(0, 50, (2, 10))
    kv = KVCache(model.config.n_layer, model.config.block_size)
    with torch.no_grad():
        full = model(idx)[0]
        pieces = [model(idx[:, :6], cache=kv)[0]]
        pieces += [model(idx[:, i:i + 1], cache=kv)[0] for i in range(6, 10)]
    assert kv.length == 10
    torch.testing.assert_close(torch.cat(pieces, dim=1), full[:, [5, 6, 7, 8, 9]], atol=1e-5, rtol=0)


def test_generation_stops_once_every_row_has_ended():
    """Each row ends at its first stop token and repeats it after; the batch ends when all have."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50, block_size=32, n_layer=1, n_head=2, n_embd=16, dropout=0.0)).eval()
    prompts = torch.tensor([[1, 2, 3], [4, 5, 6]])
    free = model.generate(prompts, 20, temperature=0)
    stop = int(free[0, 5])  # the third token the first row produces

    def end_of(row: torch.Tensor) -> int:  # tokens a row generates up to and including its stop
        hits = (row[3:] == stop).nonzero()
        return int(hits[0, 0]) + 1 if len(hits) else 20

    alone = model.generate(prompts[:1], 20, temperature=0, stop=stop)
    assert torch.equal(alone, free[:1, :3 + end_of(free[0])]) and alone.size(1) < free.size(1)
    both = model.generate(prompts, 20, temperature=0, stop=stop)
    assert both.size(1) == 3 + max(end_of(row) for row in free)
    for row, generated in zip(free, both, strict=True):
        n = end_of(row)
        assert torch.equal(generated[:3 + n], row[:3 + n]) and torch.all(generated[3 + n:] == stop)


def test_presets_follow_the_papers():
    gpt1, gpt2 = model_config("gpt1", 40_478), model_config("gpt2-small", 50_257)
    assert (gpt1.n_layer, gpt1.n_embd, gpt1.block_size, gpt1.pre_ln) == (12, 768, 512, False)
    assert gpt1.dropout == 0.1
    assert (gpt2.n_layer, gpt2.n_embd, gpt2.block_size, gpt2.pre_ln) == (12, 768, 1024, True)
    assert {"gpt2-medium", "gpt2-large", "gpt2-xl"} <= set(PRESETS)
    assert model_config({"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16}, 300).vocab_size == 300
    with pytest.raises(ValueError, match="unknown model preset 'gpt5'"):
        model_config("gpt5", 100)


@pytest.mark.parametrize("pre_ln", [True, False])
def test_activation_checkpointing_keeps_losses_and_gradients_and_stores_less(pre_ln):
    """Blocks recomputed in the backward pass, dropout masks replayed: the same numbers, fewer saved
    tensors."""
    config = GPTConfig(vocab_size=96, block_size=32, n_layer=3, n_head=2, n_embd=32, dropout=0.2,
                       pre_ln=pre_ln)
    torch.manual_seed(0)
    idx = torch.randint(0, 96, (4, 32))
    runs = {}
    for checkpointing in (False, True):
        torch.manual_seed(1)
        model = GPT(config)
        model.activation_checkpointing = checkpointing
        saved = []
        torch.manual_seed(2)  # the dropout masks
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
            _, loss = model(idx[:, :-1], idx[:, 1:])
        loss.backward()
        runs[checkpointing] = loss, {n: p.grad for n, p in model.named_parameters()}, sum(saved)
    (loss, grads, kept), (loss_ckpt, grads_ckpt, kept_ckpt) = runs[False], runs[True]
    assert loss_ckpt.item() == pytest.approx(loss.item(), abs=1e-6)
    for name, grad in grads.items():
        torch.testing.assert_close(grads_ckpt[name], grad, atol=1e-6, rtol=0, msg=name)
    assert kept_ckpt < kept / 2
