"""Held-out bits per byte after the same wall time of training, four ways, on tinyshakespeare:

- reference: a plain PyTorch loop over `transformers`' GPT2LMHeadModel (sdpa) of the student's shape;
- adamw: our Lightning GPT (`GPTModule` + `TokenData` under a `Trainer`), `pretrain.optimizer: adamw`;
- muon: the same with `pretrain.optimizer: muon` (Muon on the blocks' matrices, AdamW on the rest),
  Muon's peak learning rate `--muon-lr` 0.005: the best of 0.0025, 0.005, 0.01, 0.02 and 0.04 in
  one-minute runs of seed 0 (the GPT-2 speedrun's 0.02 to 0.05 are for batches ~250x this one's 2,048
  tokens); AdamW keeps 1e-3, untuned, in every arm;
- distilled: the same as adamw, distilled from a larger teacher (`pretrain.teacher`: alpha 0.5,
  temperature 2), its logits computed in every step. The teacher (`--teacher-shape`) is trained first
  by our AdamW for `--teacher-minutes`: that time is not counted, the teacher's own forward passes are.

Same tokenizer (a byte-level BPE of `--vocab` tokens trained on the first 90% with the stage's code),
same windows (drawn from the same seeds), same held-out tail (the last 10%), same precision (`auto`: as
the stage measures this CPU), the same warmup then constant learning rate (a cosine needs a step count,
which a wall-time budget does not), and `--seeds` seeds of each. Every `--eval-every` seconds of
training the held-out tail is scored (the clock stopped meanwhile): consecutive windows of the context,
the summed cross-entropy over its UTF-8 bytes, in bits, so the value compares with any tokenizer.

Printed: each arm's final bits per byte (mean, and the spread over seeds), its steps, the training time
each arm needs to reach the adamw arm's final mean (interpolated on its curve; '-' when it does not);
and the distilled student against adamw at equal steps (adamw's curve read at the distilled run's final
step). Targets: muon reaches adamw's final value in at most 0.8x the budget and ends at least 0.03 bits
per byte below the reference; the distilled student is below adamw at equal steps.

    .venv/bin/python benchmarks/pretrain_quality.py [--minutes 5] [--seeds 0 1 2] [--shape 4x256]
        [--teacher-shape 6x256] [--teacher-minutes 12] [--vocab 2048] [--eval-every 30] [--muon-lr 0.005]
        [--arms reference adamw muon distilled]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

WORK = Path(__file__).resolve().parent / ".work"
TEXT = Path("/work/shared/data/text/tinyshakespeare.txt")
CONTEXT, BATCH, LR, WARMUP = 256, 8, 1e-3, 50
ARMS = ("reference", "adamw", "muon", "distilled")
MUON_TARGET_TIME, MUON_TARGET_GAIN = 0.8, 0.03


def prepare(text_path: Path, vocab: int) -> Path:
    """A token set of the text's first 90% (train) and last 10% (val) in the stage's format."""
    from webtext.components.tokenize.bpe import encode_document, tiktoken_encoding, train
    from webtext.components.tokenize.shards import SplitStats, write_manifest

    text = text_path.read_text()
    cut = int(len(text) * 0.9)
    parts = {"train": text[:cut], "val": text[cut:]}
    directory = WORK / f"shakespeare-{vocab}"
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = directory / "tokenizer.json"
    train(iter(parts["train"].split("\n\n")), tokenizer, vocab_size=vocab, min_frequency=2)
    encoding = tiktoken_encoding(tokenizer)
    stats = {}
    for split, part in parts.items():
        ids = encode_document(encoding, part).astype(np.uint16)
        ids.tofile(directory / f"{split}-00000.bin")
        stats[split] = SplitStats(1, len(ids), len(part.encode()),
                                  [{"file": f"{split}-00000.bin", "n_tokens": len(ids), "sha256": ""}])
    write_manifest(directory, stats, dtype="uint16")
    return directory


class HeldOut:
    """The held-out tail, scored in consecutive windows of the context: bits per UTF-8 byte."""

    def __init__(self, directory: Path, precision: str):
        from webtext.components.tokenize.shards import read_manifest, read_split

        self.tokens = np.concatenate(list(read_split(directory, "val")))
        self.n_bytes = read_manifest(directory)["splits"]["val"]["n_bytes"]
        self.bf16 = precision == "bf16-mixed"

    @torch.no_grad()
    def bits_per_byte(self, logits_of, model: torch.nn.Module) -> float:
        was_training = model.training
        model.eval()
        total = 0.0
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            for start in range(0, len(self.tokens) - 1, CONTEXT):
                window = torch.from_numpy(self.tokens[start:start + CONTEXT + 1].astype(np.int64))[None]
                logits = logits_of(window[:, :-1]).float()
                total += torch.nn.functional.cross_entropy(logits[0], window[0, 1:], reduction="sum").item()
        model.train(was_training)
        return total / (self.n_bytes * math.log(2))


@dataclass
class Clock:
    """Training time, with the scoring's own time left out: scores every `every` seconds of it and says
    when `budget` seconds are spent."""

    budget: float
    every: float
    score: Callable[[], float]  # the held-out bits per byte now
    curve: list[tuple[float, int, float]] = field(default_factory=list)  # (seconds, step, bpb)
    _start: float | None = None
    _paused: float = 0.0

    def start(self) -> None:
        self._start = time.perf_counter()

    def tick(self, step: int) -> bool:
        """After optimizer step `step`: score when due; True once the budget is spent (scored then)."""
        elapsed = time.perf_counter() - self._start - self._paused
        done = elapsed >= self.budget
        if done or elapsed >= self.every * (len(self.curve) + 1):
            paused = time.perf_counter()
            self.curve.append((elapsed, step, self.score()))
            self._paused += time.perf_counter() - paused
        return done


def ours(directory: Path, shape: dict, precision: str, minutes: float, every: float, seed: int,
         held_out: HeldOut, **recipe) -> tuple[Clock, torch.nn.Module]:
    import lightning as L

    from webtext.components.train.data import TokenData
    from webtext.components.train.module import GPTModule

    module = GPTModule(shape, LR, 1.0, WARMUP, 10**9, 0.1, (0.9, 0.95), seed, 1.0, **recipe)
    clock = Clock(minutes * 60, every,
                  lambda: held_out.bits_per_byte(lambda x: module.model(x)[0], module.model))

    class Ticks(L.Callback):
        def on_train_start(self, trainer, pl_module):
            clock.start()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if clock.tick(trainer.global_step):
                trainer.should_stop = True

    trainer = L.Trainer(accelerator="cpu", devices=1, precision=precision, max_steps=10**9,
                        gradient_clip_val=1.0, limit_val_batches=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[Ticks()])
    trainer.fit(module, datamodule=TokenData(directory, CONTEXT, BATCH, 1, seed, 1))
    return clock, module.model


def reference(directory: Path, shape: dict, precision: str, minutes: float, every: float, seed: int,
              held_out: HeldOut) -> Clock:
    from transformers import GPT2Config, GPT2LMHeadModel

    from webtext.components.train.data import Windows

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=shape["vocab_size"], n_positions=CONTEXT, n_embd=shape["n_embd"],
                        n_layer=shape["n_layer"], n_head=shape["n_head"], resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0, attn_implementation="sdpa", bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(config).train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=LR, betas=(0.9, 0.95))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / WARMUP))
    windows = Windows(directory, "train", CONTEXT)
    bf16 = precision == "bf16-mixed"
    clock = Clock(minutes * 60, every,
                  lambda: held_out.bits_per_byte(lambda x: model(input_ids=x).logits, model))
    step = 0
    clock.start()
    while True:
        # the windows TokenData draws for (seed, rank 0, micro-batch `step`)
        x, y = windows.batch(np.random.default_rng([seed, 0, step]), BATCH)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if clock.tick(step):
            return clock


def time_to_reach(curve: list[tuple[float, int, float]], target: float) -> float | None:
    """The training time at which `curve` first reaches `target` bits per byte (linear between scores)."""
    previous = (0.0, float("inf"))
    for seconds, _, bpb in curve:
        if bpb <= target:
            then, before = previous
            if math.isinf(before):
                return seconds
            return then + (seconds - then) * (before - target) / (before - bpb)
        previous = (seconds, bpb)
    return None


def at_step(curve: list[tuple[float, int, float]], step: int) -> float | None:
    """`curve`'s bits per byte at `step` (linear between scores); None past its end."""
    previous = None
    for _, at, bpb in curve:
        if at >= step:
            if previous is None or at == step:
                return bpb
            then, before = previous
            return before + (bpb - before) * (step - then) / (at - then)
        previous = (at, bpb)
    return None


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    deviation = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {deviation:.4f} (min {min(values):.4f}, max {max(values):.4f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", type=Path, default=TEXT)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--shape", default="4x256")
    parser.add_argument("--teacher-shape", default="6x256")
    parser.add_argument("--teacher-minutes", type=float, default=12.0)
    parser.add_argument("--vocab", type=int, default=2048)
    parser.add_argument("--eval-every", type=float, default=30.0, help="seconds of training between scores")
    parser.add_argument("--muon-lr", type=float, default=0.005)
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    args = parser.parse_args()
    from webtext.components.config import DistillConfig, MuonConfig
    from webtext.components.train.precision import resolve

    precision, why = resolve("auto", WORK / "measurements")
    directory = prepare(args.text, args.vocab)
    held_out = HeldOut(directory, precision)

    def shape_of(name: str) -> dict:
        layers, width = map(int, name.split("x"))
        return dict(vocab_size=args.vocab, block_size=CONTEXT, n_layer=layers, n_head=width // 64,
                    n_embd=width, dropout=0.0)

    shape = shape_of(args.shape)
    print(f"{args.text.name}: held-out tail {held_out.n_bytes:,} bytes; student {args.shape}, context "
          f"{CONTEXT}, batch {BATCH}, vocab {args.vocab}; {args.minutes:g} min per run, seeds {args.seeds}\n"
          f"{why}", flush=True)
    teacher = None
    if "distilled" in args.arms:
        clock, teacher = ours(directory, shape_of(args.teacher_shape), precision, args.teacher_minutes,
                              args.teacher_minutes * 60, 0, held_out)
        print(f"teacher {args.teacher_shape}: {clock.curve[-1][1]:,} steps in {args.teacher_minutes:g} min "
              f"(not counted), held-out {clock.curve[-1][2]:.4f} bits/byte", flush=True)
    recipes = {"adamw": {}, "muon": {"optimizer": "muon",
                                     "muon": MuonConfig(learning_rate=args.muon_lr).model_dump()},
               "distilled": {"teacher": teacher, "distill": DistillConfig().model_dump()}}
    curves: dict[str, list[list[tuple[float, int, float]]]] = {arm: [] for arm in args.arms}
    for seed in args.seeds:
        for arm in args.arms:
            if arm == "reference":
                clock = reference(directory, shape, precision, args.minutes, args.eval_every, seed, held_out)
            else:
                clock, _ = ours(directory, shape, precision, args.minutes, args.eval_every, seed, held_out,
                                **recipes[arm])
            curves[arm].append(clock.curve)
            print(f"  seed {seed} {arm:>9}: {clock.curve[-1][1]:,} steps, held-out {clock.curve[-1][2]:.4f} "
                  f"bits/byte", flush=True)

    finals = {arm: [curve[-1][2] for curve in runs] for arm, runs in curves.items()}
    target = statistics.mean(finals["adamw"]) if "adamw" in finals else None
    budget = args.minutes * 60
    print(f"\n{'arm':>9}  {'held-out bits/byte (mean ± sd over seeds)':<58} {'steps':>7}  time to "
          + (f"adamw's final {target:.4f}" if target else "(no adamw arm)"))
    reach: dict[str, list[float | None]] = {}
    for arm, runs in curves.items():
        reach[arm] = [time_to_reach(curve, target) for curve in runs] if target else []
        reached = [t for t in reach[arm] if t is not None]
        when = (f"{statistics.mean(reached):.0f} s = {statistics.mean(reached) / budget:.2f}x the budget "
                f"({len(reached)} of {len(runs)} seeds)" if reached else "not reached")
        steps = statistics.mean(curve[-1][1] for curve in runs)
        print(f"{arm:>9}  {spread(finals[arm]):<58} {steps:>7,.0f}  {when}")
    met = True
    if "muon" in curves and target:
        reached = [t for t in reach["muon"] if t is not None]
        fast = len(reached) == len(reach["muon"]) and statistics.mean(reached) <= MUON_TARGET_TIME * budget
        line = f"muon reaches adamw's final value in <= {MUON_TARGET_TIME}x the budget: {fast}"
        if "reference" in curves:
            gain = statistics.mean(finals["reference"]) - statistics.mean(finals["muon"])
            line += (f"; ends {gain:+.4f} bits/byte below the reference (target >= {MUON_TARGET_GAIN}): "
                     f"{gain >= MUON_TARGET_GAIN}")
            fast &= gain >= MUON_TARGET_GAIN
        met &= fast
        print(line)
    if "distilled" in curves and "adamw" in curves:
        pairs = [(curve[-1][2], at_step(alone, curve[-1][1]))
                 for curve, alone in zip(curves["distilled"], curves["adamw"], strict=True)]
        better = all(alone is not None and distilled < alone for distilled, alone in pairs)
        print("distilled vs alone at the distilled run's final step: " + "; ".join(
            f"{distilled:.4f} vs {alone:.4f}" if alone is not None else f"{distilled:.4f} vs -"
            for distilled, alone in pairs) + f"; below in every seed: {better}")
        met &= better
    print(f"targets met: {met}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
