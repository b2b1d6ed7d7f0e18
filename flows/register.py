"""The `register` stage: the evaluated checkpoint -> a numbered version of `register.name`, promoted to
`register.alias` when it passes that alias's gates; and each checkpoint fine-tuned from it -> a version
of `<register.name>-<task>` that names the version it was fine-tuned from."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from functools import partial

import duckdb
from prefect.artifacts import create_link_artifact

from webtext.components.config import WebtextConfig
from webtext.components.config.model_stages import MODEL_NAME
from webtext.components.errors import ConfigError
from webtext.components.records import Checkpoint
from webtext.flows.evaluate import STAGE as EVALUATE
from webtext.flows.evaluate import slug
from webtext.flows.finetune import STAGE as FINETUNE
from webtext.flows.stage import Context, Plan, Stage
from webtext.warehouse import evaluate as evaluations
from webtext.warehouse import registry as queries
from webtext.warehouse import tokenize as tokenizers


def promote(con: duckdb.DuckDBPyConnection, config: WebtextConfig, version: dict, alias: str,
            force: bool = False) -> list[str]:
    """Point `alias` at `version` if it passes the alias's gates (or `force`); log the attempt either
    way. Returns the failed gates (empty when promoted)."""
    from webtext.components.evaluate.promotion import failed_gates

    name, number = version["name"], version["version"]
    current = queries.holder(con, name, alias)
    if current is not None and current["version"] == number:
        return []
    failures = failed_gates(
        config.register.gates.get(alias, []), evaluations.scores_by_key(con, version["checkpoint_id"]),
        None if current is None else evaluations.scores_by_key(con, current["checkpoint_id"]),
        None if current is None else f"{name}:{current['version']}")
    accepted = force or not failures
    reason = "; ".join(failures) or None
    if force and failures:
        reason = f"forced past: {reason}"
    queries.record_promotion(con, name=name, number=number, alias=alias, accepted=accepted, reason=reason)
    return [] if accepted else failures


def _provenance(con: duckdb.DuckDBPyConnection, checkpoint: Checkpoint, name: str, number: int) -> dict:
    """What the lineage of every version says: the checkpoint, its data, tokenizer, code and scores."""
    from webtext.components.evaluate.registry import code_version
    from webtext.components.tokenize.bpe import END_OF_TEXT

    tokenizer = tokenizers.tokenizer_row(con, checkpoint.tokenizer_id)
    metrics: dict[str, dict[str, float]] = {}
    for (task, metric), score in evaluations.scores_by_key(con, checkpoint.checkpoint_id).items():
        metrics.setdefault(task, {})[metric] = score.value
    return {
        "name": name, "version": number, "checkpoint_id": checkpoint.checkpoint_id,
        "checkpoint_sha256": checkpoint.sha256, "step": checkpoint.step,
        "snapshot_id": checkpoint.snapshot_id, "token_set_id": checkpoint.token_set_id,
        "tokenizer_id": checkpoint.tokenizer_id, "tokenizer_sha256": tokenizer["sha256"],
        "eot_id": json.loads(checkpoint.tokenizer_path.read_text())["model"]["vocab"][END_OF_TEXT],
        "code_version": code_version(), "metrics": metrics,
    }


def _lineage(con: duckdb.DuckDBPyConnection, checkpoint: Checkpoint, name: str, number: int,
             config: WebtextConfig) -> dict:
    finetuned: dict[str, dict] = {}
    for row in evaluations.finetuned_scores(con, checkpoint.checkpoint_id):
        entry = finetuned.setdefault(row["task"], {"checkpoint_id": row["checkpoint_id"], "metrics": {}})
        entry["metrics"][row["metric"]] = row["value"]
    return {**_provenance(con, checkpoint, name, number), "model": checkpoint.shape,
            "pretrain": checkpoint.config, "contamination_ngram": config.evaluate.contamination_ngram,
            "finetuned": finetuned}


def _finetuned_lineage(con: duckdb.DuckDBPyConnection, checkpoint: Checkpoint, name: str, number: int,
                       parent: dict) -> dict:
    """A fine-tuned version's lineage: its shape and task section apart, its fine-tuning settings, and
    the version it was fine-tuned from."""
    from webtext.components.model.checkpoint import TASK

    shape = checkpoint.shape
    task = shape.pop(TASK)
    return {**_provenance(con, checkpoint, name, number), "model": shape, TASK: task,
            "finetune": {key: value for key, value in checkpoint.config.items() if key != TASK},
            "parent": {"name": parent["name"], "version": parent["version"],
                       "checkpoint_id": parent["checkpoint_id"]}}




def finetuned_name(name: str, task: str) -> str:
    """The model name a task's fine-tuned versions are registered under: `<register.name>-<task>`."""
    model = f"{name}-{task}"
    if not re.match(MODEL_NAME, model):
        raise ConfigError(f"finetune task {task!r}: its fine-tuned model would be named {model!r}; a model "
                          f"name is letters, digits, '.', '_' and '-': rename the task")
    return model


