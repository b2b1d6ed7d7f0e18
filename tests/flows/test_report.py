"""The claims report on the shared tiny run, whose config produces every figure's inputs (scratch
baselines, a K sweep, intermediate weights, an aligned model), and on the served home, whose run left the
fine-tuning and post-training stages out."""

import json
import re
import xml.dom.minidom
from html.parser import HTMLParser

import duckdb
import pytest

from tests.flows.stages import in_home, tiny
from webtext.components.files import sha256_file
from webtext.flows.report import HTML, MARKDOWN, report

pytestmark = pytest.mark.slow

FIGURES = ("pretraining-gain", "zero-shot-scaling", "k-shot", "contamination", "alignment")


def query(home, sql, params=()):
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql, params).fetchall()


class Tables(HTMLParser):
    """The rows of every <table> in a page, as lists of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


@pytest.fixture(scope="module")
def written(tiny_run):
    """The tiny run's report directory, its Markdown, and its HTML page's tables by figure."""
    [(path,)] = query(tiny_run.home, "SELECT path FROM reports")
    directory = tiny_run.home.reports / path
    page = (directory / HTML).read_text()
    sections = re.split(r'<h2 id="', page)[1:]
    tables = {}
    for section in sections:
        parser = Tables()
        parser.feed(section)
        tables[section.split('"', 1)[0]] = parser.tables
    return directory, (directory / MARKDOWN).read_text(), tables


def test_the_tiny_pipeline_draws_every_figure_with_its_data_table(tiny_run, written):
    directory, markdown, tables = written
    assert "report: 5 of 5 figures drawn" in tiny_run.pipeline[-1].summary
    assert list(tables) == list(FIGURES)
    for key in FIGURES:
        [table] = tables[key]
        assert len(table) >= 2, key  # a header and at least one row
        charts = sorted(directory.glob(f"{key}-*.svg"))
        assert charts, key
        for chart in charts:
            xml.dom.minidom.parse(str(chart))  # each chart is a whole SVG document
            assert f"]({chart.name})" in markdown
    assert "Not drawn" not in markdown and "Missing" not in markdown


def test_the_gain_table_is_each_task_fine_tuned_and_its_scratch_baseline(tiny_run, written):
    header, *rows = written[2]["pretraining-gain"][0]
    assert header[:5] == ["task", "metric", "pretrained", "from scratch", "gain"]
    recorded = dict(((checkpoint_id, task, metric), value) for checkpoint_id, task, metric, value in query(
        tiny_run.home, "SELECT checkpoint_id, task, metric, value FROM evaluations"))
    assert {row[0] for row in rows} == {"sentiment", "inference", "paraphrase", "story"}
    for task, metric, pretrained, scratch, gain, _, tuned_id, scratch_id in rows:
        [(parent,)] = query(tiny_run.home, "SELECT parent_id FROM checkpoints WHERE checkpoint_id = ?",
                            [tuned_id])
        [(shape_of,)] = query(tiny_run.home, "SELECT json_extract_string(config, '$.shape_of') FROM "
                              "checkpoints WHERE checkpoint_id = ? AND parent_id IS NULL", [scratch_id])
        assert parent == shape_of
        assert float(pretrained) == pytest.approx(recorded[(tuned_id, task, metric)], abs=5e-5)
        assert float(scratch) == pytest.approx(recorded[(scratch_id, task, metric)], abs=5e-5)
        assert float(gain) == pytest.approx(float(pretrained) - float(scratch), abs=2e-4)


def test_the_scaling_table_scores_the_weights_kept_along_pretraining(tiny_run, written):
    header, *rows = written[2]["zero-shot-scaling"][0]
    assert header == ["weights", "checkpoint", "step", "parameters", "texts bpb", "cloze acc",
                      "lastword-0shot acc", "lastword-3shot acc"]
    assert [(row[0], row[2]) for row in rows] == [
        ("webtext-tiny:1 @ step 10", "10"), ("webtext-tiny:1 @ step 20", "20"), ("webtext-tiny:1", "30")]
    [(checkpoint_id, config)] = query(tiny_run.home, "SELECT checkpoint_id, config FROM checkpoints "
                                      "WHERE kind = 'pretrain'")
    kept = json.loads(config)["kept_weights"]
    assert sorted(kept) == ["10", "20"]
    for step, sha in kept.items():  # weights handed on at each step, as recorded
        assert sha256_file(tiny_run.home.runs / checkpoint_id / "steps" / f"step-{int(step):08d}" /
                           "model.safetensors") == sha
    along = dict(((step, task, metric), value) for step, task, metric, value in query(
        tiny_run.home, "SELECT step, task, metric, value FROM step_evaluations"))
    final = dict(((task, metric), value) for task, metric, value in query(
        tiny_run.home, "SELECT task, metric, value FROM evaluations WHERE checkpoint_id = ?",
        [checkpoint_id]))
    # the evaluate stage's scores (SFT records the pretrained model's on its demonstrations too)
    evaluated = {key for key in final if key[1] != "contamination" and key[0] != "demonstrations"}
    assert {key[1:] for key in along} == evaluated
    for row in rows:
        step = int(row[2])
        scores = final if step == 30 else {key[1:]: value for key, value in along.items() if key[0] == step}
        assert float(row[4]) == pytest.approx(scores[("texts", "bpb")], abs=5e-5)
        assert float(row[5]) == pytest.approx(scores[("cloze", "acc")], abs=5e-5)
    assert float(rows[0][4]) > float(rows[2][4])  # the bits per byte fell with training


def test_the_k_shot_table_is_the_sweep_the_config_asked_for(tiny_run, written):
    header, *rows = written[2]["k-shot"][0]
    assert [tuple(row[:3]) for row in rows] == [("lastword", "0", "acc"), ("lastword", "3", "acc"),
                                                ("lastword", "0", "ppl"), ("lastword", "3", "ppl")]
    assert sorted(p.name for p in written[0].glob("k-shot-*.svg")) == [
        "k-shot-1.svg", "k-shot-2.svg"]  # accuracy, and the last word's perplexity, against K
    [(champion,)] = query(tiny_run.home, "SELECT checkpoint_id FROM model_versions "
                          "WHERE name = 'webtext-tiny'")
    for _, k, metric, value, n, _ in rows:
        [(recorded, count)] = query(tiny_run.home, "SELECT value, n_examples FROM evaluations WHERE "
                                    "checkpoint_id = ? AND task = ? AND metric = ?",
                                    [champion, f"lastword-{k}shot", metric])
        assert float(value) == pytest.approx(recorded, abs=5e-5) and int(n) == count == 16


def test_the_alignment_table_sets_the_sft_model_beside_the_aligned_one(tiny_run, written):
    header, *rows = written[2]["alignment"][0]
    found = {row[0]: row[1:] for row in rows}
    [(aligned, sft)] = query(tiny_run.home, "SELECT c.checkpoint_id, c.parent_id FROM model_versions v JOIN "
                             "checkpoints c USING (checkpoint_id) WHERE v.name = 'webtext-tiny-aligned'")
    for checkpoint_id, column in ((sft, 0), (aligned, 1)):
        for metric, value in query(tiny_run.home, "SELECT metric, value FROM evaluations "
                                   "WHERE checkpoint_id = ? AND task = 'alignment'", [checkpoint_id]):
            assert float(found[metric][column]) == pytest.approx(value, abs=5e-5), metric
    assert found["win_rate"][0] == "-"  # the SFT model has no win rate against itself


def test_a_rerun_is_up_to_date_and_the_command_copies_the_files_out(tiny_run, cli_in, tmp_path):
    with in_home(tiny_run.home.root):
        again = report(tiny())
    assert again.up_to_date and "5 of 5 figures drawn" in again.summary
    code, out, err = cli_in(tiny_run.home)("report", "--config", "tiny", "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "report: up to date" in out
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {HTML, MARKDOWN, "pretraining-gain-1.svg"}


def test_a_pipeline_without_fine_tuning_or_post_training_says_which_figures_are_missing(served_home):
    assert "report: 3 of 5 figures drawn (pretraining-gain, alignment missing)" in served_home.run.stdout
    with duckdb.connect(str(served_home.home / "warehouse.duckdb"), read_only=True) as con:
        [(path, figures, missing)] = con.execute("SELECT path, figures, missing FROM reports").fetchall()
    assert figures == ["zero-shot-scaling", "k-shot", "contamination"]
    assert missing == ["pretraining-gain", "alignment"]
    markdown = (served_home.home / "reports" / path / MARKDOWN).read_text()
    assert markdown.count("*Not drawn: ") == 2
    assert "set `finetune.with_scratch_baseline: true`" in markdown
    assert "no aligned model: configure `sft`, `reward` and `align` data" in markdown
