"""Sentiment control (Ziegler et al. 2019, the RLHF precursor of InstructGPT's step 3) with the `align`
stage's code: does PPO against this project's own fine-tuned sentiment classifier, and DPO on pairs
that classifier ranked, raise the share of continuations an independent judge calls positive, and at
what KL from the SFT policy?

Data: SST-2 (`../shared/data/tasks/sst2/`), its train sentences of at least `--min-words` words
shuffled once (seed 0) and split apart, so no two parts share a sentence:

1. The reward: the base's GPT fine-tuned as a sentiment classifier (`components.finetune`, GPT-1's
   recipe) on `--classifier-rows` labelled sentences; its accuracy on SST-2 dev is printed. The
   reward of a continuation is its log-odds of positive (`ClassifierReward`).
2. The judge: a bag-of-words logistic regression (scikit-learn) on `--judge-rows` other labelled
   sentences: another model family on other data, so the policy cannot learn its quirks from the
   reward. Its dev accuracy is printed.
3. The SFT policy: the base fine-tuned (`run_sft`) on `--sft-rows` sentences as demonstrations,
   "Continue the review: <first 4 words>" answered with the rest of the sentence.
4. PPO (`run_align`, `reward: classifier`) on `--prompts` openings of other train sentences; DPO on
   pairs of two SFT continuations of the same openings, the one the classifier prefers first (ties
   dropped), as the DPO paper's IMDb experiment built them.
5. Held out: the openings of SST-2 dev sentences; each policy answers once per prompt with one seed,
   the SFT policy with the same seed; printed per policy: the judge's positive share, the
   classifier's positive share and mean log-odds, KL to the SFT policy per answer (nats), mean words
   per answer, and wall time.

The base is the demo's pretrained model (`make demo`): a 4 x 256 GPT trained for minutes on Python
documentation, which has never read a movie review. Ziegler et al. started from GPT-2 774M fine-tuned
on book text; the claim checked here is the direction and its price in KL, not their numbers.

    .venv/bin/python benchmarks/sentiment_control.py [--base webtext-sample@champion] [--home DIR]
        [--prompts 512] [--ppo-lr 5e-5] [--dpo-lr 5e-5] [--beta 0.05] [--dpo-beta 0.1]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reward_model import base_model, cpu, quiet_lightning  # noqa: E402

SST2 = Path(__file__).resolve().parents[2] / "shared/data/tasks/sst2"
CONTINUE = "Continue the review: "
OPENING = 4  # words of a sentence given as the prompt


def sentences(path: Path, min_words: int) -> list[tuple[str, str]]:
    """(sentence, label) of an SST-2 file, the sentences of at least `min_words` words."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [(r["sentence"].strip(), r["label"]) for r in rows if len(r["sentence"].split()) >= min_words]


def prompt(sentence: str) -> str:
    return CONTINUE + " ".join(sentence.split()[:OPENING])


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("sentence\tlabel\n" + "".join(f"{s}\t{label}\n" for s, label in rows))
    return path


def classifier(base, train: Path, dev: Path, out: Path, args):
    """The sentiment model (`components.finetune`), and its dev accuracy."""
    from webtext.components.finetune.run import finetune
    from webtext.components.records import CONFIG
    from webtext.components.train.job import FinetuneJob

    weights, sha256, tokenizer = base
    out.mkdir()
    task = {"name": "sst2", "type": "classification", "fields": ["sentence"], "labels": ["0", "1"],
            "files": {"train": str(train), "validation": str(dev)}}
    result = finetune(FinetuneJob.model_validate({
        "out": str(out), "parent": str(weights), "parent_sha256": sha256, "from_scratch": False,
        "model": json.loads((weights / CONFIG).read_text()),
        "tokenizer": str(tokenizer), "task": task, "cache_dir": str(out / "cache"),
        "finetune": {"learning_rate": args.classifier_lr, "epochs": 2, "batch_size": 32}}))
    return result.files["model.safetensors"], result.scores["acc"]