def _new_version(ctx: Context, name: str, checkpoint: Checkpoint, lineage: Callable[[int], dict],
                 parent: dict | None = None) -> dict:
    """Publish the next version of `name` from `checkpoint` (its lineage made for its number), record
    it, link it as an artifact; returns its row."""
    from webtext.components.evaluate.registry import write_version

    con = ctx.con
    number = queries.next_version(con, name)
    path = f"{name}/{number}"
    directory = ctx.home.registry / path
    shutil.rmtree(directory, ignore_errors=True)  # left by a run that died before recording it
    lineage_sha256 = write_version(directory, weights_dir=checkpoint.directory,
                                   tokenizer_json=checkpoint.tokenizer_path, lineage=lineage(number))
    queries.record_version(con, name=name, number=number, checkpoint_id=checkpoint.checkpoint_id, path=path,
                           lineage_sha256=lineage_sha256,
                           parent=None if parent is None else (parent["name"], parent["version"]))
    create_link_artifact(
        key=f"registry-{slug(name)}", link=directory.as_uri(), link_text=f"{name}:{number}",
        description=f"Registry entry of {name}:{number} (checkpoint {checkpoint.checkpoint_id}).")
    return queries.version(con, name, number)


class Register(Stage):
    """Register the current evaluated checkpoint and promote it if its gates pass; register the
    checkpoints fine-tuned from it.

    A checkpoint is registered once per model name: a rerun finds its version and checks the
    version's files against their hashes. A refused promotion is no failure of the stage: the version
    is registered, and the summary and `webtext models show` say which gate refused it. Fine-tuned
    versions are not promoted: the gates judge pretrained scores.
    """

    name = "register"
    areas = {"registry": 2}

    def subject(self, config: WebtextConfig) -> str:
        return config.register.name

    def plan(self, ctx: Context) -> Plan:
        from webtext.components.evaluate.registry import verify_version

        checkpoint: Checkpoint = EVALUATE.current(ctx)
        name = ctx.config.register.name
        finetuned = {finetuned_name(name, task): tuned for task, tuned in FINETUNE.current(ctx).items()
                     if tuned.parent_id == checkpoint.checkpoint_id}  # not those fine-tuned from scratch
        version = queries.version_of_checkpoint(ctx.con, name, checkpoint.checkpoint_id)
        tuned_versions = {model: queries.version_of_checkpoint(ctx.con, model, tuned.checkpoint_id)
                          for model, tuned in finetuned.items()}
        missing = {model: finetuned[model] for model, found in tuned_versions.items() if found is None}
        if version is None or missing:
            why = []
            if version is None:
                why.append(f"checkpoint {checkpoint.checkpoint_id} is not registered as {name}")
            if missing:
                why.append(f"fine-tuned checkpoints not registered as {', '.join(missing)}")
            return Plan("; ".join(why), work=(checkpoint, version, missing))
        for registered in (version, *tuned_versions.values()):
            verify_version(ctx.home.registry / registered["path"], registered["lineage_sha256"])
        return Plan(None, _describe(version, sorted(tuned_versions.values(), key=_label)), output=version)

    def run(self, ctx: Context, plan: Plan) -> str:
        checkpoint, version, missing = plan.work
        con, config = ctx.con, ctx.config
        name, alias = config.register.name, config.register.alias
        outcome = "registered before"
        if version is None:
            lineage = partial(_lineage, con, checkpoint, name, config=config)
            version = _new_version(ctx, name, checkpoint, lineage)
            failures = promote(con, config, version, alias)
            outcome = f"not promoted to {alias}: {'; '.join(failures)}" if failures else \
                f"promoted to {alias}"
        tuned = [_new_version(ctx, model, finetuned, partial(_finetuned_lineage, con, finetuned, model,
                                                              parent=version), parent=version)
                 for model, finetuned in sorted(missing.items())]
        registered = f"; fine-tuned: {', '.join(_label(v) for v in tuned)}" if tuned else ""
        return f"{_label(version)} (checkpoint {checkpoint.checkpoint_id}), {outcome}{registered}"


def _label(version: dict) -> str:
    return f"{version['name']}:{version['version']}"


def _describe(version: dict, finetuned: list[dict]) -> str:
    aliases = f" @{', @'.join(version['aliases'])}" if version["aliases"] else ""
    tuned = f"; fine-tuned: {', '.join(_label(v) for v in finetuned)}" if finetuned else ""
    return f"{_label(version)}{aliases}, checkpoint {version['checkpoint_id']}{tuned}"


STAGE = Register()
register = STAGE.flow
