"""GPT-1's gain table regenerated through the pipeline and its report, in `finetune_gain.py`'s setting.

`finetune_gain.py` calls the training code directly and prints its own table. This runs the same
experiment as a user would: the unlabelled text from `/work/shared/data` is published as a snapshot in a
home of its own, then the stage flows run on it (tokenize, pretrain, finetune with
`finetune.with_scratch_baseline`, evaluate, register, report), and the table printed is the report's
GPT-1 figure, read back from the `report.md` it wrote. One learning rate and one seed (the pipeline's
unit is a config); `finetune_gain.py` sweeps both.

    .venv/bin/python benchmarks/report_gain.py [--pretrain-minutes 20] [--lr 3e-4] [--seed 0]
        [--vocab 8192]

The home is `benchmarks/.work/report-gain/home` (set `--home` for another): a rerun with the same
arguments finds every stage up to date and prints the same table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from finetune_gain import SHAPE, WORK, tasks, unlabelled  # noqa: E402  (the benchmark this one repeats)

from webtext.flows.report import MARKDOWN  # noqa: E402

HOME = Path(__file__).resolve().parent / ".work" / "report-gain" / "home"


def publish_snapshot(home: Path) -> str:
    """The unlabelled texts as a published snapshot of the home's warehouse; its id."""
    from webtext import warehouse
    from webtext.components.extract.snapshot import DATA_FILE, publish
    from webtext.components.files import stable_hash
    from webtext.warehouse import extract as snapshots

    texts = unlabelled()
    snapshot_id = stable_hash(["finetune-gain", texts])[:16]
    with warehouse.connect(home / "warehouse.duckdb") as con:
        if snapshots.snapshot_row(con, snapshot_id) is None:
            directory = home / "snapshots" / snapshot_id
            rows = {"doc_id": [f"u{i:07d}" for i in range(len(texts))],
                    "url": [f"file:///work/shared/data#{i}" for i in range(len(texts))],
                    "title": [""] * len(texts), "text": texts, "karma": [0] * len(texts)}
            n_bytes = sum(len(t.encode()) for t in texts)
            published = publish(directory, lambda out: pq.write_table(pa.table(rows), out), len(texts),
                                n_bytes, {"source": "benchmarks/report_gain.py: finetune_gain.py's texts"})
            snapshots.record_snapshot(con, snapshot_id, directory / DATA_FILE, n_bytes, "finetune-gain",
                                      snapshot_id, published.sha256, json.dumps({"benchmark": "report_gain"}))
    return snapshot_id


def config(snapshot_id: str, args: argparse.Namespace) -> dict:
    """The pipeline's config of this experiment (a YAML file a user could have written)."""
    task_files = tasks()
    return {
        "tokenize": {"snapshot": snapshot_id, "vocab_size": args.vocab, "val_fraction": 0.01,
                     "shard_tokens": 50_000_000, "batch_documents": 4096},
        "pretrain": {"model": SHAPE, "max_steps": int(args.pretrain_minutes * 60 * 4),
                     "max_minutes": args.pretrain_minutes, "micro_batch_size": 8, "batch_tokens": 2048,
                     "learning_rate": 1e-3, "warmup_steps": 100, "val_every_steps": 500, "val_batches": 20,
                     "checkpoint_every_steps": 500, "log_every_steps": 100, "sample_tokens": 32},
        "finetune": {"tasks": [task_files["sst2"], task_files["story_cloze"]], "learning_rate": args.lr,
                     "seed": args.seed, "epochs": 3, "batch_size": 32, "lm_weight": 0.5,
                     "with_scratch_baseline": True},
        "sft": {"data": None}, "reward": {"data": None}, "align": {"data": None},
        "evaluate": {"val_tokens": 200_000, "sample_tokens": 0},
        "register": {"name": "finetune-gain"},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrain-minutes", type=float, default=20.0)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--home", type=Path, default=HOME)
    args = parser.parse_args()
    home = args.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)  # finetune_gain.py writes the task files there
    settings = home / "report-gain.yaml"
    settings.write_text(yaml.safe_dump(config(publish_snapshot(home), args), sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {"WEBTEXT_HOME": str(home)}
    stages = ("tokenize", "pretrain", "finetune", "evaluate", "register")
    for command in [*(["stage", name] for name in stages), ["report"]]:  # as a user types them
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "webtext.flows.cli", *command, "--config",
                               str(settings)], env=env, capture_output=True, text=True)
        if done.returncode:
            print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
            return done.returncode
        summary = [line for line in done.stdout.splitlines() if line.startswith(f"{command[-1]}: ")]
        print(f"{summary[-1]} [{time.perf_counter() - start:.0f} s]", flush=True)
    report = Path(summary[-1].rsplit(": ", 1)[-1])
    section = (report.parent / MARKDOWN).read_text().split("## 1. ", 1)[1].split("\n## 2. ", 1)[0]
    print(f"\n## {section.strip()}\n\nreport: {report}")
    return 0 if "Not drawn" not in section else 1


if __name__ == "__main__":
    raise SystemExit(main())
