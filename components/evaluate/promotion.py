"""Promotion gates: the conditions a model version must meet to take an alias such as `champion`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from webtext.components.config import GateConfig

LOWER_IS_BETTER = frozenset({"bpb", "ppl", "contamination"})
Scores = Mapping[tuple[str, str], float]  # (task, metric) -> value


def better(metric: str, value: float, than: float) -> bool:
    """Whether `value` is strictly better than `than` for this metric (lower for bpb, ppl and
    contamination; higher for the rest)."""
    return value < than if metric in LOWER_IS_BETTER else value > than


def failed_gates(gates: Sequence[GateConfig], candidate: Scores, current: Scores | None,
                 current_name: str | None = None) -> list[str]:
    """Why the candidate may not take the alias: one line per failed gate; empty when it may.

    `current` holds the scores of the version that holds the alias now (None when none does); a
    beat_current gate passes when no version holds it, or when that version has no such score.
    """
    failures = []
    for gate in gates:
        what = f"{gate.task} {gate.metric}"
        value = candidate.get((gate.task, gate.metric))
        if value is None:
            failures.append(f"{what}: this version has no such score")
            continue
        if gate.min is not None and value < gate.min:
            failures.append(f"{what} {value:.4f} is below the minimum {gate.min}")
        if gate.max is not None and value > gate.max:
            failures.append(f"{what} {value:.4f} is above the maximum {gate.max}")
        if gate.beat_current and current is not None:
            held = current.get((gate.task, gate.metric))
            if held is not None and not better(gate.metric, value, held):
                failures.append(f"{what} {value:.4f} does not beat {held:.4f} of {current_name}")
    return failures
