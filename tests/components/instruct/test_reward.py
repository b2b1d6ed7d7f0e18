"""The reward model: pairwise and K-choose-2 ranking losses on hand-checked numbers, one batch element
per prompt, the head on the final real token, normalisation, and a tiny model that learns a preference."""

from __future__ import annotations

import math
import random

import pytest
import torch

from webtext.components.instruct.reward import (
    PAD,
    RewardModel,
    collate,
    normalise,
    pair_differences,
    pair_metrics,
    pairwise_loss,
    ranking_loss,
    ranking_pairs,
    score,
)
from webtext.components.model.gpt import GPT, GPTConfig


def tiny_reward_model(seed: int = 0) -> RewardModel:
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=16, block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=0.0)
    return RewardModel(GPT(config))


def softplus(x: float) -> float:
    """-log sigmoid(-x) = log(1 + e^x), written out for the expected values."""
    return math.log(1 + math.exp(x))


def test_pairwise_loss_is_minus_log_sigmoid_of_the_difference():
    assert float(pairwise_loss(torch.tensor([2.0]), torch.tensor([0.0]))) == pytest.approx(softplus(-2))
    loss = pairwise_loss(torch.tensor([2.0, -1.0]), torch.tensor([0.0, 1.0]))
    assert float(loss) == pytest.approx((softplus(-2) + softplus(2)) / 2)
    far = pairwise_loss(torch.tensor([-200.0]), torch.tensor([0.0]))  # sigmoid underflows; the loss must not
    assert float(far) == pytest.approx(200.0)


def test_ranking_pairs_are_every_better_worse_pair():
    assert ranking_pairs(2) == [(0, 1)]
    assert ranking_pairs(3) == [(0, 1), (0, 2), (1, 2)]
    assert [len(ranking_pairs(k)) for k in (4, 9)] == [6, 36]  # InstructGPT's K ranges from 4 to 9


def test_ranking_loss_averages_each_prompts_pairs_then_the_prompts():
    # prompt 0 ranks three answers scored 3, 1, 0; prompt 1 two answers scored 0, 1 (ranked wrongly)
    rewards = torch.tensor([3.0, 1.0, 0.0, 0.0, 1.0])
    groups = torch.tensor([[0, 1, 2], [3, 4, PAD]])
    first = (softplus(-2) + softplus(-3) + softplus(-1)) / 3  # differences 3-1, 3-0, 1-0
    second = softplus(1)  # difference 0-1
    assert float(ranking_loss(rewards, groups)) == pytest.approx((first + second) / 2)
    pooled = (softplus(-2) + softplus(-3) + softplus(-1) + softplus(1)) / 4
    assert float(ranking_loss(rewards, groups)) != pytest.approx(pooled)


def test_a_batch_runs_each_answer_once_and_holds_every_pair_of_a_prompt():
    rankings = [[[1, 5, 6], [1, 7], [1, 8, 9, 10]], [[2, 11], [2, 12, 13]]]
    batch = collate(rankings, pad_id=0)
    assert batch.tokens.tolist() == [[1, 5, 6, 0], [1, 7, 0, 0], [1, 8, 9, 10], [2, 11, 0, 0], [2, 12, 13, 0]]
    assert batch.lengths.tolist() == [3, 2, 4, 2, 3]
    assert batch.groups.tolist() == [[0, 1, 2], [3, 4, PAD]]
    rewards = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0])
    assert pair_differences(rewards, batch.groups).tolist() == [1.0, 2.0, 1.0, 1.0]  # C(3,2) + C(2,2)
    with pytest.raises(ValueError, match="at least two answers"):
        collate([[[1, 2]]])


def test_the_head_reads_the_final_real_token():
    model = tiny_reward_model().eval()
    alone = score(model, [[5, 6, 7]])
    padded = torch.tensor([[5, 6, 7, 0, 0], [5, 6, 7, 9, 9], [5, 6, 7, 8, 4]])
    with torch.no_grad():
        rewards = model(padded, torch.tensor([3, 3, 5]))
    assert torch.allclose(rewards[:2], alone.expand(2), atol=1e-6)  # padding after it changes nothing
    assert not torch.allclose(rewards[2], alone[0])  # the longer sequence is read at its own end
    assert not torch.allclose(score(model, [[5, 6, 8]]), alone)  # the final token counts


def test_normalise_gives_the_demonstrations_a_mean_reward_of_zero():
    model = tiny_reward_model()
    with torch.no_grad():
        model.head.bias.fill_(3.0)  # rewards far from 0 before normalising
    demonstrations = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [10]]
    before = score(model, demonstrations)
    normalise(model, before)
    after = score(model, demonstrations)
    assert abs(float(after.mean())) < 1e-6
    assert torch.allclose(after - after[0], before - before[0], atol=1e-6)  # a shift: pairs keep their order
    assert "offset" in model.state_dict()  # saved with the weights


def test_pair_metrics_count_ties_as_wrong():
    metrics = pair_metrics(torch.tensor([2.0, -1.0, 0.0, 3.0]))
    assert (metrics.accuracy, metrics.margin, metrics.pairs) == (0.5, 1.0, 4)


def marked_pairs(n: int, rng: random.Random) -> list[list[list[int]]]:
    """(chosen, rejected) pairs sharing a prompt and an answer; the chosen answer holds token 2 in
    place of one of its tokens, which the rejected never contains."""
    rankings = []
    for _ in range(n):
        prompt, answer = [rng.randrange(3, 16) for _ in range(4)], [rng.randrange(3, 16) for _ in range(5)]
        chosen = list(answer)
        chosen[rng.randrange(len(answer))] = 2
        rankings.append([prompt + chosen, prompt + answer])
    return rankings


def test_training_on_pairs_raises_held_out_accuracy():
    rng = random.Random(0)
    train, held_out = marked_pairs(256, rng), marked_pairs(64, rng)
    model = tiny_reward_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    check = collate(held_out)

    def held_out_metrics():
        with torch.no_grad():
            return pair_metrics(pair_differences(model.eval()(check.tokens, check.lengths), check.groups))

    assert held_out_metrics().accuracy < 0.7
    model.train()
    for step in range(15):
        batch = collate(train[step * 32 % 256:][:32])
        loss = ranking_loss(model(batch.tokens, batch.lengths), batch.groups)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    metrics = held_out_metrics()
    assert metrics.accuracy > 0.9 and metrics.margin > 0
