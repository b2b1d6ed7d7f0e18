"""Reward-model accuracy on Anthropic's HH-RLHF harmless pairs: does the pretrained base give the
`reward` stage's model (InstructGPT's step 2) anything over the same shape from random weights, and
over the cheap baselines a reward model must beat?

`../shared/data/tasks/hh_rlhf/harmless_base_pairs.jsonl.gz` (1,800 pairs of whole dialogues, in a
seeded random order) is split by position: the last `--held-out` pairs (360, a fifth) are held
out, the first `--train-pairs` trained on (720 by default, to keep the run near 6 minutes on a 2-core
CPU; `--train-pairs 1440` takes every pair before the held-out ones). Arms, all on that split:

(a) prefer the longer answer (characters; a tie counts half);
(b) bag-of-words logistic regression: word counts of one answer minus the other's, each pair in a
    random left/right order (50% is chance), trained on the train pairs;
(c) the reward model (`run_reward`) from the base's pretrained weights;
(d) the same from random weights of the base's shape (`RewardConfig(from_scratch=True)`).

Printed: held-out pairwise accuracy, mean margin (reward of chosen minus rejected; for (b) the
logit), the reward models' held-out pairwise loss (-log sigmoid(margin), a steadier signal than
accuracy on a few hundred pairs), wall time, and the pretrained-minus-scratch gap. The base's
context is short (256 tokens for the demo's model) and `answer_tokens` keeps the newest tokens of
prompt + answer, so the pairs cut that way are counted. The CPU and its bf16 support come first.

Anchors: GPT-2-size reward models reach 61-68% held-out accuracy on HH; Anthropic's 52B ~72%
(Bai et al. 2022). The demo's base is a 4 x 256 GPT pretrained for minutes on Python documentation.

    .venv/bin/python benchmarks/reward_model.py [--base webtext-sample@champion] [--home DIR]
        [--train-pairs 720] [--held-out 360] [--epochs 1] [--lr 3e-4] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import math
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAIRS = Path(__file__).resolve().parents[2] / "shared/data/tasks/hh_rlhf/harmless_base_pairs.jsonl.gz"


def cpu() -> str:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    bf16 = "avx512_bf16" in Path("/proc/cpuinfo").read_text().split()
    return f"{fields.get('Model name', 'unknown').strip()}, avx512_bf16 {'present' if bf16 else 'absent'}"


def quiet_lightning() -> None:
    """Lightning's start-up notices off: its warnings, the progress lines and the table stay."""
    import lightning.pytorch  # noqa: F401  sets its loggers' level on import

    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)


def base_model(ref: str, home_dir: str | None) -> tuple[Path, str, Path]:
    """The weights directory, weights sha256 and tokenizer.json of a registered model or checkpoint."""
    from webtext import warehouse
    from webtext.components.errors import InputError
    from webtext.components.home import Home
    from webtext.flows.models import resolve_weights

    home = Home(Path(home_dir).expanduser().resolve()) if home_dir else Home.from_env()
    if not home.warehouse.exists():
        sys.exit(f"no webtext home at {home.root}: run `make demo` first (or name one with --home)")
    with warehouse.connect(home.warehouse) as con:
        try:
            return resolve_weights(con, home, ref)
        except InputError as exc:
            sys.exit(f"{exc} in {home.root}: run `make demo` first, or name a registered model with --base")


def split(train_pairs: int, held_out: int, directory: Path) -> tuple[Path, Path]:
    """The last `held_out` pairs and the first `train_pairs` as JSONL files in `directory`."""
    with gzip.open(PAIRS, "rt") as fh:
        rows = [line for line in fh if line.strip()]
    if train_pairs + held_out > len(rows):
        sys.exit(f"--train-pairs {train_pairs} + --held-out {held_out} is more than the {len(rows)} pairs")
    train, validation = directory / "train.jsonl", directory / "validation.jsonl"
    train.write_text("".join(rows[:train_pairs]))
    validation.write_text("".join(rows[len(rows) - held_out:]))
    return train, validation


def comparisons(path: Path) -> list:
    from webtext.components.instruct.data import read_comparisons

    records = read_comparisons(path)
    if records.skipped:
        print(f"{path.name}: {len(records.skipped)} of its records skipped (first: {records.skipped[0]})")
    return records.records


def truncated(pairs: list, tokenizer: Path, block_size: int) -> int:
    """Pairs where prompt + answer of either side is longer than the context."""
    from webtext.components.instruct.chat import Turn, encode_chat
    from webtext.components.instruct.run import Encoder

    encode = Encoder(tokenizer)
    return sum(any(len(encode_chat(encode, encode.eot, [*c.prompt, Turn("assistant", a)])[0]) > block_size
                   for a in c.answers) for c in pairs)


def longer_answer(pairs: list) -> float:
    """The share of pairs whose chosen answer is the longer (in characters), a tie counting half."""
    chosen, rejected = ([len(c.answers[i]) for c in pairs] for i in (0, 1))
    return sum((c > r) + 0.5 * (c == r) for c, r in zip(chosen, rejected)) / len(pairs)


