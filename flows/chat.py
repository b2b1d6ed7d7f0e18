"""`webtext chat REF [--prompt TEXT] [--system TEXT] [--max-tokens N] [--temperature T] [--top-p P]
[--seed S]`: talk to a model the sft stage trained on conversations (`components.instruct.converse`).

With `--prompt`, one answer to that one question is printed and the command ends. Without, it is a
conversation read from stdin, one user turn a line: the `you> ` prompt goes to stderr and each answer
to stdout, so a piped conversation's output is the answers alone. An empty line, `/exit` or the end of
input ends it; `/reset` starts the conversation over (keeping `--system`).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, TextIO

from webtext.components.home import Home

if TYPE_CHECKING:
    from webtext.components.instruct.converse import Chat

EXIT, RESET = "/exit", "/reset"


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return number


def non_negative(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"{value} is not 0 or more")
    return number


def probability_mass(value: str) -> float:
    number = float(value)
    if not 0 < number <= 1:
        raise argparse.ArgumentTypeError(f"{value} is not in (0, 1]")
    return number


def add_command(commands: argparse._SubParsersAction) -> None:
    chat = commands.add_parser("chat", help="talk to a model fine-tuned on conversations (the sft stage's)")
    chat.add_argument("ref", help="NAME, NAME:VERSION, NAME@ALIAS, or a checkpoint id (or its prefix)")
    chat.add_argument("--prompt", metavar="TEXT", default=None,
                      help="ask this once, print the answer and end (default: a conversation on stdin)")
    chat.add_argument("--system", metavar="TEXT", default=None,
                      help="a system turn that opens the conversation, e.g. how to answer")
    chat.add_argument("--max-tokens", type=positive_int, default=128, metavar="N",
                      help="the most tokens an answer may take (default 128)")
    chat.add_argument("--temperature", type=non_negative, default=0.7, metavar="T",
                      help="0 is greedy (default 0.7)")
    chat.add_argument("--top-p", type=probability_mass, default=0.9, metavar="P",
                      help="sample among the likeliest tokens that hold this probability (default 0.9; "
                           "1 keeps all)")
    chat.add_argument("--seed", type=int, default=None, metavar="S",
                      help="seed the sampler for repeatable answers")


def talk(chat: Chat, lines: TextIO, answers: TextIO, prompts: TextIO) -> None:
    """The conversation loop: a user turn per line of `lines`, each answer a line of `answers`, the
    `you> ` prompt and notices on `prompts`."""
    while True:
        prompts.write("you> ")
        prompts.flush()
        line = lines.readline()
        if not line:
            prompts.write("\n")
            return
        text = line.rstrip("\r\n")
        if text.strip() in ("", EXIT):
            return
        if text.strip() == RESET:
            chat.reset()
            prompts.write("(a new conversation)\n")
            continue
        answers.write(chat.reply(text) + "\n")
        answers.flush()


def run(args: argparse.Namespace, home: Home) -> int:
    from webtext import warehouse
    from webtext.components.instruct.checkpoint import chat_format
    from webtext.components.instruct.converse import Chat, Sampling
    from webtext.components.model.checkpoint import load_model, verified_config
    from webtext.components.tokenize.bpe import tiktoken_encoding
    from webtext.flows.models import resolve_weights

    with warehouse.connect(home.warehouse) as con:
        directory, sha256, tokenizer = resolve_weights(con, home, args.ref)
    _, sections = verified_config(directory, sha256)
    chat_format(sections, directory)  # a pretrained model is refused here, pointing at the sft stage
    sampling = Sampling(max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p)
    chat = Chat(load_model(directory, sha256), tiktoken_encoding(tokenizer), system=args.system,
                sampling=sampling, seed=args.seed)
    if args.prompt is not None:
        print(chat.reply(args.prompt))
        return 0
    print(f"chatting with {args.ref}: a line is your turn; an empty line, {EXIT} or end of input ends, "
          f"{RESET} starts over", file=sys.stderr)
    talk(chat, sys.stdin, sys.stdout, sys.stderr)
    return 0
