"""Reward hacking, measured: PPO and DPO on Anthropic's HH-RLHF harmless pairs, each policy's win rate
against the SFT policy under the reward model it was trained against and under a judge it never saw.

`../shared/data/tasks/hh_rlhf/harmless_base_pairs.jsonl.gz` (1,800 pairs of whole dialogues, in a
seeded random order) is cut by position into parts that share no pair:

1. `--sft` pairs: their chosen dialogues are the SFT demonstrations (`run_sft` from the base);
2. `--rm` pairs: the reward model PPO maximises (`run_reward` from the SFT model), and DPO's
   comparisons;
3. `--judge` pairs: a second reward model trained the same way on other pairs: the held-out judge;
4. `--prompts` pairs: their prompts (answers left out) are PPO's rollouts;
5. the last `--held-out` pairs: their prompts are where every policy is scored.

Both reward models' held-out pairwise accuracy is printed (on the last pairs), then per policy: the
mean reward and the win rate against the SFT policy's answer to the same prompt with the same seed
(ties half) under the training reward model and under the judge, KL to the SFT policy per answer
(nats), mean answer length and wall time. Reward hacking shows as a win rate under the training
reward model well above the judge's. The SFT policy against itself is the check: 0.5 under both.

The base is the demo's pretrained model (`make demo`, a 4 x 256 GPT with a 256-token context that
read Python documentation); HH's dialogues are cut to the context (the oldest exchanges go first).

    .venv/bin/python benchmarks/hh_alignment.py [--base webtext-sample@champion] [--home DIR]
        [--ppo-lr 3e-5] [--dpo-lr 3e-5] [--beta 0.05] [--dpo-beta 0.1]
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reward_model import PAIRS, base_model, cpu, quiet_lightning  # noqa: E402
from sentiment_control import align, sft  # noqa: E402


def parts(sizes: dict[str, int], held_out: int, directory: Path) -> dict[str, Path]:
    """The pairs cut by position into one JSONL file per part, the last `held_out` as `held-out`."""
    with gzip.open(PAIRS, "rt") as fh:
        rows = [line for line in fh if line.strip()]
    if sum(sizes.values()) + held_out > len(rows):
        sys.exit(f"the parts ask for {sum(sizes.values()) + held_out} pairs; {PAIRS.name} has {len(rows)}")
    files, start = {}, 0
    for name, n in sizes.items():
        files[name] = directory / f"{name}.jsonl"
        files[name].write_text("".join(rows[start:start + n]))
        start += n
    files["held-out"] = directory / "held-out.jsonl"
    files["held-out"].write_text("".join(rows[len(rows) - held_out:]))
    return files


def reward_model(policy: tuple[Path, str], tokenizer: Path, train: Path, validation: Path, normalise: Path,
                 out: Path, lr: float):
    from webtext.components.config import InstructData, RewardConfig
    from webtext.components.instruct.run import run_reward
    from webtext.components.train.job import RewardJob

    out.mkdir()
    config = RewardConfig(data=InstructData(files={"train": [str(train)], "validation": [str(validation)]}),
                          learning_rate=lr, batch_size=16, epochs=1, val_every_steps=10**6,
                          checkpoint_every_steps=10**6, log_every_steps=20)
    return run_reward(RewardJob(out=out, parent=policy[0], parent_sha256=policy[1], tokenizer=tokenizer,
                                train=[train], validation=[validation], normalise=[normalise], reward=config))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="webtext-sample@champion", help="registered model or checkpoint id")
    parser.add_argument("--home", help="the webtext home holding it (default: WEBTEXT_HOME or ./.webtext)")
    parser.add_argument("--sft", type=int, default=480)
    parser.add_argument("--rm", type=int, default=480)
    parser.add_argument("--judge", type=int, default=480)
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--held-out", type=int, default=104)
    parser.add_argument("--sft-lr", type=float, default=3e-4)
    parser.add_argument("--rm-lr", type=float, default=3e-4)
    parser.add_argument("--ppo-lr", type=float, default=3e-5)
    parser.add_argument("--dpo-lr", type=float, default=3e-5)
    parser.add_argument("--beta", type=float, default=0.05, help="PPO's KL coefficient")
    parser.add_argument("--dpo-beta", type=float, default=0.1)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    args = parser.parse_args()
    if not PAIRS.is_file():
        sys.exit(f"{PAIRS}: the HH pairs are not there")

    from webtext.components.align.evaluation import evaluate, prompt_examples
    from webtext.components.align.rewards import ModelReward
    from webtext.components.instruct.chat import Encoder
    from webtext.components.instruct.checkpoint import load_reward
    from webtext.components.instruct.data import read_prompts
    from webtext.components.model.checkpoint import load_model
    from webtext.components.records import WEIGHTS

    print(f"CPU: {cpu()}")
    base = base_model(args.base, args.home)
    quiet_lightning()
    tokenizer = base[2]
    encode = Encoder(tokenizer)
    times, rows = {}, {}
    with tempfile.TemporaryDirectory(prefix="hh-alignment-") as tmp:
        work = Path(tmp)
        files = parts({"sft": args.sft, "rm": args.rm, "judge": args.judge, "prompts": args.prompts},
                      args.held_out, work)
        start = time.perf_counter()
        result = sft(base, files["sft"], files["held-out"], work / "sft", args.sft_lr)
        times["SFT"] = time.perf_counter() - start
        policy = (work / "sft", result.files[WEIGHTS])
        print(f"SFT: {result.step} steps on {args.sft} chosen dialogues ({times['SFT']:.0f} s)", flush=True)
        rewards = {}
        for name in ("rm", "judge"):
            start = time.perf_counter()
            result = reward_model(policy, tokenizer, files[name], files["held-out"], files["sft"],
                                  work / name, args.rm_lr)
            rewards[name] = (work / name, result.files[WEIGHTS])
            print(f"{'reward model' if name == 'rm' else 'judge'}: {args.rm if name == 'rm' else args.judge} "
                  f"pairs, held-out accuracy {result.scores['accuracy']:.3f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)

        trained = {}
        for name, settings, train in (
                ("PPO", dict(reward="model", method="ppo", learning_rate=args.ppo_lr, batch_size=32, epochs=1,
                             beta=args.beta, max_new_tokens=args.max_new_tokens,
                             eval_tokens=args.max_new_tokens),
                 files["prompts"]),
                ("DPO", dict(reward="model", method="dpo", learning_rate=args.dpo_lr, batch_size=16, epochs=1,
                             beta=args.dpo_beta, eval_tokens=args.max_new_tokens), files["rm"])):
            start = time.perf_counter()
            result = align(policy, tokenizer, rewards["rm"], train, files["held-out"], work / name.lower(),
                           settings)
            times[name] = time.perf_counter() - start
            trained[name] = load_model(work / name.lower(), result.files[WEIGHTS])
            print(f"{name}: {result.step} steps ({times[name]:.0f} s)", flush=True)

        reference = load_model(*policy)
        examples = prompt_examples(read_prompts(files["held-out"]).records, encode, encode.eot,
                                   reference.config.block_size, args.max_new_tokens)
        scorers = {name: ModelReward(load_reward(*rewards[name]), encode.eot) for name in rewards}
        for name, model in (("SFT", reference), *trained.items()):
            scored = {judge: evaluate(model, reference, scorer, examples, decode=encode.encoding.decode,
                                      stop=encode.eot, max_new_tokens=args.max_new_tokens, temperature=1.0,
                                      batch_size=32, seed=7, shown=len(examples))
                      for judge, scorer in scorers.items()}
            answers = scored["rm"].answers
            rm, judge = scored["rm"].metrics, scored["judge"].metrics
            rows[name] = dict(rm_reward=rm["reward"], rm_win=rm["win_rate"], judge_reward=judge["reward"],
                              judge_win=judge["win_rate"], kl=rm["kl"],
                              words=sum(len(a["after"].split()) for a in answers) / len(answers))

    print(f"\nbase {args.base}; {len(examples)} held-out HH prompts, {args.max_new_tokens} tokens at most, "
          f"temperature 1, one seed for every policy")
    print(f"{'policy':7s} {'RM reward':>10s} {'RM win':>7s} {'judge reward':>13s} {'judge win':>10s} "
          f"{'KL nats':>8s} {'words':>6s} {'wall s':>7s}")
    for name, row in rows.items():
        print(f"{name:7s} {row['rm_reward']:10.3f} {row['rm_win']:7.3f} {row['judge_reward']:13.3f} "
              f"{row['judge_win']:10.3f} {row['kl']:8.2f} {row['words']:6.1f} {times[name]:7.0f}")
    for name in trained:
        gap = rows[name]["rm_win"] - rows[name]["judge_win"]
        print(f"{name}: win rate under the reward model it followed minus under the judge: {gap:+.3f}")


if __name__ == "__main__":
    main()