def bag_of_words(train: list, held_out: list, seed: int = 0) -> tuple[float, float]:
    """Held-out accuracy and mean logit for the chosen answer of a logistic regression on the
    difference of the two answers' word counts, each pair in a random order."""
    from scipy.sparse import diags
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = CountVectorizer().fit([a for c in train for a in c.answers])
    rng = random.Random(seed)

    def features(pairs: list):
        """(left minus right counts, whether left is the chosen answer, chosen minus rejected)."""
        difference = (vectorizer.transform([c.answers[0] for c in pairs])
                      - vectorizer.transform([c.answers[1] for c in pairs]))
        chosen_left = [rng.random() < 0.5 for _ in pairs]
        signs = diags([1.0 if left else -1.0 for left in chosen_left])
        return signs @ difference, [int(left) for left in chosen_left], difference

    x, y, _ = features(train)
    model = LogisticRegression(max_iter=2000).fit(x, y)
    x, y, difference = features(held_out)
    margin = float((difference @ model.coef_[0]).mean())
    return float(model.score(x, y)), margin


def reward_model(base: tuple[Path, str, Path], train: Path, validation: Path, out: Path, args,
                 from_scratch: bool, log_every: int):
    """`run_reward` on the split: scored on the held-out pairs before and after training only."""
    from webtext.components.config import InstructData, RewardConfig
    from webtext.components.instruct.run import run_reward
    from webtext.components.train.job import RewardJob

    weights, sha256, tokenizer = base
    config = RewardConfig(
        data=InstructData(files={"train": [str(train)], "validation": [str(validation)]}), init="pretrained",
        from_scratch=from_scratch, learning_rate=args.lr, batch_size=args.batch_size, epochs=args.epochs,
        val_every_steps=10**6, checkpoint_every_steps=10**6, log_every_steps=log_every)
    out.mkdir()
    job = RewardJob(out=out, parent=weights, parent_sha256=sha256, tokenizer=tokenizer, train=[train],
                    validation=[validation], normalise=[], reward=config)
    return run_reward(job)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="webtext-sample@champion", help="registered model or checkpoint id")
    parser.add_argument("--home", help="the webtext home holding it (default: WEBTEXT_HOME or ./.webtext)")
    parser.add_argument("--train-pairs", type=int, default=720)
    parser.add_argument("--held-out", type=int, default=360)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    print(f"CPU: {cpu()}")
    base = base_model(args.base, args.home)
    quiet_lightning()
    block_size = json.loads((base[0] / "config.json").read_text())["block_size"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="reward-model-") as tmp:
        train_file, validation_file = split(args.train_pairs, args.held_out, Path(tmp))
        train, held_out = comparisons(train_file), comparisons(validation_file)
        for name, pairs in (("train", train), ("held-out", held_out)):
            cut = truncated(pairs, base[2], block_size)
            print(f"{name}: {len(pairs)} pairs, {cut} ({cut / len(pairs):.0%}) longer than the context of "
                  f"{block_size} tokens on either side (the newest {block_size} kept)")

        start = time.perf_counter()
        rows.append(("(a) longer answer", longer_answer(held_out), None, None, time.perf_counter() - start))
        start = time.perf_counter()
        accuracy, margin = bag_of_words(train, held_out)
        rows.append(("(b) bag-of-words logistic regression", accuracy, margin, None,
                     time.perf_counter() - start))
        results = {}
        log_every = max(1, args.epochs * (len(train) // args.batch_size) // 4)
        for name, scratch in (("(c) reward model, pretrained base", False),
                              ("(d) reward model, from scratch", True)):
            print(f"\n{name}: {args.epochs} epoch(s), lr {args.lr:g}, batch {args.batch_size}", flush=True)
            start = time.perf_counter()
            out = Path(tmp) / f"rm-{'scratch' if scratch else 'pretrained'}"
            result = reward_model(base, train_file, validation_file, out, args, scratch, log_every)
            seconds = time.perf_counter() - start
            results[scratch] = result
            rows.append((name, *(result.scores[k] for k in ("accuracy", "margin", "loss")), seconds))
            print(f"before training: accuracy {result.baseline['accuracy']:.3f}, after: "
                  f"{result.scores['accuracy']:.3f} ({result.step} steps)")

    print(f"\nbase {args.base} ({base[0]}), {len(train)} train / {len(held_out)} held-out pairs")
    print(f"{'arm':38s} {'accuracy':>9s} {'margin':>7s} {'loss':>6s} {'wall s':>7s}")
    for name, accuracy, margin, loss, seconds in rows:
        shown = [f"{value:{width}.3f}" if value is not None else f"{'-':>{width}s}"
                 for value, width in ((margin, 7), (loss, 6))]
        print(f"{name:38s} {accuracy:9.3f} {' '.join(shown)} {seconds:7.1f}")
    pretrained, scratch = (results[k].scores for k in (False, True))
    error = math.sqrt(pretrained["accuracy"] * (1 - pretrained["accuracy"]) / len(held_out))
    print(f"pretrained - scratch: {(pretrained['accuracy'] - scratch['accuracy']) * 100:+.1f} points of "
          f"held-out accuracy (one arm's standard error: {error * 100:.1f} points), "
          f"{pretrained['loss'] - scratch['loss']:+.4f} nats of held-out pairwise loss (chance: ln 2)")
    print(f"(preferring the shorter answer instead of (a) scores {1 - rows[0][1]:.3f})")


if __name__ == "__main__":
    main()
