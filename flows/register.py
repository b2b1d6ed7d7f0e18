"""The `register` stage: the evaluated checkpoint -> a numbered version of `register.name`, promoted to
`register.alias` when it passes that alias's gates."""

from __future__ import annotations

import json
import shutil

import duckdb
from prefect.artifacts import create_link_artifact

from webtext.components.config import WebtextConfig
from webtext.components.records import Checkpoint
from webtext.flows.evaluate import STAGE as EVALUATE
from webtext.flows.evaluate import slug
from webtext.flows.stage import Context, Plan, Stage
from webtext.warehouse import evaluate as evaluations
from webtext.warehouse import registry as queries
from webtext.warehouse import tokenize as tokenizers


def scores_by_key(con: duckdb.DuckDBPyConnection, checkpoint_id: str) -> dict[tuple[str, str], float]:
    return {(r["task"], r["metric"]): r["value"] for r in evaluations.scores(con, checkpoint_id)}


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
        config.register.gates.get(alias, []), scores_by_key(con, version["checkpoint_id"]),
        None if current is None else scores_by_key(con, current["checkpoint_id"]),
        None if current is None else f"{name}:{current['version']}")
    accepted = force or not failures
    reason = "; ".join(failures) or None
    if force and failures:
        reason = f"forced past: {reason}"
    queries.record_promotion(con, name=name, number=number, alias=alias, accepted=accepted, reason=reason)
    return [] if accepted else failures


def _lineage(con: duckdb.DuckDBPyConnection, checkpoint: Checkpoint, name: str, number: int,
             config: WebtextConfig) -> dict:
    from webtext.components.evaluate.registry import code_version
    from webtext.components.tokenize.bpe import END_OF_TEXT

    tokenizer = tokenizers.tokenizer_row(con, checkpoint.tokenizer_id)
    metrics: dict[str, dict[str, float]] = {}
    for (task, metric), value in scores_by_key(con, checkpoint.checkpoint_id).items():
        metrics.setdefault(task, {})[metric] = value
    finetuned: dict[str, dict] = {}
    for row in evaluations.finetuned_scores(con, checkpoint.checkpoint_id):
        entry = finetuned.setdefault(row["task"], {"checkpoint_id": row["checkpoint_id"], "metrics": {}})
        entry["metrics"][row["metric"]] = row["value"]
    return {
        "name": name, "version": number, "checkpoint_id": checkpoint.checkpoint_id,
        "checkpoint_sha256": checkpoint.sha256, "step": checkpoint.step,
        "snapshot_id": checkpoint.snapshot_id, "token_set_id": checkpoint.token_set_id,
        "tokenizer_id": checkpoint.tokenizer_id, "tokenizer_sha256": tokenizer["sha256"],
        "eot_id": json.loads(checkpoint.tokenizer_path.read_text())["model"]["vocab"][END_OF_TEXT],
        "model": checkpoint.shape, "pretrain": checkpoint.config, "code_version": code_version(),
        "contamination_ngram": config.evaluate.contamination_ngram,
        "metrics": metrics, "finetuned": finetuned,
    }


class Register(Stage):
    """Register the current evaluated checkpoint and promote it if its gates pass.

    A checkpoint is registered once per model name: a rerun finds its version and checks the
    version's files against their hashes. A refused promotion is no failure of the stage: the version
    is registered, and the summary and `webtext models show` say which gate refused it.
    """

    name = "register"
    areas = {"registry": 2}

    def subject(self, config: WebtextConfig) -> str:
        return config.register.name

    def plan(self, ctx: Context) -> Plan:
        from webtext.components.evaluate.registry import verify_version

        checkpoint: Checkpoint = EVALUATE.current(ctx)
        version = queries.version_of_checkpoint(ctx.con, ctx.config.register.name, checkpoint.checkpoint_id)
        if version is None:
            return Plan(f"checkpoint {checkpoint.checkpoint_id} is not registered as "
                        f"{ctx.config.register.name}", work=checkpoint)
        verify_version(ctx.home.registry / version["path"], version["lineage_sha256"])
        return Plan(None, _describe(version), output=version)

    def run(self, ctx: Context, plan: Plan) -> str:
        from webtext.components.evaluate.registry import write_version

        checkpoint: Checkpoint = plan.work
        con, config = ctx.con, ctx.config
        name, alias = config.register.name, config.register.alias
        number = queries.next_version(con, name)
        path = f"{name}/{number}"
        directory = ctx.home.registry / path
        shutil.rmtree(directory, ignore_errors=True)  # left by a run that died before recording it
        lineage = _lineage(con, checkpoint, name, number, config)
        lineage_sha256 = write_version(directory, weights_dir=checkpoint.directory,
                                       tokenizer_json=checkpoint.tokenizer_path, lineage=lineage)
        queries.record_version(con, name=name, number=number, checkpoint_id=checkpoint.checkpoint_id,
                               path=path, lineage_sha256=lineage_sha256)
        failures = promote(con, config, queries.version(con, name, number), alias)
        create_link_artifact(
            key=f"registry-{slug(name)}", link=directory.as_uri(), link_text=f"{name}:{number}",
            description=f"Registry entry of {name}:{number} (checkpoint {checkpoint.checkpoint_id}).")
        outcome = f"not promoted to {alias}: {'; '.join(failures)}" if failures else f"promoted to {alias}"
        return f"{name}:{number} (checkpoint {checkpoint.checkpoint_id}), {outcome}"


def _describe(version: dict) -> str:
    aliases = f" @{', @'.join(version['aliases'])}" if version["aliases"] else ""
    return f"{version['name']}:{version['version']}{aliases}, checkpoint {version['checkpoint_id']}"


STAGE = Register()
register = STAGE.flow
