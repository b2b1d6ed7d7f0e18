"""The `report` stage (also `webtext report`, declared in `flows/cli.py` so that `--help` stays light):
the warehouse -> the seed papers' claims as figures, each with its data table and sources, written as
`report.md`, a standalone `report.html` and SVG charts under WEBTEXT_HOME/reports/<id>/, and as the
`report-<model>` artifact.

It reads what the stages before it recorded about `register.name`: its latest pretrained version (and
every earlier one, for the scaling figure), the tasks fine-tuned from it and their scratch baselines,
its evaluation, and the latest aligned version. A figure whose inputs are missing says so, and how to
produce them. The report's id hashes every figure's data: an unchanged warehouse is up to date.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
from pathlib import Path

import duckdb
from prefect.artifacts import create_markdown_artifact

from webtext.components.config import EvaluateConfig, WebtextConfig
from webtext.components.files import publish_directory
from webtext.components.home import Home
from webtext.components.records import CONFIG
from webtext.components.report import figures as claims
from webtext.components.report.figures import Figure
from webtext.components.report.page import chart_name, html, markdown
from webtext.flows.evaluate import slug
from webtext.flows.stage import Context, Plan, Stage
from webtext.warehouse import evaluate as evaluations
from webtext.warehouse import pretrain as checkpoints
from webtext.warehouse import registry
from webtext.warehouse import report as queries

MARKDOWN, HTML = "report.md", "report.html"


@functools.lru_cache(maxsize=16)
def _parameters(shape_json: str) -> int:
    """A shape's parameter count as GPT-2 counts it (tied head once, no position embeddings), from a
    model built on the meta device: no memory, no weights."""
    import torch

    from webtext.components.model.gpt import GPT, GPTConfig

    with torch.device("meta"):
        return GPT(GPTConfig(**json.loads(shape_json))).num_parameters()


def parameters(directory: Path) -> int:
    """The parameter count of the weights in `directory` (a registry version's), from their shape."""
    return _parameters((directory / CONFIG).read_text())


def _label(version: dict) -> str:
    return f"{version['name']}:{version['version']}"


def _keyed(scores: list[dict]) -> dict[tuple[str, str], tuple]:
    """(task, metric) -> (value, data_sha256, n_examples)."""
    return {(r["task"], r["metric"]): (r["value"], r["data_sha256"], r["n_examples"]) for r in scores}


def _scores(con: duckdb.DuckDBPyConnection, checkpoint_id: str) -> dict[tuple[str, str], tuple]:
    return _keyed(evaluations.scores(con, checkpoint_id))


def gather(con: duckdb.DuckDBPyConnection, home: Home, name: str, ngram: int) -> list[Figure]:
    """Every figure of the report on `name`, from the warehouse as it stands."""
    versions = queries.pretrained_versions(con, name)
    current = versions[-1] if versions else None
    subject = {"checkpoint_id": current["checkpoint_id"], "label": _label(current),
               "snapshot_id": current["snapshot_id"], "ngram": ngram} if current else None
    scores = _scores(con, current["checkpoint_id"]) if current else {}
    points = []
    for v in versions:  # each version's final weights, and those `evaluate.every_steps` kept before them
        size = parameters(home.registry / v["path"])
        along = evaluations.step_scores(con, v["checkpoint_id"])
        for step, found in [*along.items(), (v["step"], evaluations.scores(con, v["checkpoint_id"]))]:
            points.append({"label": _label(v) + (f" @ step {step}" if step in along else ""),
                           "checkpoint_id": v["checkpoint_id"], "step": step, "created_at": v["created_at"],
                           "parameters": size, "scores": _keyed(found)})
    return [
        claims.pretraining_gain(subject,
                                queries.finetune_runs(con, current["checkpoint_id"]) if current else []),
        claims.zero_shot_scaling(points),
        claims.k_shot(subject, _k_shot_rows(con, current, scores)),
        claims.contamination(subject, _contamination_rows(scores)),
        _alignment(con, name),
    ]


def _k_shot_rows(con: duckdb.DuckDBPyConnection, current: dict | None, scores: dict) -> list[dict]:
    """Each evaluate task given a list of K, at each K: its accuracy (and a last word's perplexity) as
    the latest evaluation measured them."""
    settings = queries.evaluation_config(con, current["checkpoint_id"]) if current else None
    if settings is None:
        return []
    found = []
    for task in EvaluateConfig.model_validate(settings).tasks:
        if not isinstance(task.shots, list):
            continue
        for scored in task.at_each_k():
            for metric in ("acc", "ppl"):
                if (scored.name, metric) in scores:
                    value, data, n = scores[(scored.name, metric)]
                    found.append({"task": task.name, "k": scored.shots, "metric": metric, "value": value,
                                  "n_examples": n, "data_sha256": data})
    return found


def _contamination_rows(scores: dict) -> list[dict]:
    """Each evaluation set's contaminated share, with its accuracy on all examples and on the clean ones
    where it is a zero-shot task."""
    found = []
    for (task, metric), (value, _, n) in sorted(scores.items()):
        if metric != "contamination":
            continue
        full, clean = scores.get((task, "acc")), scores.get((f"{task}/clean", "acc"))
        found.append({"set": task, "contamination": value, "n_examples": n,
                      "metric": "acc" if full else None, "full": full[0] if full else None,
                      "clean": clean[0] if clean else None, "n_clean": clean[2] if clean else None})
    return found


def _alignment(con: duckdb.DuckDBPyConnection, name: str) -> Figure:
    aligned = registry.latest(con, f"{name}-aligned")
    if aligned is None:
        return claims.alignment(None, None, {}, {})
    sft_id = checkpoints.checkpoint_row(con, aligned["checkpoint_id"])["parent_id"]
    sft_version = registry.version_of_checkpoint(con, f"{name}-sft", sft_id)
    sft = {"checkpoint_id": sft_id, "label": _label(sft_version) if sft_version else f"checkpoint {sft_id}"}

    def metrics(checkpoint_id: str) -> dict[str, float]:
        return {metric: value for (task, metric), (value, *_) in _scores(con, checkpoint_id).items()
                if task == "alignment"}

    return claims.alignment({"checkpoint_id": aligned["checkpoint_id"], "label": _label(aligned)}, sft,
                            metrics(aligned["checkpoint_id"]), metrics(sft_id))


class Report(Stage):
    """Write the claims report: the seed papers' questions answered by this pipeline's results."""

    name = "report"
    areas = {"reports": 1}

    def subject(self, config: WebtextConfig) -> str:
        return config.register.name

    def plan(self, ctx: Context) -> Plan:
        name = ctx.config.register.name
        drawn = gather(ctx.con, ctx.home, name, ctx.config.evaluate.contamination_ngram)
        report_id = self.output_id(name, [dataclasses.asdict(f) | {"charts": None} for f in drawn])
        row = queries.report_row(ctx.con, report_id)
        directory = ctx.home.reports / report_id
        if row is None or not (directory / HTML).is_file():
            return Plan(f"no report of {name}'s results as they stand", work=(drawn, report_id))
        return Plan(None, f"{_counts(drawn)}: {directory / HTML}", output=directory)

    def run(self, ctx: Context, plan: Plan) -> str:
        drawn, report_id = plan.work
        name = ctx.config.register.name
        title = f"The seed papers' claims, measured on {name}"
        intro = [f"Drawn from the warehouse {ctx.home.warehouse} (report {report_id}). Each figure answers "
                 "one question of the GPT papers with this pipeline's own models and data; every number "
                 "drawn is in its table, and a figure whose inputs are missing says how to produce them."]
        directory = ctx.home.reports / report_id

        def fill(scratch: Path) -> None:
            for figure in drawn:
                for i, chart in enumerate(figure.charts):
                    (scratch / chart_name(figure, i)).write_text(chart)
            (scratch / MARKDOWN).write_text(markdown(title, intro, drawn, chart_name))
            (scratch / HTML).write_text(html(title, intro, drawn))

        if not directory.is_dir():
            publish_directory(directory, fill)
        queries.record_report(ctx.con, report_id, name, report_id, [f.key for f in drawn if not f.missing],
                              [f.key for f in drawn if f.missing])
        create_markdown_artifact(key=f"report-{slug(name)}",
                                 markdown=markdown(title, intro, drawn, _data_uri),
                                 description=f"The seed papers' claims, measured on {name}.")
        return f"{_counts(drawn)}: {directory / HTML}"


def _data_uri(figure: Figure, index: int) -> str:
    import base64

    return "data:image/svg+xml;base64," + base64.b64encode(figure.charts[index].encode()).decode()


def _counts(drawn: list[Figure]) -> str:
    missing = [f.key for f in drawn if f.missing]
    return f"{len(drawn) - len(missing)} of {len(drawn)} figures drawn" + (
        f" ({', '.join(missing)} missing)" if missing else "")


def copy_out(directory: Path, out: Path) -> list[Path]:
    """The report's files copied into `out`, which may hold others."""
    out.mkdir(parents=True, exist_ok=True)
    copied = []
    for path in sorted(directory.iterdir()):
        shutil.copyfile(path, out / path.name)
        copied.append(out / path.name)
    return copied


STAGE = Report()
report = STAGE.flow
