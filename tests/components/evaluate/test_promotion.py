"""Promotion gates: lower is better for bpb, higher for accuracy; thresholds; margins; missing scores;
scores measured on other data; contaminated sets."""

from __future__ import annotations

from webtext.components.config import GateConfig
from webtext.components.evaluate.promotion import failed_gates
from webtext.components.records import Result

BEAT_BPB = GateConfig(task="texts", metric="bpb", beat_current=True)


def scores(*rows: tuple) -> dict[tuple[str, str], Result]:
    """(task, metric, value[, data]) rows as a version's scores; data defaults to the same for all."""
    out = {}
    for task, metric, value, *data in rows:
        out[(task, metric)] = Result(task, metric, value, 10, data[0] if data else f"{task}-data")
    return out


CHAMPION = scores(("texts", "bpb", 1.50), ("lambada", "acc", 0.30))


def test_a_version_must_beat_the_champion_in_the_metrics_direction():
    assert failed_gates([BEAT_BPB], scores(("texts", "bpb", 1.40)), CHAMPION, "m:1") == []
    [why] = failed_gates([BEAT_BPB], scores(("texts", "bpb", 1.60)), CHAMPION, "m:1")
    assert why == "texts bpb 1.6000 does not beat 1.5000 of m:1"
    assert failed_gates([BEAT_BPB], scores(("texts", "bpb", 1.50)), CHAMPION, "m:1")  # a tie does not beat it
    accuracy = GateConfig(task="lambada", metric="acc", beat_current=True)
    assert failed_gates([accuracy], scores(("lambada", "acc", 0.35)), CHAMPION, "m:1") == []
    assert failed_gates([accuracy], scores(("lambada", "acc", 0.25)), CHAMPION, "m:1")


def test_a_margin_asks_for_more_than_a_hair_better():
    gate = BEAT_BPB.model_copy(update={"margin": 0.05})
    [why] = failed_gates([gate], scores(("texts", "bpb", 1.47)), CHAMPION, "m:1")
    assert why == "texts bpb 1.4700 does not beat 1.5000 of m:1 by more than 0.05"
    assert failed_gates([gate], scores(("texts", "bpb", 1.44)), CHAMPION, "m:1") == []
    accuracy = GateConfig(task="lambada", metric="acc", beat_current=True, margin=0.1)
    assert failed_gates([accuracy], scores(("lambada", "acc", 0.35)), CHAMPION, "m:1")
    assert failed_gates([accuracy], scores(("lambada", "acc", 0.45)), CHAMPION, "m:1") == []


def test_scores_measured_on_other_data_are_not_compared():
    better_elsewhere = scores(("texts", "bpb", 0.90, "new-texts"))
    [why] = failed_gates([BEAT_BPB], better_elsewhere, CHAMPION, "m:1")
    assert why.startswith("texts bpb: cannot compare with m:1, whose score was measured on other data")
    assert "promote with --force" in why
    unrecorded = {("texts", "bpb"): Result("texts", "bpb", 1.5, 10, None)}
    [why] = failed_gates([BEAT_BPB], scores(("texts", "bpb", 1.0)), unrecorded, "m:1")
    assert "(unrecorded, this version's texts-data" in why


def test_the_first_version_passes_beat_current_but_not_a_threshold():
    gates = [BEAT_BPB, GateConfig(task="texts", metric="bpb", max=2.0),
             GateConfig(task="lambada", metric="acc", min=0.1)]
    assert failed_gates(gates, scores(("texts", "bpb", 2.5), ("lambada", "acc", 0.05)), None) == [
        "texts bpb 2.5000 is above the maximum 2.0", "lambada acc 0.0500 is below the minimum 0.1"]
    assert failed_gates(gates, scores(("texts", "bpb", 1.9), ("lambada", "acc", 0.2)), None) == []


def test_a_missing_score_fails_its_gate():
    assert failed_gates([BEAT_BPB], {}, None) == ["texts bpb: this version has no such score"]


def test_a_contaminated_set_refuses_the_promotion():
    gate = GateConfig(task="texts", metric="bpb", max_contamination=0.1)
    clean = scores(("texts", "bpb", 1.0), ("texts", "contamination", 0.05))
    assert failed_gates([gate], clean, None) == []
    leaked = scores(("texts", "bpb", 1.0), ("texts", "contamination", 0.3))
    assert failed_gates([gate], leaked, None) == [
        "texts: 30.0% of its 10 examples share n-grams with the training snapshot, above the 10.0% allowed"]
    assert failed_gates([gate], scores(("texts", "bpb", 1.0)), None) == [
        "texts: its contamination with the training snapshot was not measured"]
