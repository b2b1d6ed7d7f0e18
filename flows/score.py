"""`webtext reward REF --prompt TEXT --answer TEXT [--answer TEXT ...]`: a reward model's score of each
answer to a prompt (`components.instruct.scoring`), one line per answer in the order given: the reward,
the answer as a JSON string (so an answer of several lines stays on one), and, among several answers,
`(best)` after the highest. Rewards are comparable between answers to the same prompt; 0 is the mean
reward of what the model was normalised on."""

from __future__ import annotations

import argparse
import json

from webtext.components.home import Home


def add_command(commands: argparse._SubParsersAction) -> None:
    reward = commands.add_parser("reward", help="score answers to a prompt with a reward model")
    reward.add_argument("ref", help="a reward model: NAME, NAME:VERSION, NAME@ALIAS, or a checkpoint id "
                                    "(or its prefix)")
    reward.add_argument("--prompt", required=True, metavar="TEXT", help="the user's question")
    reward.add_argument("--answer", dest="answers", action="append", required=True, metavar="TEXT",
                        help="an answer to score; may repeat, to compare answers")


def reward_lines(answers: list[str], rewards: list[float]) -> list[str]:
    """One line per answer: its reward, the answer, and `(best)` on the highest when there are several."""
    best = max(range(len(rewards)), key=rewards.__getitem__)
    return [f"{reward:+.4f}  {json.dumps(answer, ensure_ascii=False)}"
            + ("  (best)" if len(rewards) > 1 and i == best else "")
            for i, (answer, reward) in enumerate(zip(answers, rewards, strict=True))]


def run(args: argparse.Namespace, home: Home) -> int:
    from webtext import warehouse
    from webtext.components.instruct.chat import Encoder
    from webtext.components.instruct.checkpoint import load_reward
    from webtext.components.instruct.scoring import score_answers
    from webtext.flows.models import resolve_weights

    with warehouse.connect(home.warehouse) as con:
        directory, sha256, tokenizer = resolve_weights(con, home, args.ref)
    encode = Encoder(tokenizer)
    rewards = score_answers(load_reward(directory, sha256), encode, encode.eot, args.prompt, args.answers)
    print("\n".join(reward_lines(args.answers, rewards)))
    return 0
