"""The `register` stage: the evaluated checkpoint -> a numbered version of `register.name`, promoted to
`register.alias` when it passes that alias's gates; and each model trained from it -> a version that
names the version it was trained from: a fine-tuned task model of `<register.name>-<task>`, the chat
model of `<register.name>-sft`, the reward model (trained from either) of `<register.name>-reward`, and
the aligned chat model of `<register.name>-aligned`, promoted to `chat` when it passes that alias's
gates (by default: it beats the SFT model, stays near it, and keeps its language modelling)."""

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
from webtext.flows.align import STAGE as ALIGN
from webtext.flows.evaluate import STAGE as EVALUATE
from webtext.flows.evaluate import slug
from webtext.flows.finetune import STAGE as FINETUNE
from webtext.flows.reward import STAGE as REWARD
from webtext.flows.sft import STAGE as SFT
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


def _derived_lineage(con: duckdb.DuckDBPyConnection, checkpoint: Checkpoint, name: str, number: int,
                     parent: dict) -> dict:
    """The lineage of a version trained from another: its shape and its config.json section (`task`,
    `chat` or `reward`) apart, the stage settings and data that trained it (`training`, with the
    stage's name as `stage`), and the version it was trained from."""
    from webtext.components.model.checkpoint import SECTIONS, TASK

    shape = checkpoint.shape
    sections = {key: shape.pop(key) for key in SECTIONS if key in shape}
    return {**_provenance(con, checkpoint, name, number), "model": shape, **sections,
            "training": {"stage": checkpoint.kind,
                         **{key: value for key, value in checkpoint.config.items() if key != TASK}},
            "parent": {"name": parent["name"], "version": parent["version"],
                       "checkpoint_id": parent["checkpoint_id"]}}



def _trained_from(ctx: Context, checkpoint: Checkpoint) -> dict[str, Checkpoint]:
    """The models trained from `checkpoint` under the current config, by the name each is registered
    under, in the order they are registered (a reward model's parent may be the chat model)."""
    name = ctx.config.register.name
    derived = {finetuned_name(name, task): tuned for task, tuned in FINETUNE.current(ctx).items()
               if tuned.parent_id == checkpoint.checkpoint_id}  # not those fine-tuned from scratch
    chat, judge = SFT.current(ctx), REWARD.current(ctx)
    if chat is not None and chat.parent_id == checkpoint.checkpoint_id:  # not one from another `sft.init`
        derived[f"{name}-sft"] = chat
    parents = {checkpoint.checkpoint_id, *(trained.checkpoint_id for trained in derived.values())}
    if judge is not None and judge.parent_id in parents:
        derived[f"{name}-reward"] = judge
    aligned = ALIGN.current(ctx)
    if aligned is not None and aligned.parent_id in parents:
        derived[f"{name}-aligned"] = aligned
    return derived


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


CHAT = "chat"  # the alias of the aligned version that `webtext chat NAME@chat` talks to


class Register(Stage):
    """Register the current evaluated checkpoint and promote it if its gates pass; register the
    models trained from it (fine-tuned, chat, reward, aligned), and promote the aligned one to `chat`
    if it passes that alias's gates.

    A checkpoint is registered once per model name: a rerun finds its version and checks the
    version's files against their hashes. A refused promotion is no failure of the stage: the version
    is registered, and the summary and `webtext models show` say which gate refused it. Of the versions
    trained from it, only the aligned one is promoted: the champion's gates judge pretrained scores.
    """

    name = "register"
    areas = {"registry": 2}

    def subject(self, config: WebtextConfig) -> str:
        return config.register.name

    def plan(self, ctx: Context) -> Plan:
        from webtext.components.evaluate.registry import verify_version

        checkpoint: Checkpoint = EVALUATE.current(ctx)
        name = ctx.config.register.name
        derived = _trained_from(ctx, checkpoint)
        version = queries.version_of_checkpoint(ctx.con, name, checkpoint.checkpoint_id)
        found = {model: queries.version_of_checkpoint(ctx.con, model, trained.checkpoint_id)
                 for model, trained in derived.items()}
        missing = {model: derived[model] for model, row in found.items() if row is None}
        if version is None or missing:
            why = []
            if version is None:
                why.append(f"checkpoint {checkpoint.checkpoint_id} is not registered as {name}")
            if missing:
                why.append(f"trained checkpoints not registered as {', '.join(missing)}")
            registered = {derived[model].checkpoint_id: row for model, row in found.items() if row}
            return Plan("; ".join(why), work=(checkpoint, version, missing, registered))
        for row in (version, *found.values()):
            verify_version(ctx.home.registry / row["path"], row["lineage_sha256"])
        return Plan(None, _describe(version, list(found.values())), output=version)

    def run(self, ctx: Context, plan: Plan) -> str:
        checkpoint, version, missing, registered = plan.work
        con, config = ctx.con, ctx.config
        name, alias = config.register.name, config.register.alias
        outcome = "registered before"
        if version is None:
            lineage = partial(_lineage, con, checkpoint, name, config=config)
            version = _new_version(ctx, name, checkpoint, lineage)
            failures = promote(con, config, version, alias)
            outcome = f"not promoted to {alias}: {'; '.join(failures)}" if failures else \
                f"promoted to {alias}"
        registered = {checkpoint.checkpoint_id: version, **registered}
        refused = ""
        for model, trained in missing.items():  # in order: a parent before the models trained from it
            parent = registered[trained.parent_id]
            lineage = partial(_derived_lineage, con, trained, model, parent=parent)
            new = _new_version(ctx, model, trained, lineage, parent=parent)
            if trained.kind == ALIGN.name:
                failures = promote(con, config, new, CHAT)
                if failures:
                    refused = f"; {_label(new)} not promoted to {CHAT}: {'; '.join(failures)}"
                new = queries.version(con, model, new["version"])
            registered[trained.checkpoint_id] = new
        new = [registered[trained.checkpoint_id] for trained in missing.values()]
        return f"{_label(version)} (checkpoint {checkpoint.checkpoint_id}), {outcome}{_trained(new)}{refused}"


def _label(version: dict) -> str:
    return f"{version['name']}:{version['version']}"


def _aliased(version: dict) -> str:
    return _label(version) + (f" @{', @'.join(version['aliases'])}" if version["aliases"] else "")


def _trained(versions: list[dict]) -> str:
    return f"; trained from it: {', '.join(sorted(map(_aliased, versions)))}" if versions else ""


def _describe(version: dict, derived: list[dict]) -> str:
    return f"{_aliased(version)}, checkpoint {version['checkpoint_id']}{_trained(derived)}"


STAGE = Register()
register = STAGE.flow
