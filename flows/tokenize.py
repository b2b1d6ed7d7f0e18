"""The `tokenize` flow: a snapshot -> a trained byte-level BPE -> the snapshot encoded into shards.

Both outputs are content-addressed: the tokenizer by its snapshot and training config, the token
set by its tokenizer, snapshot and split config. A rerun that finds both recorded and whole says
up to date; a new split config re-encodes with the tokenizer it has.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

import warehouse
from components.config import TokenizeConfig, WebtextConfig
from components.errors import InputError
from components.extract import keys as extract_keys
from components.extract.snapshot import DATA_FILE
from components.extract.snapshot import verify as verify_snapshot
from components.files import publish_directory, sha256_file, stable_hash
from components.home import Home
from flows.exclusive import holds_warehouse
from flows.results import StageResult, run_name
from warehouse import extract as snapshots
from warehouse import tokenize as queries

# Bump when the same inputs and config would now give another tokenizer or other shards.
TOKENIZER_VERSION = 1
ENCODE_VERSION = 1
TOKENIZER_FILE = "tokenizer.json"


def _snapshot(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home) -> tuple[str, Path]:
    """The snapshot to tokenize (`tokenize.snapshot`, else the current extract config's) and its file."""
    if config.tokenize.snapshot:
        found = snapshots.find_snapshots(con, config.tokenize.snapshot)
        if len(found) != 1:
            what = "matches no snapshot" if not found else "matches several snapshots"
            raise InputError(f"tokenize.snapshot={config.tokenize.snapshot!r} {what}; "
                             f"`webtext corpus list` shows them")
        row = found[0]
    else:
        kept = snapshots.kept_set(con)
        snapshot_id = extract_keys.snapshot_id(kept.digest, extract_keys.judge_key(config.extract))
        row = snapshots.snapshot_row(con, snapshot_id)
        if row is None:
            raise InputError("no snapshot of the current extract config: run `webtext stage extract` "
                             "first, or name one with --set tokenize.snapshot=ID")
    directory = home.snapshots / row["path"]
    if not verify_snapshot(directory, row["sha256"]):
        raise InputError(f"snapshot {row['snapshot_id']}: {directory / DATA_FILE} is missing or changed")
    if row["n_documents"] == 0:
        raise InputError(f"snapshot {row['snapshot_id']} holds no documents: nothing to tokenize")
    return row["snapshot_id"], directory / DATA_FILE


def _training_config(config: TokenizeConfig) -> dict:
    return config.model_dump(mode="json", include={"vocab_size", "min_frequency", "train_max_bytes"})


def _layout(config: TokenizeConfig) -> dict:
    return config.model_dump(mode="json", include={"val_fraction", "shard_tokens"})


def _ids(snapshot_id: str, config: TokenizeConfig) -> tuple[str, str]:
    """The tokenizer id and token set id this config gives for this snapshot."""
    tokenizer_id = stable_hash([snapshot_id, _training_config(config), TOKENIZER_VERSION])[:16]
    return tokenizer_id, stable_hash([tokenizer_id, snapshot_id, _layout(config), ENCODE_VERSION])[:16]


def current_token_set(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home) -> dict:
    """The token set the current tokenize config made (its `token_sets` row, with the tokenizer's
    path and vocab size); the stages after tokenize read it. Raises unless it exists and is whole."""
    from components.tokenize.shards import verify

    snapshot_id, _ = _snapshot(con, config, home)
    tokenizer_id, token_set_id = _ids(snapshot_id, config.tokenize)
    row, tokenizer = queries.token_set_row(con, token_set_id), queries.tokenizer_row(con, tokenizer_id)
    if row is None or tokenizer is None or not verify(home.tokens / row["path"], row["manifest_sha256"]):
        raise InputError(f"no token set {token_set_id} of the current tokenize config: "
                         f"run `webtext stage tokenize` first")
    return {**row, "directory": home.tokens / row["path"], "vocab_size": tokenizer["vocab_size"],
            "tokenizer_path": home.tokenizers / tokenizer["path"] / TOKENIZER_FILE,
            "splits": {s["split"]: s for s in queries.token_splits(con, token_set_id)}}


def plan(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home) -> str | None:
    """Why the stage would run now, or None when it is up to date."""
    from components.tokenize.shards import verify

    snapshot_id, _ = _snapshot(con, config, home)
    tokenizer_id, token_set_id = _ids(snapshot_id, config.tokenize)
    row = queries.tokenizer_row(con, tokenizer_id)
    if row is None or _sha256_or_none(home.tokenizers / tokenizer_id / TOKENIZER_FILE) != row["sha256"]:
        return f"tokenizer {tokenizer_id} of snapshot {snapshot_id} is not trained"
    existing = queries.token_set_row(con, token_set_id)
    if existing is None or not verify(home.tokens / token_set_id, existing["manifest_sha256"]):
        return f"token set {token_set_id} is not encoded"
    return None


@task(task_run_name="train-tokenizer-{tokenizer_id}")
def train_tokenizer(tokenizer_id: str, data: Path, directory: Path, config: TokenizeConfig) -> dict:
    """Train into `directory`, published whole; return vocab size and bytes trained on."""
    from components.tokenize.bpe import train, write_transformers_files
    from components.tokenize.texts import SnapshotTexts

    def fill(scratch: Path) -> dict:
        texts = SnapshotTexts(data, config.train_max_bytes)
        vocab_size = train(texts, scratch / TOKENIZER_FILE, vocab_size=config.vocab_size,
                           min_frequency=config.min_frequency)
        write_transformers_files(scratch)
        return {"vocab_size": vocab_size, "trained_bytes": texts.n_bytes}

    shutil.rmtree(directory, ignore_errors=True)  # a damaged copy of the same id
    result = publish_directory(directory, fill)
    get_run_logger().info("trained a %d-token vocabulary on %s bytes", result["vocab_size"],
                          f"{result['trained_bytes']:,}")
    return result


@task(task_run_name="encode-{token_set_id}")
def encode(token_set_id: str, data: Path, tokenizer: Path, directory: Path, identity: dict,
           config: TokenizeConfig) -> dict:
    """Encode the snapshot into shards under `directory`, published whole; return the manifest."""
    from components.tokenize.bpe import END_OF_TEXT, tiktoken_encoding
    from components.tokenize.shards import encode_snapshot, token_dtype, write_manifest

    encoding = tiktoken_encoding(tokenizer)

    def fill(scratch: Path) -> dict:
        stats = encode_snapshot(
            data, scratch, encoding, eot=encoding.encode_single_token(END_OF_TEXT),
            vocab_size=identity["vocab_size"], val_fraction=config.val_fraction,
            shard_tokens=config.shard_tokens, batch_documents=config.batch_documents,
            threads=config.threads)
        return write_manifest(scratch, stats, **identity, dtype=token_dtype(identity["vocab_size"]).name,
                              eot=encoding.encode_single_token(END_OF_TEXT))

    shutil.rmtree(directory, ignore_errors=True)
    return publish_directory(directory, fill)


@flow(name="tokenize", flow_run_name=run_name("tokenize"))
@holds_warehouse
def tokenize(config: WebtextConfig) -> StageResult:
    """Train a byte-level BPE on a snapshot and encode the snapshot into train/val token shards."""
    home = Home.from_env()
    with warehouse.connect(home.warehouse) as con:
        return _tokenize(con, config, home)


def _tokenize(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home) -> StageResult:
    from components.tokenize.shards import MANIFEST_FILE, verify

    snapshot_id, data = _snapshot(con, config, home)
    training = _training_config(config.tokenize)
    tokenizer_id, token_set_id = _ids(snapshot_id, config.tokenize)
    tokenizer_dir = home.tokenizers / tokenizer_id
    row = queries.tokenizer_row(con, tokenizer_id)
    trained = row is None or _sha256_or_none(tokenizer_dir / TOKENIZER_FILE) != row["sha256"]
    if trained:
        result = train_tokenizer(tokenizer_id, data, tokenizer_dir, config.tokenize)
        queries.record_tokenizer(
            con, tokenizer_id=tokenizer_id, snapshot_id=snapshot_id, vocab_size=result["vocab_size"],
            path=tokenizer_id, sha256=sha256_file(tokenizer_dir / TOKENIZER_FILE),
            config_json=json.dumps(training), trained_bytes=result["trained_bytes"])
        row = queries.tokenizer_row(con, tokenizer_id)

    layout = _layout(config.tokenize)
    token_dir = home.tokens / token_set_id
    existing = queries.token_set_row(con, token_set_id)
    if not trained and existing and verify(token_dir, existing["manifest_sha256"]):
        return StageResult(
            stage="tokenize", up_to_date=True,
            summary=f"tokenize: up to date (tokenizer {tokenizer_id}, token set {token_set_id})")

    identity = {"token_set_id": token_set_id, "tokenizer_id": tokenizer_id, "snapshot_id": snapshot_id,
                "vocab_size": row["vocab_size"], **layout}
    manifest = encode(token_set_id, data, tokenizer_dir / TOKENIZER_FILE, token_dir, identity,
                      config.tokenize)
    queries.record_token_set(
        con, token_set_id=token_set_id, tokenizer_id=tokenizer_id, snapshot_id=snapshot_id,
        path=token_set_id, dtype=manifest["dtype"], manifest_sha256=sha256_file(token_dir / MANIFEST_FILE),
        splits=manifest["splits"])
    splits = queries.token_splits(con, token_set_id)
    _report(tokenizer_id, token_set_id, row["vocab_size"], splits)
    counts = ", ".join(f"{s['split']} {s['n_tokens']:,} tokens ({s['n_documents']:,} documents)"
                       for s in splits)
    return StageResult(
        stage="tokenize", up_to_date=False,
        summary=f"tokenize: {'trained' if trained else 'reused'} tokenizer {tokenizer_id} "
                f"({row['vocab_size']:,} tokens); token set {token_set_id}: {counts}",
    )


def _sha256_or_none(path: Path) -> str | None:
    return sha256_file(path) if path.is_file() else None


def _report(tokenizer_id: str, token_set_id: str, vocab_size: int, splits: list[dict]) -> None:
    table = [{"split": s["split"], "documents": s["n_documents"], "tokens": s["n_tokens"],
              "bytes": s["n_bytes"], "shards": s["n_shards"],
              "bytes_per_token": round(s["n_bytes"] / s["n_tokens"], 3) if s["n_tokens"] else None,
              "vocab_size": vocab_size}
             for s in splits]
    create_table_artifact(
        key="tokenize-summary", table=table,
        description=f"Token set {token_set_id} encoded with tokenizer {tokenizer_id}. Bits per byte of a "
                    f"split = loss (nats/token) x tokens / (bytes x ln 2); tokens count the separators.",
    )
