"""Held-out bits per byte after the same wall time of training: our Lightning GPT against a plain
PyTorch loop over `transformers`' GPT2LMHeadModel, on tinyshakespeare.

- data: `/work/shared/data/text/tinyshakespeare.txt` (`--text`); the last 10% is held out. A
  byte-level BPE of `--vocab` tokens is trained on the first 90% with the stage's own code and both
  parts are encoded with it into a token set of the stage's format.
- ours: `GPTModule` + `TokenData` under a Lightning `Trainer` stopped by `max_time`.
- reference: GPT2LMHeadModel (sdpa) of the same shape, same batches (the same windows, drawn from the
  same seeds), AdamW with the same settings, the same warmup then constant learning rate (a cosine
  needs to know the step count, which a wall-time budget does not), the same precision.
- score: both models read the held-out tail in consecutive windows of the context; the summed
  cross-entropy over its UTF-8 bytes, in bits: bits per byte, comparable with any tokenizer.

    .venv/bin/python benchmarks/pretrain_quality.py [--minutes 5] [--shape 4x256] [--vocab 2048]
        [--precision bf16-mixed]
"""

from __future__ import annotations

import argparse
import math
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch

WORK = Path(__file__).resolve().parent / ".work"
TEXT = Path("/work/shared/data/text/tinyshakespeare.txt")
CONTEXT, BATCH, LR, WARMUP = 256, 8, 1e-3, 50


def prepare(text_path: Path, vocab: int) -> tuple[Path, Path, int]:
    """A token set of the text's first 90% (train) and last 10% (val); returns it, the tokenizer, and
    the held-out tail's UTF-8 bytes."""
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
    return directory, tokenizer, stats["val"].n_bytes


@torch.no_grad()
def held_out_bits_per_byte(logits_of, tokens: np.ndarray, n_bytes: int) -> float:
    """Summed next-token cross-entropy over consecutive windows of the held-out tokens, per byte."""
    total = 0.0
    for start in range(0, len(tokens) - 1, CONTEXT):
        window = torch.from_numpy(tokens[start:start + CONTEXT + 1].astype(np.int64))[None]
        logits = logits_of(window[:, :-1]).float()
        total += torch.nn.functional.cross_entropy(logits[0], window[0, 1:], reduction="sum").item()
    return total / (n_bytes * math.log(2))


def ours(directory: Path, shape: dict, precision: str, minutes: float) -> tuple[float, int]:
    import lightning as L

    from webtext.components.train.data import TokenData
    from webtext.components.train.module import GPTModule

    module = GPTModule(shape, LR, 1.0, WARMUP, 10**9, 0.1, (0.9, 0.95), 0, 1.0)
    trainer = L.Trainer(accelerator="cpu", devices=1, precision=precision, max_steps=10**9,
                        max_time=timedelta(minutes=minutes), gradient_clip_val=1.0, limit_val_batches=0,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(module, datamodule=TokenData(directory, CONTEXT, BATCH, 1, 0, 1))
    model = module.model.eval()
    return _score(directory, lambda x: model(x)[0], precision), trainer.global_step


def reference(directory: Path, shape: dict, precision: str, minutes: float) -> tuple[float, int]:
    from transformers import GPT2Config, GPT2LMHeadModel

    from webtext.components.train.data import Windows

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
    deadline, step = time.monotonic() + minutes * 60, 0
    while time.monotonic() < deadline:
        x, y = windows.batch(np.random.default_rng([0, 0, step]), BATCH)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
    model.eval()
    return _score(directory, lambda x: model(input_ids=x).logits, precision), step


def _score(directory: Path, logits_of, precision: str) -> float:
    from webtext.components.tokenize.shards import read_manifest, read_split

    tokens = np.concatenate(list(read_split(directory, "val")))
    n_bytes = read_manifest(directory)["splits"]["val"]["n_bytes"]
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
        return held_out_bits_per_byte(logits_of, tokens, n_bytes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", type=Path, default=TEXT)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--shape", default="4x256")
    parser.add_argument("--vocab", type=int, default=2048)
    parser.add_argument("--precision", default="bf16-mixed")
    args = parser.parse_args()
    directory, _, n_bytes = prepare(args.text, args.vocab)
    layers, width = map(int, args.shape.split("x"))
    shape = dict(vocab_size=args.vocab, block_size=CONTEXT, n_layer=layers, n_head=width // 64, n_embd=width,
                 dropout=0.0)
    print(f"{args.text.name}: held-out tail {n_bytes:,} bytes; {args.shape}, context {CONTEXT}, "
          f"batch {BATCH}, vocab {args.vocab}, {args.precision}, {args.minutes:g} min each", flush=True)
    results = {}
    for name, run in (("ours", ours), ("reference", reference)):
        torch.manual_seed(0)
        results[name] = run(directory, shape, args.precision, args.minutes)
        print(f"{name:>9}: {results[name][1]:,} steps, held-out {results[name][0]:.4f} bits/byte", flush=True)
    difference = results["ours"][0] - results["reference"][0]
    print(f"ours - reference: {difference:+.4f} bits/byte (lower is better)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
