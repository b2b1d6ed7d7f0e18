"""Promotion gates: the conditions a model version must meet to take an alias such as `champion`.

A gate compares like with like: a score is held against the current holder's only when both were
measured on the same data (`Result.data_sha256`), and a task may be required to be clean, its examples
sharing no more than a set share of n-grams with the candidate's training snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from webtext.components.config import GateConfig
from webtext.components.records import Result

LOWER_IS_BETTER = frozenset({"bpb", "ppl", "contamination"})
CONTAMINATION = "contamination"
Scores = Mapping[tuple[str, str], Result]  # (task, metric) -> the score


def better(metric: str, value: float, than: float, margin: float = 0.0) -> bool:
    """Whether `value` is better than `than` by more than `margin` for this metric (lower for bpb,
    ppl and contamination; higher for the rest)."""
    return value < than - margin if metric in LOWER_IS_BETTER else value > than + margin


def _against_current(gate: GateConfig, score: Result, held: Result | None, current_name: str | None
                     ) -> str | None:
    """Why `score` does not beat the holder's `held`, or None when it does (or there is none to beat)."""
    what = f"{gate.task} {gate.metric}"
    if held is None:
        return None
    if held.data_sha256 is None or held.data_sha256 != score.data_sha256:
        return (f"{what}: cannot compare with {current_name}, whose score was measured on other data "
                f"({_short(held.data_sha256)}, this version's {_short(score.data_sha256)}); evaluate both "
                f"on the same data, or promote with --force")
    if not better(gate.metric, score.value, held.value, gate.margin):
        by = f" by more than {gate.margin}" if gate.margin else ""
        return f"{what} {score.value:.4f} does not beat {held.value:.4f} of {current_name}{by}"
    return None


def _short(sha: str | None) -> str:
    return "unrecorded" if sha is None else sha[:12]


def failed_gates(gates: Sequence[GateConfig], candidate: Scores, current: Scores | None,
                 current_name: str | None = None) -> list[str]:
    """Why the candidate may not take the alias: one line per failed gate; empty when it may.

    `current` holds the scores of the version that holds the alias now (None when none does); a
    beat_current gate passes when no version holds it, or when that version has no such score.
    """
    failures = []
    for gate in gates:
        what = f"{gate.task} {gate.metric}"
        score = candidate.get((gate.task, gate.metric))
        if score is None:
            failures.append(f"{what}: this version has no such score")
            continue
        if gate.min is not None and score.value < gate.min:
            failures.append(f"{what} {score.value:.4f} is below the minimum {gate.min}")
        if gate.max is not None and score.value > gate.max:
            failures.append(f"{what} {score.value:.4f} is above the maximum {gate.max}")
        if gate.beat_current and current is not None:
            why = _against_current(gate, score, current.get((gate.task, gate.metric)), current_name)
            if why:
                failures.append(why)
        if gate.max_contamination is not None:
            leak = candidate.get((gate.task, CONTAMINATION))
            if leak is None:
                failures.append(f"{gate.task}: its contamination with the training snapshot was not measured")
            elif leak.value > gate.max_contamination:
                failures.append(f"{gate.task}: {leak.value:.1%} of its {leak.n_examples} examples share "
                                f"n-grams with the training snapshot, above the {gate.max_contamination:.1%} "
                                f"allowed")
    return failures
