"""Supervised fine-tuning (InstructGPT's step 1) on Self-Instruct's seed tasks: how much does the
`sft` stage lower the held-out response loss of the base, with every weight trained and with LoRA?

`../shared/data/tasks/self_instruct/seed_tasks.jsonl` (175 human-written tasks, one instance each) is
split by task in a seeded random order: `--train-tasks` trained on, the other tasks held out, so no
held-out instruction is ever seen in training. Both arms run `run_sft` from the base on the same split:
(1) full fine-tuning, (2) LoRA adapters (`--rank`, on c_attn and c_proj) with the base frozen.

Printed per arm: held-out response bits per byte (the answer's tokens only) of the base before
training and of the result after, their ratio, optimizer steps, wall time, and the share of the
parameters trained. The CPU and its bf16 support are printed first. A demonstration longer than the
base's context (256 tokens for the demo's model) is dropped by the stage; the counts are printed.

    .venv/bin/python benchmarks/sft_response.py [--base webtext-sample@champion] [--home DIR]
        [--train-tasks 140] [--epochs 3] [--lr 5e-4] [--lora-lr 5e-3] [--rank 8] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from reward_model import base_model, cpu, quiet_lightning

TASKS = Path(__file__).resolve().parents[2] / "shared/data/tasks/self_instruct/seed_tasks.jsonl"


def split(train_tasks: int, directory: Path, seed: int = 0) -> tuple[Path, Path, int]:
    """The seed tasks shuffled with `seed`: the first `train_tasks` and the rest, as JSONL files; and
    how many tasks there are."""
    rows = [line + "\n" for line in TASKS.read_text().splitlines() if line.strip()]
    if not 0 < train_tasks < len(rows):
        raise SystemExit(f"--train-tasks must be between 1 and {len(rows) - 1}")
    random.Random(seed).shuffle(rows)
    train, validation = directory / "train.jsonl", directory / "validation.jsonl"
    train.write_text("".join(rows[:train_tasks]))
    validation.write_text("".join(rows[train_tasks:]))
    return train, validation, len(rows)


def fine_tune(base: tuple[Path, str, Path], train: Path, validation: Path, out: Path, lr: float, args,
              adapter: dict | None):
    from webtext.components.config import InstructData, SFTConfig
    from webtext.components.instruct.run import run_sft
    from webtext.components.train.job import SFTJob

    weights, sha256, tokenizer = base
    config = SFTConfig(
        data=InstructData(files={"train": [str(train)], "validation": [str(validation)]}), adapter=adapter,
        learning_rate=lr, batch_size=args.batch_size, epochs=args.epochs,
        val_every_steps=10**6, checkpoint_every_steps=10**6, log_every_steps=10)
    out.mkdir()
    job = SFTJob(out=out, parent=weights, parent_sha256=sha256, tokenizer=tokenizer, train=[train],
                 validation=[validation], sft=config)
    return run_sft(job)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="webtext-sample@champion", help="registered model or checkpoint id")
    parser.add_argument("--home", help="the webtext home holding it (default: WEBTEXT_HOME or ./.webtext)")
    parser.add_argument("--train-tasks", type=int, default=140)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-4, help="full fine-tuning's peak learning rate")
    parser.add_argument("--lora-lr", type=float, default=5e-3, help="LoRA's peak learning rate")
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    print(f"CPU: {cpu()}")
    base = base_model(args.base, args.home)
    quiet_lightning()
    rows = []
    with tempfile.TemporaryDirectory(prefix="sft-response-") as tmp:
        train, validation, n_tasks = split(args.train_tasks, Path(tmp))
        arms = (("full fine-tuning", args.lr, None), (f"LoRA r={args.rank}", args.lora_lr, {"r": args.rank}))
        for i, (name, lr, adapter) in enumerate(arms):
            print(f"\n{name}: {args.epochs} epochs, lr {lr:g}, batch {args.batch_size}", flush=True)
            start = time.perf_counter()
            result = fine_tune(base, train, validation, Path(tmp) / f"sft-{i}", lr, args, adapter)
            rows.append((name, result, time.perf_counter() - start))

    _, first, _ = rows[0]
    held_out = n_tasks - args.train_tasks
    print(f"\nbase {args.base} ({base[0]}): tasks split {args.train_tasks} / {held_out}; "
          f"{first.n_train} train / {first.n_validation} held-out demonstrations fit its context "
          f"({args.train_tasks - first.n_train} / {held_out - first.n_validation} too long, dropped)")
    print(f"{'arm':18s} {'bpb before':>10s} {'bpb after':>10s} {'ratio':>7s} {'loss after':>10s} "
          f"{'steps':>6s} {'trained':>8s} {'wall s':>7s}")
    for name, result, seconds in rows:
        before, after = result.baseline["bpb"], result.scores["bpb"]
        print(f"{name:18s} {before:10.3f} {after:10.3f} {after / before:7.3f} {result.scores['loss']:10.3f} "
              f"{result.step:6d} {result.trainable / result.parameters:8.2%} {seconds:7.1f}")


if __name__ == "__main__":
    main()
