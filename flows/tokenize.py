"""The `tokenize` stage: a snapshot -> a trained byte-level BPE -> the snapshot encoded into shards."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from webtext.components.config import TokenizeConfig
from webtext.components.errors import InputError
from webtext.components.extract.snapshot import DATA_FILE
from webtext.components.files import publish_directory, sha256_file
from webtext.components.records import Snapshot, Split, TokenSet
from webtext.flows.extract import STAGE as EXTRACT
from webtext.flows.extract import verified_snapshot
from webtext.flows.stage import Context, Plan, Stage
from webtext.warehouse import extract as snapshots
from webtext.warehouse import tokenize as queries

TOKENIZER_FILE = "tokenizer.json"


def _snapshot(ctx: Context) -> Snapshot:
    """The snapshot to tokenize: `tokenize.snapshot` when set, else the current extract config's."""
    wanted = ctx.config.tokenize.snapshot
    if not wanted:
        snapshot = EXTRACT.current(ctx)
    else:
        found = snapshots.find_snapshots(ctx.con, wanted)
        if len(found) != 1:
            what = "matches no snapshot" if not found else "matches several snapshots"
            raise InputError(f"tokenize.snapshot={wanted!r} {what}; `webtext corpus list` shows them")
        snapshot = verified_snapshot(found[0], ctx.home)
        if snapshot is None:
            raise InputError(f"snapshot {found[0]['snapshot_id']}: its {DATA_FILE} is missing or changed")
    if snapshot.n_documents == 0:
        raise InputError(f"snapshot {snapshot.snapshot_id} holds no documents: nothing to tokenize")
    return snapshot


def _training_config(config: TokenizeConfig) -> dict:
    return config.model_dump(mode="json", include={"vocab_size", "min_frequency", "train_max_bytes"})


def _layout(config: TokenizeConfig) -> dict:
    return config.model_dump(mode="json", include={"val_fraction", "shard_tokens"})


@dataclass(frozen=True)
class _Work:
    snapshot: Snapshot
    tokenizer_id: str
    token_set_id: str
    tokenizer: dict | None  # its row, when trained and whole


@task(task_run_name="train-tokenizer-{tokenizer_id}")
def train_tokenizer(tokenizer_id: str, data: Path, directory: Path, config: TokenizeConfig) -> dict:
    """Train into `directory`, published whole; return vocab size and bytes trained on."""
    from webtext.components.tokenize.bpe import train, write_transformers_files
    from webtext.components.tokenize.texts import SnapshotTexts

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
    from webtext.components.tokenize.bpe import END_OF_TEXT, tiktoken_encoding
    from webtext.components.tokenize.shards import encode_snapshot, token_dtype, write_manifest

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


class Tokenize(Stage):
    """Train a byte-level BPE on a snapshot and encode the snapshot into train/val token shards.

    The tokenizer is named by its snapshot and training config, the token set by its tokenizer,
    snapshot and split config: a new split config re-encodes with the tokenizer it has.
    """

    name = "tokenize"
    areas = {"tokenizers": 1, "tokens": 1}

    def plan(self, ctx: Context) -> Plan:
        from webtext.components.tokenize.shards import verify

        snapshot = _snapshot(ctx)
        tokenizer_id = self.output_id(snapshot.snapshot_id, _training_config(ctx.config.tokenize))
        token_set_id = self.output_id(tokenizer_id, snapshot.snapshot_id, _layout(ctx.config.tokenize))
        tokenizer = queries.tokenizer_row(ctx.con, tokenizer_id)
        tokenizer_path = ctx.home.tokenizers / tokenizer_id / TOKENIZER_FILE
        if tokenizer is not None and not (tokenizer_path.is_file() and sha256_file(tokenizer_path)
                                          == tokenizer["sha256"]):
            tokenizer = None
        work = _Work(snapshot, tokenizer_id, token_set_id, tokenizer)
        if tokenizer is None:
            return Plan(f"tokenizer {tokenizer_id} of snapshot {snapshot.snapshot_id} is not trained",
                        work=work)
        row = queries.token_set_row(ctx.con, token_set_id)
        if row is None or not verify(ctx.home.tokens / row["path"], row["manifest_sha256"]):
            return Plan(f"token set {token_set_id} is not encoded", work=work)
        splits = {s["split"]: Split(s["split"], s["n_documents"], s["n_tokens"], s["n_bytes"], s["n_shards"])
                  for s in queries.token_splits(ctx.con, token_set_id)}
        token_set = TokenSet(token_set_id=token_set_id, tokenizer_id=tokenizer_id,
                             snapshot_id=snapshot.snapshot_id, directory=ctx.home.tokens / row["path"],
                             tokenizer_path=tokenizer_path, vocab_size=tokenizer["vocab_size"], splits=splits)
        return Plan(None, f"tokenizer {tokenizer_id}, token set {token_set_id}", output=token_set)

    def run(self, ctx: Context, plan: Plan) -> str:
        from webtext.components.tokenize.shards import MANIFEST_FILE

        work: _Work = plan.work
        con, config = ctx.con, ctx.config
        snapshot, tokenizer_id, token_set_id = work.snapshot, work.tokenizer_id, work.token_set_id
        tokenizer_dir = ctx.home.tokenizers / tokenizer_id
        row = work.tokenizer
        if row is None:
            result = train_tokenizer(tokenizer_id, snapshot.data, tokenizer_dir, config.tokenize)
            queries.record_tokenizer(
                con, tokenizer_id=tokenizer_id, snapshot_id=snapshot.snapshot_id,
                vocab_size=result["vocab_size"], path=tokenizer_id,
                sha256=sha256_file(tokenizer_dir / TOKENIZER_FILE),
                config_json=json.dumps(_training_config(config.tokenize)),
                trained_bytes=result["trained_bytes"])
            row = queries.tokenizer_row(con, tokenizer_id)
        identity = {"token_set_id": token_set_id, "tokenizer_id": tokenizer_id,
                    "snapshot_id": snapshot.snapshot_id, "vocab_size": row["vocab_size"],
                    **_layout(config.tokenize)}
        token_dir = ctx.home.tokens / token_set_id
        manifest = encode(token_set_id, snapshot.data, tokenizer_dir / TOKENIZER_FILE, token_dir, identity,
                          config.tokenize)
        queries.record_token_set(
            con, token_set_id=token_set_id, tokenizer_id=tokenizer_id, snapshot_id=snapshot.snapshot_id,
            path=token_set_id, dtype=manifest["dtype"],
            manifest_sha256=sha256_file(token_dir / MANIFEST_FILE), splits=manifest["splits"])
        splits = queries.token_splits(con, token_set_id)
        _report(tokenizer_id, token_set_id, row["vocab_size"], splits)
        counts = ", ".join(f"{s['split']} {s['n_tokens']:,} tokens ({s['n_documents']:,} documents)"
                           for s in splits)
        return (f"{'reused' if work.tokenizer else 'trained'} tokenizer {tokenizer_id} "
                f"({row['vocab_size']:,} tokens); token set {token_set_id}: {counts}")


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


STAGE = Tokenize()
tokenize = STAGE.flow
