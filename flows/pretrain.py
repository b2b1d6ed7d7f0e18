"""The `pretrain` flow: the current token set -> a training process -> a registered checkpoint.

The checkpoint id hashes the token set, the resolved model shape and the pretrain config, so a rerun
with the same inputs finds its weights and says up to date, and a changed config trains anew. The
run directory is named by that id: a killed run, started again, resumes from its last checkpoint.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import duckdb
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

import warehouse
from components.config import WebtextConfig
from components.errors import ConfigError, InputError, StageError
from components.files import atomic_write_bytes, sha256_file, stable_hash
from components.home import Home
from flows.exclusive import holds_warehouse
from flows.results import StageResult, run_name
from flows.tokenize import current_token_set
from flows.training import WEIGHTS, finished_run, run_jobs
from warehouse import pretrain as queries

PRETRAIN_VERSION = 1  # bump when the same inputs and config would now train other weights


@flow(name="pretrain", flow_run_name=run_name("pretrain"))
@holds_warehouse
def pretrain(config: WebtextConfig) -> StageResult:
    """Pretrain the GPT on the current token set; register the weights as a checkpoint."""
    home = Home.from_env()
    with warehouse.connect(home.warehouse) as con:
        return _pretrain(con, config, home)


def _identity(tokens: dict, config: WebtextConfig):
    """The model shape and the checkpoint id the current config trains on this token set."""
    from components.model.presets import model_config

    try:
        shape = model_config(config.pretrain.model, tokens["vocab_size"])
    except (TypeError, ValueError) as exc:  # an inline shape with an unknown field or a bad value
        raise ConfigError(f"pretrain.model={config.pretrain.model!r}: {exc}") from exc
    settings = config.pretrain.model_dump(mode="json")
    return shape, stable_hash([tokens["token_set_id"], shape.to_dict(), settings, PRETRAIN_VERSION])[:16]


def current_checkpoint(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home) -> dict:
    """The `checkpoints` row the current pretrain config made, with its directory; the stages after
    pretrain start from it. Raises unless it is registered and its weights verify."""
    tokens = current_token_set(con, config, home)
    _, checkpoint_id = _identity(tokens, config)
    row = queries.checkpoint_row(con, checkpoint_id)
    directory = home.runs / checkpoint_id
    weights = directory / WEIGHTS
    if row is None or not weights.is_file() or sha256_file(weights) != row["sha256"]:
        raise InputError(f"no checkpoint {checkpoint_id} of the current pretrain config: "
                         f"run `webtext stage pretrain` first")
    return {**row, "directory": directory, "tokenizer_path": tokens["tokenizer_path"]}


def plan(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home) -> str | None:
    """Why the stage would run now, or None when it is up to date."""
    tokens = current_token_set(con, config, home)
    _, checkpoint_id = _identity(tokens, config)
    row = queries.checkpoint_row(con, checkpoint_id)
    weights = home.runs / checkpoint_id / WEIGHTS
    if row is None or not weights.is_file() or sha256_file(weights) != row["sha256"]:
        return f"checkpoint {checkpoint_id} of token set {tokens['token_set_id']} is not trained"
    return None


def _pretrain(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home) -> StageResult:
    tokens = current_token_set(con, config, home)
    shape, checkpoint_id = _identity(tokens, config)
    settings = config.pretrain.model_dump(mode="json")
    run_dir = home.runs / checkpoint_id
    row = queries.checkpoint_row(con, checkpoint_id)
    weights = run_dir / WEIGHTS
    if row is not None and weights.is_file() and sha256_file(weights) == row["sha256"]:
        return StageResult(stage="pretrain", up_to_date=True,
                           summary=f"pretrain: up to date (checkpoint {checkpoint_id}, step {row['step']})")

    val = tokens["splits"]["val"]
    if not val["n_bytes"]:
        raise InputError(f"token set {tokens['token_set_id']} has no validation documents to report "
                         f"bits per byte on: set tokenize.val_fraction above 0")
    job = {"out": str(run_dir), "tokens": str(tokens["directory"]),
           "tokenizer": str(tokens["tokenizer_path"]),
           "val_tokens_per_byte": val["n_tokens"] / val["n_bytes"], "model": shape.to_dict(),
           "pretrain": settings}
    run_dir.mkdir(parents=True, exist_ok=True)
    job_file = run_dir / "job.json"
    atomic_write_bytes(job_file, (json.dumps(job, indent=1) + "\n").encode())
    get_run_logger().info("run %s: %s", checkpoint_id, job_file)
    result = finished_run(run_dir)
    if result is None:
        [result] = run_jobs(checkpoint_id, [job_file], "components.train", "pretrain-progress")
    if sha256_file(weights) != result["files"][WEIGHTS]:
        raise StageError(f"training {checkpoint_id}: {weights} does not match the hash its run recorded")
    queries.record_checkpoint(
        con, checkpoint_id=checkpoint_id, kind="pretrain", parent_id=None,
        tokenizer_id=tokens["tokenizer_id"],
        snapshot_id=tokens["snapshot_id"], token_set_id=tokens["token_set_id"], path=checkpoint_id,
        sha256=result["files"][WEIGHTS], step=result["step"], config_json=json.dumps(settings),
        val_loss=result["val_loss"], val_bpb=result["val_bpb"])
    _report(run_dir, checkpoint_id, result)
    return StageResult(
        stage="pretrain", up_to_date=False,
        summary=f"pretrain: checkpoint {checkpoint_id}, {result['parameters']:,} parameters, step "
                f"{result['step']}, val loss {result['val_loss']:.3f} nats/token = {result['val_bpb']:.3f} "
                f"bits/byte",
    )


def _report(run_dir: Path, checkpoint_id: str, result: dict) -> None:
    from components.train.curve import read_curves, svg

    picture = svg(read_curves(run_dir / "logs" / "metrics.csv"), f"loss of {checkpoint_id} (nats/token)")
    encoded = base64.b64encode(picture.encode()).decode()
    create_markdown_artifact(
        key="pretrain-curve",
        markdown=f"# Pretraining {checkpoint_id}\n\n![loss curve](data:image/svg+xml;base64,{encoded})\n\n"
                 f"step {result['step']}: validation loss {result['val_loss']:.4f} nats/token, "
                 f"{result['val_bpb']:.4f} bits/byte; logs in `{run_dir}`",
        description="Training and validation loss over steps.",
    )
