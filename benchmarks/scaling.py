"""What scaling out costs on one machine, measured in one run with the `pretrain` stage's own training
process (`python -m webtext.components.train JOB`):

- processes: tokens/s of 1 process x all cores' threads against N processes x 1 thread each under DDP
  (gloo), the same model, tokens per step and precision: DDP's overhead on one box (gradient
  all-reduce, one model per process) as the ratio of the two;
- activation checkpointing: peak RSS of the training process and tokens/s with
  `pretrain.activation_checkpointing` off and on, on a deeper model with larger batches, where the
  activations dominate memory.

tokens/s is the mean of the `@progress` rates after the first `--warmup` steps. Inputs: a token set of
random ids in `benchmarks/.work/`. The CPU's model and bf16 support are printed with the figures.

    .venv/bin/python benchmarks/scaling.py [--steps 30] [--warmup 10] [--processes 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from random_tokens import random_token_set

WORK = Path(__file__).resolve().parent / ".work"
VOCAB = 8192
# what each comparison trains: a 4x256 GPT for the processes, an 8x256 one with 4x the batch for memory
PROCESSES_SHAPE = dict(n_layer=4, n_head=4, n_embd=256, block_size=256, dropout=0.0, vocab_size=VOCAB)
MEMORY_SHAPE = dict(n_layer=8, n_head=4, n_embd=256, block_size=256, dropout=0.0, vocab_size=VOCAB)


def cpu() -> str:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    names = [line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")]
    model = names[0] if names else "unknown CPU"
    return f"{model}, {os.cpu_count()} cores, avx512_bf16: {'yes' if 'avx512_bf16' in info else 'no'}"


def token_set() -> Path:
    return random_token_set("scaling-tokens", VOCAB, 2_000_000)


def train(name: str, shape: dict, steps: int, warmup: int, env: dict[str, str], **pretrain) -> dict:
    """One run of the training process; its mean tokens/s after `warmup` steps and its peak RSS."""
    from webtext.components.config import PretrainConfig
    from webtext.components.train.job import PretrainJob

    out = WORK / "scaling" / f"{name}-{time.time_ns()}"
    out.mkdir(parents=True)
    settings = dict(model=shape, max_steps=steps, warmup_steps=2, val_every_steps=steps, val_batches=2,
                    checkpoint_every_steps=steps, log_every_steps=5, sample_tokens=0, accelerator="cpu",
                    compile=False) | pretrain
    job = PretrainJob(out=out, tokens=token_set(), tokenizer=out / "none.json", val_tokens_per_byte=0.25,
                      model=shape, pretrain=PretrainConfig(**settings)).write(out / "job.json")
    process = subprocess.Popen([sys.executable, "-m", "webtext.components.train", str(job)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, **env})
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{name} failed:\n{output[-3000:]}")
    rates = [p["tokens_per_s"] for p in (json.loads(line[len("@progress "):]) for line in output.splitlines()
                                         if line.startswith("@progress "))
             if p.get("tokens_per_s") and p["step"] > warmup]
    return {"tokens_per_s": sum(rates) / len(rates), "peak_rss_mb": usage.ru_maxrss / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--precision", default="32-true",
                        help="as pretrain.precision (fp32 compares across CPUs)")
    args = parser.parse_args()
    n, cores = args.processes, os.cpu_count() or 1
    print(f"CPU: {cpu()}; precision {args.precision}; {args.steps} steps, rates after step {args.warmup}")

    micro, context = 8, PROCESSES_SHAPE["block_size"]
    common = dict(micro_batch_size=micro, batch_tokens=micro * context * n, precision=args.precision)
    one = train("one-process", PROCESSES_SHAPE, args.steps, args.warmup, {"OMP_NUM_THREADS": str(cores)},
                devices=1, **common)
    many = train("ddp", PROCESSES_SHAPE, args.steps, args.warmup, {}, devices=n, strategy="ddp", **common)
    print(f"\n4x256 GPT, {micro * context * n} tokens a step:")
    print(f"  1 process x {cores} threads: {one['tokens_per_s']:8.0f} tokens/s")
    threads = max(1, cores // n)
    print(f"  {n} processes x {threads} thread(s), DDP (gloo): {many['tokens_per_s']:8.0f} tokens/s")
    print(f"  ratio DDP / one process: {many['tokens_per_s'] / one['tokens_per_s']:.2f}")

    memory = dict(micro_batch_size=4 * micro, batch_tokens=4 * micro * context, precision=args.precision,
                  devices=1)
    env = {"OMP_NUM_THREADS": str(cores)}
    off = train("checkpointing-off", MEMORY_SHAPE, args.steps, args.warmup, env, **memory)
    on = train("checkpointing-on", MEMORY_SHAPE, args.steps, args.warmup, env, activation_checkpointing=True,
               **memory)
    print(f"\n8x256 GPT, micro-batch {4 * micro} x {context} tokens, one process:")
    for name, run in (("activation checkpointing off", off), ("activation checkpointing on ", on)):
        print(f"  {name}: peak RSS {run['peak_rss_mb']:7.0f} MB, {run['tokens_per_s']:8.0f} tokens/s")
    print(f"  on / off: peak RSS {on['peak_rss_mb'] / off['peak_rss_mb']:.2f}, "
          f"tokens/s {on['tokens_per_s'] / off['tokens_per_s']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