def judge(rows: list[tuple[str, str]], dev: list[tuple[str, str]]):
    """A bag-of-words logistic regression on `rows`: (positive probability of texts, dev accuracy)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = CountVectorizer(ngram_range=(1, 2), min_df=2).fit([s for s, _ in rows])
    model = LogisticRegression(max_iter=2000, C=0.5).fit(vectorizer.transform([s for s, _ in rows]),
                                                         [int(label) for _, label in rows])
    accuracy = model.score(vectorizer.transform([s for s, _ in dev]), [int(label) for _, label in dev])
    return (lambda texts: model.predict_proba(vectorizer.transform(texts))[:, 1]), accuracy


def sft(base, train: Path, validation: Path, out: Path, lr: float):
    """The base fine-tuned on the demonstrations of `train` for one epoch (`run_sft`)."""
    from webtext.components.config import InstructData, SFTConfig
    from webtext.components.instruct.run import run_sft
    from webtext.components.train.job import SFTJob

    weights, sha256, tokenizer = base
    out.mkdir()
    config = SFTConfig(data=InstructData(files={"train": [str(train)], "validation": [str(validation)]}),
                       learning_rate=lr, batch_size=16, epochs=1, val_every_steps=10**6,
                       checkpoint_every_steps=10**6, log_every_steps=50)
    return run_sft(SFTJob(out=out, parent=weights, parent_sha256=sha256, tokenizer=tokenizer,
                          train=[train], validation=[validation], sft=config))


def align(policy: tuple[Path, str], tokenizer: Path, reward: tuple[Path, str], train: Path, validation: Path,
          out: Path, settings: dict):
    """`run_align` from `policy` against the `reward` model directory and weights' sha256."""
    from webtext.components.align.run import run_align
    from webtext.components.config import AlignConfig, InstructData
    from webtext.components.train.job import AlignJob

    out.mkdir()
    config = AlignConfig(data=InstructData(files={"train": [str(train)], "validation": [str(validation)]}),
                         val_every_steps=10**6, checkpoint_every_steps=10**6, log_every_steps=16, **settings)
    return run_align(AlignJob(out=out, parent=policy[0], parent_sha256=policy[1], tokenizer=tokenizer,
                              train=[train], validation=[validation], reward_model=reward[0],
                              reward_sha256=reward[1], tokens=None, align=config))


