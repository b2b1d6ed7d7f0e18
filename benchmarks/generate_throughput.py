"""Generation speed of our GPT with its key-value cache, against recomputing the whole context at every
step and against `transformers`' `generate` (with its cache) on the same weights, exported.

In one run, for each shape (`--shapes`, default 4x256 and 6x384; context 256, vocab 8192) and batch size
(`--batches`, default 1 and 8): greedy decoding of `--new` tokens (default 192) after a 32-token prompt,
fp32, the best of `--repeat` runs. The three must produce the same tokens (else the run fails); prints
tokens/s of each and the ratios ours / uncached and ours / transformers (target >= 1.0).

    .venv/bin/python benchmarks/generate_throughput.py [--new 192] [--repeat 3] [--shapes 4x256 6x384]
        [--batches 1 8]
"""

from __future__ import annotations

import argparse
import time

import torch

VOCAB, CONTEXT, PROMPT = 8192, 256, 32
TARGET = 1.0


def timed(run, repeat: int) -> tuple[float, torch.Tensor]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--new", type=int, default=192)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shapes", nargs="+", default=["4x256", "6x384"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    args = parser.parse_args()
    from transformers import GPT2Config, GPT2LMHeadModel

    from webtext.components.model.gpt import GPT, GPTConfig
    from webtext.components.model.hf import hf_config, to_hf_state_dict

    print(f"threads {torch.get_num_threads()}; greedy, {args.new} new tokens after {PROMPT}, fp32")
    failed = False
    for shape in args.shapes:
        layers, width = map(int, shape.split("x"))
        torch.manual_seed(0)
        ours = GPT(GPTConfig(vocab_size=VOCAB, block_size=CONTEXT, n_layer=layers, n_head=width // 64,
                             n_embd=width, dropout=0.0)).eval()
        theirs = GPT2LMHeadModel(GPT2Config(**{k: v for k, v in hf_config(ours.config, 0).items()
                                               if k not in ("architectures", "model_type")})).eval()
        theirs.load_state_dict(to_hf_state_dict(ours), strict=False)
        for batch in args.batches:
            prompts = torch.randint(1, VOCAB, (batch, PROMPT), generator=torch.Generator().manual_seed(1))
            generators = {
                "ours (cache)": lambda: ours.generate(prompts, args.new, temperature=0),
                "ours (no cache)": lambda: ours.generate(prompts, args.new, temperature=0, cache=False),
                "transformers": lambda: theirs.generate(
                    prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=args.new,
                    min_new_tokens=args.new, do_sample=False, use_cache=True, pad_token_id=0),
            }
            with torch.inference_mode():
                runs = {name: timed(run, args.repeat) for name, run in generators.items()}
            tokens = {name: out for name, (_, out) in runs.items()}
            same = all(torch.equal(tokens["ours (cache)"], out) for out in tokens.values())
            rates = {name: batch * args.new / seconds for name, (seconds, _) in runs.items()}
            ratio = rates["ours (cache)"] / rates["transformers"]
            failed |= not same or ratio < TARGET
            print(f"{shape} batch {batch}: " + ", ".join(f"{n} {r:,.0f} tokens/s" for n, r in rates.items())
                  + f"; ours / no cache {rates['ours (cache)'] / rates['ours (no cache)']:.2f}, ours / "
                  f"transformers {ratio:.2f} (target >= {TARGET}); same tokens: {same}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
