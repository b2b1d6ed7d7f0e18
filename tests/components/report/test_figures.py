"""The figures' pairing and grouping rules on hand-made rows, and the charts they draw."""

import xml.dom.minidom
from datetime import datetime

import pytest

from webtext.components.plot import bars, lines
from webtext.components.report import figures
from webtext.components.report.page import html, markdown

PARENT = {"checkpoint_id": "p1", "label": "m:1", "snapshot_id": "s1", "ngram": 13}
SETTINGS = {"task": {"name": "sst"}, "learning_rate": 0.001, "epochs": 3}


def run(checkpoint_id, scratch, value, hour=0, data="d1", **settings):
    config = SETTINGS | settings | ({"from_scratch": True, "shape_of": "p1"} if scratch else {})
    return {"checkpoint_id": checkpoint_id, "created_at": datetime(2026, 1, 1, hour), "scratch": scratch,
            "config": config,
            "scores": [{"metric": "acc", "value": value, "n_examples": 10, "data_sha256": data}]}


def test_the_gain_pairs_each_tasks_latest_runs_of_the_same_settings():
    runs = [run("old", False, 0.5), run("t1", False, 0.8, hour=1), run("s1", True, 0.6, hour=1)]
    figure = figures.pretraining_gain(PARENT, runs)
    assert figure.missing is None
    [row] = figure.rows
    assert row[:5] == ["sst", "acc", 0.8, 0.6, pytest.approx(0.2)] and row[6:] == ["t1", "s1"]
    assert "`t1`" in " ".join(figure.sources) and len(figure.charts) == 1


def test_no_gain_is_claimed_across_settings_or_data():
    other_lr = figures.pretraining_gain(PARENT, [run("t1", False, 0.8),
                                                 run("s1", True, 0.6, learning_rate=0.1)])
    assert other_lr.missing and "with_scratch_baseline" in other_lr.missing and not other_lr.rows
    other_data = figures.pretraining_gain(PARENT, [run("t1", False, 0.8), run("s1", True, 0.6, data="d2")])
    assert other_data.missing and not other_data.charts
    assert figures.pretraining_gain(None, []).missing.startswith("no registered pretrained version")


def point(label, step, parameters, acc, data="d1", hour=0):
    return {"label": label, "checkpoint_id": label, "step": step, "parameters": parameters,
            "created_at": datetime(2026, 1, 1, hour),
            "scores": {("texts", "bpb"): (3.0 - acc, "t", 1), ("cloze", "acc"): (acc, data, 1),
                       ("cloze/clean", "acc"): (acc, data, 1)}}


def test_scaling_compares_a_task_only_on_the_latest_points_data():
    points = [point("a@10", 10, 1000, 0.3, hour=1), point("a", 20, 1000, 0.4, hour=2),
              point("b", 20, 8000, 0.5, data="old", hour=0)]
    figure = figures.zero_shot_scaling(points)
    assert figure.header == ["weights", "checkpoint", "step", "parameters", "texts bpb", "cloze acc"]
    assert [row[0] for row in figure.rows] == ["a@10", "a", "b"]  # by size, then step
    assert figure.rows[2][5] is None and figure.rows[2][4] == pytest.approx(2.5)  # other data: left out
    assert any("other data" in note for note in figure.notes)
    assert len(figure.charts) == 4  # each measure along training and by size


def test_k_shot_needs_a_task_at_two_ks():
    one = [{"task": "lw", "k": 0, "metric": "acc", "value": 0.1, "n_examples": 5, "data_sha256": "x"}]
    assert figures.k_shot(PARENT, one).missing
    two = one + [{"task": "lw", "k": 3, "metric": "acc", "value": 0.2, "n_examples": 5, "data_sha256": "y"}]
    figure = figures.k_shot(PARENT, two)
    assert [row[:2] for row in figure.rows] == [["lw", 0], ["lw", 3]]


def test_pages_say_what_is_missing_and_draw_the_rest():
    drawn = [figures.k_shot(PARENT, []), figures.alignment({"checkpoint_id": "a", "label": "m-aligned:1"},
                                                          {"checkpoint_id": "s", "label": "m-sft:1"},
                                                          {"reward": 1.0, "win_rate": 0.75}, {"reward": 0.2})]
    text = markdown("T", [], drawn, lambda figure, i: f"{figure.key}-{i}.svg")
    assert "**Missing:** Few-shot scores" in text and "![" in text and "| reward | 0.2000 | 1.0000 |" in text
    page = html("T", ["intro"], drawn)
    assert page.count("<svg") == 1 and 'class="missing"' in page and "75.0%" in page


def test_charts_are_whole_svg_documents():
    for svg in (lines({"a": [(1, 2.0), (10, 3.0)], "b <&>": [(5, 1.0)]}, "t", "x", "y", log_x=True),
                bars(["g1", "g2"], {"s": [0.5, None], "r": [0.0, -0.2]}, "t", "y"),
                bars(["g"], {"s": [0.0]}, "all zero", "y"), lines({}, "empty", "x", "y")):
        xml.dom.minidom.parseString(svg)
    with pytest.raises(ValueError, match="logarithmic"):
        lines({"a": [(0, 1.0)]}, "t", "x", "y", log_x=True)