def pairs(model, scorer, encode, examples, max_new_tokens: int, seed: int) -> list[dict]:
    """Two continuations of each prompt by `model`, the one `scorer` prefers as chosen (ties dropped)."""
    from webtext.components.align.rollout import sample

    out = []
    for first in range(0, len(examples), 32):
        batch = examples[first:first + 32]
        drawn = [sample(model, [e.ids for e in batch], max_new_tokens, 1.0, encode.eot,
                        torch.Generator().manual_seed(seed * 100_000 + first * 2 + k)) for k in (0, 1)]
        scores = [scorer(rollout, [e.prompt for e in batch]) for rollout in drawn]
        texts = [[encode.encoding.decode(ids).strip() for ids in rollout.answers(encode.eot)]
                 for rollout in drawn]
        for i, example in enumerate(batch):
            if scores[0][i] == scores[1][i] or not texts[0][i] or not texts[1][i]:
                continue
            better = 0 if scores[0][i] > scores[1][i] else 1
            out.append({"prompt": example.prompt.turns[-1].content, "chosen": texts[better][i],
                        "rejected": texts[1 - better][i]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="webtext-sample@champion", help="registered model or checkpoint id")
    parser.add_argument("--home", help="the webtext home holding it (default: WEBTEXT_HOME or ./.webtext)")
    parser.add_argument("--min-words", type=int, default=8)
    parser.add_argument("--classifier-rows", type=int, default=3000)
    parser.add_argument("--judge-rows", type=int, default=12000)
    parser.add_argument("--sft-rows", type=int, default=3000)
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--held-out", type=int, default=256)
    parser.add_argument("--classifier-lr", type=float, default=1e-4)
    parser.add_argument("--sft-lr", type=float, default=3e-4)
    parser.add_argument("--ppo-lr", type=float, default=5e-5)
    parser.add_argument("--dpo-lr", type=float, default=5e-5)
    parser.add_argument("--beta", type=float, default=0.05, help="PPO's KL coefficient")
    parser.add_argument("--dpo-beta", type=float, default=0.1)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    args = parser.parse_args()
    if not SST2.is_dir():
        sys.exit(f"{SST2}: SST-2 is not there")

    from webtext.components.align.evaluation import evaluate, prompt_examples
    from webtext.components.align.rewards import ClassifierReward
    from webtext.components.finetune.checkpoint import load_finetuned
    from webtext.components.instruct.chat import Encoder
    from webtext.components.instruct.data import read_prompts
    from webtext.components.model.checkpoint import load_model
    from webtext.components.records import WEIGHTS

    print(f"CPU: {cpu()}")
    base = base_model(args.base, args.home)
    quiet_lightning()
    train = sentences(SST2 / "train.tsv", args.min_words)
    dev = sentences(SST2 / "dev.tsv", args.min_words)
    random.Random(0).shuffle(train)
    cuts = [args.classifier_rows, args.judge_rows, args.sft_rows, args.prompts]
    if sum(cuts) > len(train):
        sys.exit(f"the parts ask for {sum(cuts)} sentences; SST-2 train has {len(train)} of "
                 f">= {args.min_words} words")
    parts, start = [], 0
    for n in cuts:
        parts.append(train[start:start + n])
        start += n
    classifier_rows, judge_rows, sft_rows, prompt_rows = parts
    held_out = dev[:args.held_out]
    encode = Encoder(base[2])
    rows, times = {}, {}

    with tempfile.TemporaryDirectory(prefix="sentiment-control-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        classifier_sha, accuracy = classifier(base, write_tsv(work / "classifier.tsv", classifier_rows),
                                              write_tsv(work / "dev.tsv", dev), work / "classifier", args)
        times["classifier"] = time.perf_counter() - start
        positive_share, judge_accuracy = judge(judge_rows, dev)
        print(f"reward: the base fine-tuned on {len(classifier_rows)} SST-2 sentences, dev accuracy "
              f"{accuracy:.3f} ({times['classifier']:.0f} s); judge: bag of words on {len(judge_rows)} "
              f"others, dev accuracy {judge_accuracy:.3f}", flush=True)

        def demonstrations(rows_, name):
            return write_jsonl(work / name, [{"prompt": prompt(s), "response": " ".join(s.split()[OPENING:])}
                                             for s, _ in rows_])

        start = time.perf_counter()
        result = sft(base, demonstrations(sft_rows, "sft-train.jsonl"),
                     demonstrations(held_out, "sft-validation.jsonl"), work / "sft", args.sft_lr)
        times["sft"] = time.perf_counter() - start
        policy = (work / "sft", result.files[WEIGHTS])
        print(f"SFT: {result.step} steps on {len(sft_rows)} demonstrations ({times['sft']:.0f} s)",
              flush=True)

        reference = load_model(*policy)
        scorer = ClassifierReward(load_finetuned(work / "classifier", classifier_sha), "1", encode.eot)
        block = reference.config.block_size
        prompts_file = write_jsonl(work / "prompts.jsonl", [{"prompt": prompt(s)} for s, _ in prompt_rows])
        held_out_file = write_jsonl(work / "held-out.jsonl", [{"prompt": prompt(s)} for s, _ in held_out])
        examples = {name: prompt_examples(read_prompts(path).records, encode, encode.eot, block,
                                          args.max_new_tokens)
                    for name, path in (("train", prompts_file), ("held-out", held_out_file))}

        start = time.perf_counter()
        dpo_train = pairs(reference, scorer, encode, examples["train"], args.max_new_tokens, seed=1)
        dpo_held_out = pairs(reference, scorer, encode, examples["held-out"], args.max_new_tokens, seed=2)
        pairs_seconds = time.perf_counter() - start
        print(f"DPO pairs: {len(dpo_train)} train, {len(dpo_held_out)} held out, sampled and ranked in "
              f"{pairs_seconds:.0f} s", flush=True)

        trained = {}
        sentiment = dict(reward="classifier", classifier="sst2", label="1")
        for method, settings, train_file, validation_file in (
                ("ppo", dict(sentiment, method="ppo", learning_rate=args.ppo_lr, batch_size=32, epochs=2,
                             beta=args.beta, max_new_tokens=args.max_new_tokens,
                             eval_tokens=args.max_new_tokens), prompts_file, held_out_file),
                ("dpo", dict(sentiment, method="dpo", learning_rate=args.dpo_lr, batch_size=16, epochs=2,
                             beta=args.dpo_beta, eval_tokens=args.max_new_tokens),
                 write_jsonl(work / "dpo-train.jsonl", dpo_train),
                 write_jsonl(work / "dpo-held-out.jsonl", dpo_held_out))):
            start = time.perf_counter()
            result = align(policy, base[2], (work / "classifier", classifier_sha), train_file,
                           validation_file, work / method, settings)
            times[method] = time.perf_counter() - start + (pairs_seconds if method == "dpo" else 0)
            trained[method] = load_model(work / method, result.files[WEIGHTS])
            print(f"{method}: {result.step} steps ({times[method]:.0f} s)", flush=True)

        for name, model in (("SFT", reference), ("PPO", trained["ppo"]), ("DPO", trained["dpo"])):
            scored = evaluate(model, reference, scorer, examples["held-out"], decode=encode.encoding.decode,
                              stop=encode.eot, max_new_tokens=args.max_new_tokens, temperature=1.0,
                              batch_size=32, seed=7, shown=len(examples["held-out"]))
            texts = [a["after"] for a in scored.answers]
            rows[name] = dict(judge=float((positive_share(texts) > 0.5).mean()),
                              classifier=sum(a["score_after"] > 0 for a in scored.answers) / len(texts),
                              reward=scored.metrics["reward"], kl=scored.metrics["kl"],
                              words=sum(len(t.split()) for t in texts) / len(texts))

    print(f"\nbase {args.base}; {len(held_out)} held-out openings of SST-2 dev sentences, "
          f"{args.max_new_tokens} tokens at most, temperature 1")
    print(f"{'policy':7s} {'judge positive':>15s} {'classifier positive':>20s} {'log-odds':>9s} "
          f"{'KL nats':>8s} {'words':>6s} {'wall s':>7s}")
    for name, row in rows.items():
        seconds = {"SFT": times["sft"], "PPO": times["ppo"], "DPO": times["dpo"]}[name]
        print(f"{name:7s} {row['judge']:15.3f} {row['classifier']:20.3f} {row['reward']:9.3f} "
              f"{row['kl']:8.2f} {row['words']:6.1f} {seconds:7.0f}")
    for name in ("PPO", "DPO"):
        gain = 100 * (rows[name]["judge"] - rows["SFT"]["judge"])
        print(f"{name} - SFT: {gain:+.1f} points judged positive, at KL {rows[name]['kl']:.2f} nats per "
              f"answer")


if __name__ == "__main__":
    main()
