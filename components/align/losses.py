"""The objectives of InstructGPT's step 3 and of DPO, on tensors: what `components.align.module` trains
with, each checked on hand-worked numbers and DPO's against TRL's trainer.

PPO (Schulman et al. 2017) as InstructGPT and Ziegler et al. (2019) run it on language: an episode is
one answer, a step one token. The reward of a token is -beta * (log pi(token) - log pi_ref(token)), the
per-token KL penalty that holds the policy near the SFT model, and the final token also gets the reward
model's score of the whole answer (`token_rewards`). Generalised advantage estimation (Schulman et al.
2016) turns those rewards and the value head's estimates into advantages (`gae`); the policy follows the
clipped surrogate (`policy_loss`), the value head the clipped squared error (`value_loss`). The KL
coefficient is fixed, or adapted toward a target KL (`AdaptiveKL`, Ziegler et al. section 2.2).

DPO (Rafailov et al. 2023) needs neither samples nor a reward model: the policy's implicit reward of an
answer is beta * (log pi(answer) - log pi_ref(answer)), and the loss is the reward model's pairwise loss
on those rewards (`implicit_rewards`, then `components.instruct.reward.ranking_loss`), so a ranking of K
answers enters as its C(K,2) pairs, as in reward modelling.

Tensors over tokens are (B, T) with a `mask` of the answer tokens that count (an answer ends at its
`<|endoftext|>`; what follows it is padding).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of `values` where `mask` is set (over every dimension)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1)


def whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """`values` scaled to unit variance over the masked entries (and moved to mean 0 with `shift_mean`):
    advantages of one rollout batch on one scale, whatever the reward's."""
    mean = masked_mean(values, mask)
    variance = masked_mean((values - mean) ** 2, mask)
    whitened = (values - mean) * torch.rsqrt(variance + 1e-8)
    return (whitened if shift_mean else whitened + mean) * mask


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log p(token) of each `tokens` (B, T) under `logits` (B, T, vocab) that predict them."""
    return torch.gather(F.log_softmax(logits.float(), dim=-1), 2, tokens.unsqueeze(-1)).squeeze(-1)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """The entropy (nats) of each position's next-token distribution (B, T)."""
    logp = F.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def token_rewards(scores: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor,
                  mask: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards (B, T): -beta * KL estimate at every answer token, plus the answer's score
    (B,) at its last; and the KL estimate log pi - log pi_ref itself (B, T), zero off the mask."""
    kl = (logprobs - ref_logprobs) * mask
    rewards = -beta * kl
    last = mask.long().sum(1).clamp(min=1) - 1  # answers are never empty: generation writes a token
    rewards[torch.arange(len(rewards), device=rewards.device), last] += scores.to(rewards.dtype)
    return rewards * mask, kl


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns (B, T), right to left:
    delta_t = r_t + gamma V_{t+1} - V_t (V past the answer's end is 0), A_t = delta_t + gamma lam A_{t+1},
    returns = A + V."""
    values = values * mask
    advantages = torch.zeros_like(rewards)
    following = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.size(1))):
        next_value = values[:, t + 1] if t + 1 < rewards.size(1) else torch.zeros_like(following)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        following = (delta + gamma * lam * following) * mask[:, t]
        advantages[:, t] = following
    return advantages, (advantages + values) * mask


@dataclass(frozen=True)
class PolicyLoss:
    loss: torch.Tensor
    clip_fraction: torch.Tensor  # share of tokens where the clipped term was the one taken
    approx_kl: torch.Tensor  # mean (log pi_old - log pi): how far the update moved the policy


def policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                mask: torch.Tensor, clip_range: float) -> PolicyLoss:
    """PPO's clipped surrogate, to minimise: mean over answer tokens of
    max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps)), ratio = pi / pi_old."""
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1 - clip_range, 1 + clip_range)
    return PolicyLoss(masked_mean(torch.maximum(unclipped, clipped), mask),
                      masked_mean((clipped > unclipped).float(), mask).detach(),
                      masked_mean(old_logprobs - logprobs, mask).detach())


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip_range: float) -> torch.Tensor:
    """The value head's clipped squared error: 0.5 * mean max((V - R)^2, (V_clipped - R)^2), V_clipped
    kept within `clip_range` of the rollout's estimate, so one batch cannot swing it far."""
    clipped = old_values + torch.clamp(values - old_values, -clip_range, clip_range)
    return 0.5 * masked_mean(torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask)


class AdaptiveKL:
    """Ziegler et al.'s controller: beta grows when the measured KL is above `target` and shrinks when it
    is below, by at most 20% per `horizon` samples; with no target, beta stays fixed."""

    def __init__(self, beta: float, target: float | None, horizon: int = 10_000):
        self.beta, self.target, self.horizon = beta, target, horizon

    def update(self, kl: float, n_samples: int) -> None:
        if self.target is None:
            return
        error = max(-0.2, min(0.2, kl / self.target - 1))
        self.beta *= 1 + error * n_samples / self.horizon


def sequence_logprobs(logits: torch.Tensor, targets: torch.Tensor, ignore: int = -1) -> torch.Tensor:
    """log pi(answer) of each row (B,): the sum of the log-probabilities of its targets that are not
    `ignore` (the answer's tokens; the prompt's are ignored)."""
    mask = targets != ignore
    return (token_logprobs(logits, targets.clamp(min=0)) * mask).sum(1)


def implicit_rewards(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, beta: float) -> torch.Tensor:
    """DPO's implicit reward of each answer: beta * (log pi(answer) - log pi_ref(answer))."""
    return beta * (logprobs - ref_logprobs)
