"""Training throughput of the `pretrain` stage's Lightning GPT against a plain PyTorch loop over
`transformers`' GPT2LMHeadModel, with model FLOPs utilisation against this machine's GEMM peak.

In one run, for each shape (`--shapes`, default 4x256 and 6x384; context 256, vocab 8192, batch 8)
and precision (fp32, bf16-mixed; bf16 is skipped, and the run says so, where `precision: auto`'s
measurement finds this CPU slower in bf16 than in fp32: there oneDNN emulates it, over 100x slower):

- peak: the best GEMM rate of 2048x2048 matmuls in that precision, measured first;
- ours: `components.train` as the stage runs it: `GPTModule` + `TokenData` (random windows over a
  token set of random ids) under a Lightning `Trainer` (CPU, one device, no logger or checkpoints),
  AdamW, gradient clipping 1.0; Lightning's per-step overhead included;
- reference: `GPT2LMHeadModel(attn_implementation="sdpa")` of the same shape, dropout 0, trained by a
  plain loop: autocast (bf16) forward, backward, clip 1.0, AdamW step, zero_grad, on the same batches;
- each with and without `torch.compile`; the faster of the two counts.

tokens/s counts the steps after `--warmup` (compilation and first-touch excluded); MFU is nanoGPT's
`estimate_mfu`: (6N + 12 L T C) x tokens/s / peak. Targets: ours >= 1.1x the reference's tokens/s;
bf16 MFU >= 50% on 6x384.

    .venv/bin/python benchmarks/pretrain_throughput.py [--steps 20] [--warmup 5] [--shapes 4x256 6x384]
        [--no-compile]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from random_tokens import random_token_set

WORK = Path(__file__).resolve().parent / ".work"
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(WORK / "inductor"))

VOCAB, CONTEXT, BATCH = 8192, 256, 8
TARGET_RATIO, TARGET_MFU = 1.1, 0.5


def gemm_peak(dtype: torch.dtype, n: int = 2048, repeat: int = 10) -> float:
    """FLOP/s of the best of `repeat` n x n matmuls."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def cpu_flags() -> str:
    """The CPU flags that decide the bf16 and fp32 rates (as `lscpu` lists them)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "flags unknown"
    lines = [line.split(":", 1)[1] for line in text.splitlines() if line.startswith("flags")]
    flags = set(lines[0].split()) if lines else set()
    shown = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    return "flags " + (" ".join(shown) or "none of avx2, avx512, amx")


def token_set() -> Path:
    return random_token_set("pretrain-tokens", VOCAB, 2_000_000)


def ours(shape: dict, precision: str, compile: bool, steps: int, warmup: int) -> float:
    import lightning as L

    from webtext.components.train.data import TokenData
    from webtext.components.train.module import GPTModule

    class Clock(L.Callback):
        start = end = 0.0

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if trainer.global_step == warmup and not self.start:
                self.start = time.perf_counter()

        def on_train_end(self, trainer, module):
            self.end = time.perf_counter()

    module = GPTModule(shape, 6e-4, 0.1, 2, steps + warmup, 0.1, (0.9, 0.95), 0, 1.0, compile=compile)
    clock = Clock()
    trainer = L.Trainer(accelerator="cpu", devices=1, precision=precision, max_steps=steps + warmup,
                        limit_val_batches=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[clock])
    trainer.fit(module, datamodule=TokenData(token_set(), CONTEXT, BATCH, 1, 0, 1))
    return steps * BATCH * CONTEXT / (clock.end - clock.start)


def reference(shape: dict, precision: str, compile: bool, steps: int, warmup: int) -> float:
    from transformers import GPT2Config, GPT2LMHeadModel

    from webtext.components.train.data import Windows

    config = GPT2Config(vocab_size=VOCAB, n_positions=CONTEXT, n_embd=shape["n_embd"],
                        n_layer=shape["n_layer"], n_head=shape["n_head"], resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0, attn_implementation="sdpa", bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(config).train()
    step_model = torch.compile(model) if compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1)
    windows = Windows(token_set(), "train", CONTEXT)
    bf16 = precision == "bf16-mixed"
    start = 0.0
    for step in range(steps + warmup):
        if step == warmup:
            start = time.perf_counter()
        x, y = windows.batch(np.random.default_rng([0, 0, step]), BATCH)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = step_model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return steps * BATCH * CONTEXT / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--shapes", nargs="+", default=["4x256", "6x384"])
    parser.add_argument("--no-compile", action="store_true", help="measure without torch.compile only")
    args = parser.parse_args()
    from webtext.components.model.gpt import GPT, GPTConfig
    from webtext.components.train.precision import measure

    torch.manual_seed(0)
    rates = measure()
    print(f"CPU: {rates.machine}; {cpu_flags()}; threads {torch.get_num_threads()}")
    peaks = {"32-true": gemm_peak(torch.float32)}
    if rates.bf16_faster:
        peaks["bf16-mixed"] = gemm_peak(torch.bfloat16)
    else:
        print(f"bf16-mixed skipped: this CPU emulates bf16 ({rates.describe()})")
    print("GEMM peak: " + ", ".join(f"{p} {peak / 1e9:.0f} GFLOP/s" for p, peak in peaks.items()))
    compiles = (False,) if args.no_compile else (False, True)
    met, report = True, []
    for name in args.shapes:
        layers, width = map(int, name.split("x"))
        shape = dict(vocab_size=VOCAB, block_size=CONTEXT, n_layer=layers, n_head=width // 64, n_embd=width,
                     dropout=0.0)
        flops = GPT(GPTConfig(**shape)).flops_per_token()
        for precision in peaks:
            rates = {}
            for label, run in (("ours", ours), ("reference", reference)):
                for compile in compiles:
                    rate = run(shape, precision, compile, args.steps, args.warmup)
                    rates[label, compile] = rate
                    print(f"  {name} {precision:>10} {label:>9} compile={compile!s:<5} {rate:8,.0f} tokens/s "
                          f"MFU {flops * rate / peaks[precision]:.1%}", flush=True)
            best_ours = max(v for (label, _), v in rates.items() if label == "ours")
            best_ref = max(v for (label, _), v in rates.items() if label == "reference")
            mfu = flops * best_ours / peaks[precision]
            ratio = best_ours / best_ref
            ok = ratio >= TARGET_RATIO and (precision != "bf16-mixed" or name != "6x384" or mfu >= TARGET_MFU)
            met &= ok
            line = (f"{name} {precision}: ours {best_ours:,.0f} tokens/s (MFU {mfu:.1%}), reference "
                    f"{best_ref:,.0f} tokens/s (MFU {flops * best_ref / peaks[precision]:.1%}), "
                    f"ratio {ratio:.2f}x")
            report.append(line)
            print(line, flush=True)
    print("\n".join(["", "summary:", *report, f"targets met: {met}"]))
    (WORK / "pretrain_throughput.json").write_text(json.dumps(report, indent=1))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
