"""Promotion gates: lower is better for bpb, higher for accuracy; thresholds; missing scores."""

from __future__ import annotations

from webtext.components.config import GateConfig
from webtext.components.evaluate.promotion import failed_gates

BEAT_BPB = GateConfig(task="texts", metric="bpb", beat_current=True)


def test_a_version_must_beat_the_champion_in_the_metrics_direction():
    champion = {("texts", "bpb"): 1.50, ("lambada", "acc"): 0.30}
    assert failed_gates([BEAT_BPB], {("texts", "bpb"): 1.40}, champion, "m:1") == []
    [why] = failed_gates([BEAT_BPB], {("texts", "bpb"): 1.60}, champion, "m:1")
    assert why == "texts bpb 1.6000 does not beat 1.5000 of m:1"
    assert failed_gates([BEAT_BPB], {("texts", "bpb"): 1.50}, champion, "m:1")  # a tie does not beat it
    accuracy = GateConfig(task="lambada", metric="acc", beat_current=True)
    assert failed_gates([accuracy], {("lambada", "acc"): 0.35}, champion, "m:1") == []
    assert failed_gates([accuracy], {("lambada", "acc"): 0.25}, champion, "m:1")


def test_the_first_version_passes_beat_current_but_not_a_threshold():
    gates = [BEAT_BPB, GateConfig(task="texts", metric="bpb", max=2.0),
             GateConfig(task="lambada", metric="acc", min=0.1)]
    scores = {("texts", "bpb"): 2.5, ("lambada", "acc"): 0.05}
    assert failed_gates(gates, scores, None) == ["texts bpb 2.5000 is above the maximum 2.0",
                                                 "lambada acc 0.0500 is below the minimum 0.1"]
    assert failed_gates(gates, {("texts", "bpb"): 1.9, ("lambada", "acc"): 0.2}, None) == []


def test_a_missing_score_fails_its_gate():
    assert failed_gates([BEAT_BPB], {}, None) == ["texts bpb: this version has no such score"]
