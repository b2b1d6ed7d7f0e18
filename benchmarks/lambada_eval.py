"""LAMBADA zero-shot on a pretrained checkpoint: the `evaluate` stage's scorer next to `transformers`
and lm-evaluation-harness running the exported model on the same examples, in the same run.

1. The checkpoint is `finetune_gain.py`'s pretrained 4 x 256 GPT (trained and cached there if absent).
2. It is registered with the stage's code (`write_version`) and exported with `export_transformers`.
3. Ours: `components.evaluate.tasks.evaluate_task` on `../shared/data/tasks/lambada` (context = the
   passage without its last word, target = " " + last word; acc = greedy match, ppl = exp of the mean
   negative log-likelihood of the target).
4. Reference: `AutoModelForCausalLM` and `AutoTokenizer` loaded from the export, the same requests built
   with the exported tokenizer, batched the same way (longest first, right padding, attention mask),
   full logits, log-softmax, gather.
5. lm-evaluation-harness: `lm_eval.simple_evaluate` with its `hf` model on the export and its installed
   `lambada_openai.yaml`, only the dataset changed to the local file (offline; its time includes loading
   the model and the data).
Same scores (acc equal, ppl within 1e-4 relative) and a speed ratio against (4); target >= 1.0x.

The local file is OpenAI's detokenised LAMBADA test set, released with GPT-2: the file lambada_openai
was defined on (its sha256 is the one lm-evaluation-harness listed for OpenAI's copy; PROVENANCE.txt).
lambada_openai's definition is ours: the context is the text up to its last space, the target " " +
the word after it, acc a greedy match of all the target's tokens, perplexity exp(-mean log-likelihood
of the target). GPT-2's paper scored its own way, with code never released: its 117M model reports
45.99 acc / 35.13 ppl there and scores 0.3256 / 40.06 under lambada_openai (lm-evaluation-harness
issue #2159), so compare with lm-evaluation-harness, not with the paper. lambada_standard reads the
original tokenised text, another file, and is not compared.

    .venv/bin/python benchmarks/lambada_eval.py [--limit 5153] [--batch-size 16] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from finetune_gain import DATA, WORK, pretrain  # noqa: E402  the cached checkpoint lives there

LAMBADA = DATA / "tasks/lambada/lambada_test.jsonl"


def export(parent: Path, sha: str, vocab: int) -> tuple[Path, dict]:
    """The checkpoint as a registry entry and its transformers export (rebuilt each run: seconds)."""
    from webtext.components.evaluate.registry import export_transformers, verify_version, write_version

    work = WORK.parent / "lambada-eval"
    shutil.rmtree(work, ignore_errors=True)
    run = work / "run"
    run.mkdir(parents=True)
    shutil.copyfile(parent / "model.safetensors", run / "model.safetensors")
    (run / "config.json").write_text((parent / "config.json").read_text())
    config = json.loads((parent / "config.json").read_text())
    lineage = {"name": "bench", "version": 1, "checkpoint_id": parent.name, "snapshot_id": "finetune-gain",
               "tokenizer_id": f"bpe-{vocab}", "code_version": "bench", "step": 0, "model": config,
               "eot_id": 0, "contamination_ngram": 13, "metrics": {}}
    entry = work / "registry"
    lineage_sha = write_version(entry, weights_dir=run, tokenizer_json=WORK / "tokenizer.json",
                                lineage=lineage)
    lineage = verify_version(entry, lineage_sha)
    assert lineage["files"]["model.safetensors"] == sha
    export_transformers(entry, work / "hf", lineage)
    return entry, lineage


def ours(entry: Path, lineage: dict, passages: list[str], batch_size: int) -> tuple[dict, float]:
    from webtext.components.config import EvalTaskConfig
    from webtext.components.evaluate.tasks import evaluate_task, last_word_example
    from webtext.components.model.checkpoint import load_model
    from webtext.components.tokenize.bpe import encode_document, tiktoken_encoding

    model = load_model(entry, lineage["files"]["model.safetensors"])
    encoding = tiktoken_encoding(entry / "tokenizer.json")
    task = EvalTaskConfig(name="lambada", type="last_word")
    items = [last_word_example(p) for p in passages]
    start = time.perf_counter()
    result = evaluate_task(model, task, items, [], lambda t: encode_document(encoding, t).tolist(),
                           batch_size=batch_size, device="cpu", seed=0)
    return result.metrics, time.perf_counter() - start


def reference(hf_dir: Path, passages: list[str], batch_size: int) -> tuple[dict, float]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(hf_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    block = model.config.n_positions
    start = time.perf_counter()
    requests = []
    for passage in passages:
        context, _, word = passage.rstrip().rpartition(" ")
        target = tokenizer.encode(" " + word)
        requests.append(((tokenizer.encode(context) + target)[-(block + 1):], len(target)))
    order = sorted(range(len(requests)), key=lambda i: -len(requests[i][0]))
    lls, hits = [0.0] * len(requests), [False] * len(requests)
    with torch.inference_mode():
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            width = len(requests[batch[0]][0]) - 1
            inputs = torch.zeros((len(batch), width), dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                tokens = requests[i][0]
                inputs[row, :len(tokens) - 1] = torch.tensor(tokens[:-1])
                mask[row, :len(tokens) - 1] = 1
            logprobs = torch.log_softmax(model(inputs, attention_mask=mask).logits.float(), dim=-1)
            for row, i in enumerate(batch):
                tokens, n = requests[i]
                positions = torch.arange(len(tokens) - 1 - n, len(tokens) - 1)
                target = torch.tensor(tokens[-n:])
                picked = logprobs[row, positions]
                lls[i] = picked.gather(1, target[:, None]).double().sum().item()
                hits[i] = bool((picked.argmax(-1) == target).all())
    seconds = time.perf_counter() - start
    return {"acc": sum(hits) / len(hits), "ppl": math.exp(-math.fsum(lls) / len(lls))}, seconds


def lambada_openai(directory: Path) -> str:
    """Write lm-evaluation-harness's installed `lambada_openai.yaml` into `directory`, reading the local
    LAMBADA file instead of the hub dataset; returns the task's name."""
    import lm_eval
    import yaml

    spec = yaml.safe_load((Path(lm_eval.__file__).parent / "tasks/lambada/lambada_openai.yaml").read_text())
    for key in ("tag", "dataset_name"):
        spec.pop(key)
    data = {"data_files": {"test": str(LAMBADA)}, "cache_dir": str(directory / "datasets")}
    spec |= {"task": "lambada_openai_local", "dataset_path": "json", "dataset_kwargs": data}
    (directory / "lambada_openai_local.yaml").write_text(yaml.safe_dump(spec))
    return spec["task"]


