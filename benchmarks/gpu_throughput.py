"""gpt2-small (124M) training throughput on one CUDA GPU as the `pretrain` stage trains it, and its model
FLOPs utilisation against the GPU's published dense bf16 peak.

`GPTModule` + `TokenData` under a Lightning `Trainer` with the stage's GPU defaults (accelerator auto,
bf16-mixed, `torch.compile`, TF32 for the rest), context 1024, AdamW, gradient clipping 1.0, on a
token set of random ids in `benchmarks/.work/`. tokens/s counts the steps after `--warmup` (compilation
excluded); MFU is nanoGPT's `estimate_mfu`: (6N + 12 L T C) x tokens/s / peak.

Anchors: llm.c trains GPT-2 124M on 10B tokens in ~45 min on 8 H100s (~460k tokens/s per GPU);
nanoGPT reports ~38% MFU for it on A100s. Without a CUDA device it says so and exits with status 2.

    .venv/bin/python benchmarks/gpu_throughput.py [--steps 30] [--warmup 10] [--micro-batch 16]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from random_tokens import random_token_set

VOCAB, CONTEXT = 50_257, 1024
# Dense bf16 tensor-core peaks from the vendors' data sheets, FLOP/s (no sparsity).
PEAKS = {"H200": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12,
         "A10": 125e12}


def token_set() -> Path:
    return random_token_set("gpu-tokens", VOCAB, 20_000_000)


def peak(name: str) -> float | None:
    return next((flops for key, flops in PEAKS.items() if key in name), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--micro-batch", type=int, default=16)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device here: not run")
        return 2
    import lightning as L

    from webtext.components.model.presets import model_config
    from webtext.components.train.data import TokenData
    from webtext.components.train.module import GPTModule
    from webtext.components.train.precision import resolve

    class Clock(L.Callback):
        start = end = 0.0

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if trainer.global_step == args.warmup and not self.start:
                torch.cuda.synchronize()
                self.start = time.perf_counter()

        def on_train_end(self, trainer, module):
            torch.cuda.synchronize()
            self.end = time.perf_counter()

    torch.set_float32_matmul_precision("high")
    precision, _ = resolve("auto", None)
    shape = model_config("gpt2-small", VOCAB).to_dict() | {"dropout": 0.0}
    total = args.steps + args.warmup
    module = GPTModule(shape, 6e-4, 0.1, 2, total, 0.1, (0.9, 0.95), 0, 1.0, compile=True)
    clock = Clock()
    trainer = L.Trainer(accelerator="auto", devices=1, precision=precision, max_steps=total,
                        limit_val_batches=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[clock])
    trainer.fit(module, datamodule=TokenData(token_set(), CONTEXT, args.micro_batch, 1, 0, 1))
    tokens_per_s = args.steps * args.micro_batch * CONTEXT / (clock.end - clock.start)
    name = torch.cuda.get_device_name()
    flops = module.model.flops_per_token() * tokens_per_s
    gpu_peak = peak(name)
    mfu = f"{flops / gpu_peak:.1%} of {gpu_peak / 1e12:.0f} TFLOP/s bf16" if gpu_peak else "peak unknown"
    print(f"{name}, {precision}, compiled, micro-batch {args.micro_batch} x {CONTEXT}: "
          f"{tokens_per_s:,.0f} tokens/s, {flops / 1e12:.1f} TFLOP/s, MFU {mfu}; "
          f"peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
