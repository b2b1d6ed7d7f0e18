"""Knowledge distillation (Hinton et al. 2015; DistilBERT, TinyBERT): a student trained on a teacher's
softened next-token distributions as well as on the true next token.

    loss = alpha * CE(student, labels) + (1 - alpha) * T^2 * KL(teacher_T || student_T)

where `_T` is the softmax of the logits divided by the temperature T. The KL term's gradient shrinks as
1 / T^2, so the T^2 keeps the two terms' balance when T changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

IGNORE = -1  # a target that is not scored (the GPT's `ignore_index`)


def kl_divergence(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    """KL(p || p_ref) (nats) of each position's next-token distributions (..., vocab) -> (...): the
    exact divergence over the vocabulary, never negative, where a sampled log-ratio is only its estimate."""
    logp, ref_logp = F.log_softmax(logits.float(), dim=-1), F.log_softmax(ref_logits.float(), dim=-1)
    return (logp.exp() * (logp - ref_logp)).sum(-1)


@dataclass(frozen=True)
class DistillationLoss:
    loss: torch.Tensor  # what is minimised
    ce: torch.Tensor  # the cross-entropy on the labels (nats per token)
    kl: torch.Tensor  # KL(teacher_T || student_T) per token, before the T^2


def distillation_loss(logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor, *,
                      alpha: float, temperature: float) -> DistillationLoss:
    """The loss of the module docstring, both terms averaged over the scored targets (B, T)."""
    scored = targets != IGNORE
    ce = F.cross_entropy(logits.float()[scored], targets[scored])
    kl = kl_divergence(teacher_logits[scored] / temperature, logits[scored] / temperature).mean()
    return DistillationLoss(alpha * ce + (1 - alpha) * temperature ** 2 * kl, ce, kl)