def harness(hf_dir: Path, n_passages: int, batch_size: int) -> tuple[dict, float]:
    """lm-evaluation-harness's lambada_openai on the first `n_passages`, offline."""
    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    import lm_eval
    from lm_eval.tasks import TaskManager

    tasks = hf_dir.parent / "lm-eval"
    tasks.mkdir()
    name = lambada_openai(tasks)
    start = time.perf_counter()
    out = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={hf_dir},dtype=float32", tasks=[name],
                                  task_manager=TaskManager(include_path=str(tasks), include_defaults=False),
                                  batch_size=batch_size, device="cpu", limit=n_passages, bootstrap_iters=0)
    seconds = time.perf_counter() - start
    results = out["results"][name]
    return {"acc": results["acc,none"], "ppl": results["perplexity,none"]}, seconds


def same_scores(a: dict, b: dict) -> bool:
    return a["acc"] == b["acc"] and math.isclose(a["ppl"], b["ppl"], rel_tol=1e-4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=5153, help="score the first N passages")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--pretrain-minutes", type=float, default=20.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    parent, sha, trained = pretrain(args.vocab, args.pretrain_minutes)
    entry, lineage = export(parent, sha, args.vocab)
    passages = [json.loads(line)["text"] for line in LAMBADA.read_text().splitlines()][: args.limit]
    print(f"checkpoint: {parent.name}, val {trained['val_bpb']:.3f} bits/byte; {len(passages):,} LAMBADA "
          f"passages, batch {args.batch_size}, {args.threads} threads", flush=True)
    mine, mine_s = ours(entry, lineage, passages, args.batch_size)
    theirs, theirs_s = reference(entry.parent / "hf", passages, args.batch_size)
    harness_scores, harness_s = harness(entry.parent / "hf", len(passages), args.batch_size)
    for name, metrics, seconds in (("ours", mine, mine_s), ("transformers", theirs, theirs_s),
                                   ("lm-eval", harness_scores, harness_s)):
        print(f"{name:>12}: acc {metrics['acc']:.4f}  ppl {metrics['ppl']:.2f}  "
              f"{len(passages) / seconds:.1f} examples/s ({seconds:.1f} s)")
    same = same_scores(mine, theirs) and same_scores(mine, harness_scores)
    ratio = theirs_s / mine_s
    print(f"same scores: {same} (transformers {same_scores(mine, theirs)}, lm-eval "
          f"{same_scores(mine, harness_scores)}); speed ratio {ratio:.2f}x against transformers "
          f"(target >= 1.0x)")
    return 0 if same and ratio >= 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
