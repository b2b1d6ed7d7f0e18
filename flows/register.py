"""The `register` flow: the evaluated checkpoint -> a numbered version of `register.name`, promoted to
`register.alias` when it passes that alias's gates.

A checkpoint is registered once per model name: a rerun finds its version, checks the version's files
against their hashes and says up to date. A refused promotion is no failure of the stage: the version
is registered, and the report and `webtext models show` say which gate refused it.
"""

from __future__ import annotations

import json
import shutil

import duckdb
from prefect import flow
from prefect.artifacts import create_link_artifact

import warehouse
from components.config import WebtextConfig
from components.errors import InputError
from components.home import Home
from flows.evaluate import current_evaluation, slug
from flows.exclusive import holds_warehouse
from flows.results import StageResult, run_name
from warehouse import evaluate as evaluations
from warehouse import registry as queries
from warehouse import tokenize as tokenizers


@flow(name="register", flow_run_name=run_name("register"))
@holds_warehouse
def register(config: WebtextConfig) -> StageResult:
    """Register the current evaluated checkpoint and promote it if its gates pass."""
    home = Home.from_env()
    with warehouse.connect(home.warehouse) as con:
        return _register(con, config, home)


def scores_by_key(con: duckdb.DuckDBPyConnection, checkpoint_id: str) -> dict[tuple[str, str], float]:
    return {(r["task"], r["metric"]): r["value"] for r in evaluations.scores(con, checkpoint_id)}


def promote(con: duckdb.DuckDBPyConnection, config: WebtextConfig, version: dict, alias: str,
            force: bool = False) -> list[str]:
    """Point `alias` at `version` if it passes the alias's gates (or `force`); log the attempt either
    way. Returns the failed gates (empty when promoted)."""
    from components.evaluate.promotion import failed_gates

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


def _lineage(con: duckdb.DuckDBPyConnection, checkpoint: dict, name: str, number: int,
             config: WebtextConfig) -> dict:
    from components.evaluate.registry import code_version
    from components.tokenize.bpe import END_OF_TEXT

    tokenizer = tokenizers.tokenizer_row(con, checkpoint["tokenizer_id"])
    tokenizer_json = checkpoint["tokenizer_path"]
    metrics: dict[str, dict[str, float]] = {}
    for (task, metric), value in scores_by_key(con, checkpoint["checkpoint_id"]).items():
        metrics.setdefault(task, {})[metric] = value
    finetuned: dict[str, dict] = {}
    for row in evaluations.finetuned_scores(con, checkpoint["checkpoint_id"]):
        entry = finetuned.setdefault(row["task"], {"checkpoint_id": row["checkpoint_id"], "metrics": {}})
        entry["metrics"][row["metric"]] = row["value"]
    return {
        "name": name, "version": number, "checkpoint_id": checkpoint["checkpoint_id"],
        "checkpoint_sha256": checkpoint["sha256"], "step": checkpoint["step"],
        "snapshot_id": checkpoint["snapshot_id"], "token_set_id": checkpoint["token_set_id"],
        "tokenizer_id": checkpoint["tokenizer_id"], "tokenizer_sha256": tokenizer["sha256"],
        "eot_id": json.loads(tokenizer_json.read_text())["model"]["vocab"][END_OF_TEXT],
        "model": json.loads((checkpoint["directory"] / "config.json").read_text()),
        "pretrain": json.loads(checkpoint["config"]), "code_version": code_version(),
        "contamination_ngram": config.evaluate.contamination_ngram,
        "metrics": metrics, "finetuned": finetuned,
    }


def plan(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home) -> str | None:
    """Why the stage would run now, or None when it is up to date."""
    checkpoint, _, evaluated = current_evaluation(con, config, home)
    if evaluated is None:
        raise InputError(f"checkpoint {checkpoint['checkpoint_id']} is not evaluated yet")
    if queries.version_of_checkpoint(con, config.register.name, checkpoint["checkpoint_id"]) is None:
        return f"checkpoint {checkpoint['checkpoint_id']} is not registered as {config.register.name}"
    return None


def _register(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home) -> StageResult:
    from components.evaluate.registry import verify_version, write_version

    checkpoint, _, evaluated = current_evaluation(con, config, home)
    checkpoint_id = checkpoint["checkpoint_id"]
    if evaluated is None:
        raise InputError(f"checkpoint {checkpoint_id} has no evaluation under the current evaluate config: "
                         f"run `webtext stage evaluate` first")
    name, alias = config.register.name, config.register.alias
    version = queries.version_of_checkpoint(con, name, checkpoint_id)
    if version is not None:
        verify_version(home.registry / version["path"], version["lineage_sha256"])
        return StageResult(stage="register", up_to_date=True,
                           summary=f"register: up to date ({_describe(version)})")

    number = queries.next_version(con, name)
    path = f"{name}/{number}"
    directory = home.registry / path
    shutil.rmtree(directory, ignore_errors=True)  # left by a run that died before recording it
    lineage = _lineage(con, checkpoint, name, number, config)
    lineage_sha256 = write_version(directory, weights_dir=checkpoint["directory"],
                                   tokenizer_json=checkpoint["tokenizer_path"], lineage=lineage)
    queries.record_version(con, name=name, number=number, checkpoint_id=checkpoint_id, path=path,
                           lineage_sha256=lineage_sha256)
    failures = promote(con, config, queries.version(con, name, number), alias)
    version = queries.version(con, name, number)
    create_link_artifact(key=f"registry-{slug(name)}", link=directory.as_uri(), link_text=f"{name}:{number}",
                         description=f"Registry entry of {name}:{number} (checkpoint {checkpoint_id}).")
    outcome = f"promoted to {alias}" if not failures else f"not promoted to {alias}: {'; '.join(failures)}"
    return StageResult(stage="register", up_to_date=False,
                       summary=f"register: {name}:{number} (checkpoint {checkpoint_id}), {outcome}")


def _describe(version: dict) -> str:
    aliases = f" @{', @'.join(version['aliases'])}" if version["aliases"] else ""
    return f"{version['name']}:{version['version']}{aliases}, checkpoint {version['checkpoint_id']}"
