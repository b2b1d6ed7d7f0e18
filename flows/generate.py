"""`webtext generate REF --prompt TEXT [--prompt TEXT ...]`: sample text from a registered checkpoint,
until `--max-tokens` or the end of a document (`<|endoftext|>`). Several prompts run as one batch, left
padded, each continuation printed after its prompt, blank lines between."""

from __future__ import annotations

import argparse

from webtext.components.home import Home


def add_command(commands: argparse._SubParsersAction) -> None:
    generate = commands.add_parser("generate", help="sample text from a checkpoint")
    generate.add_argument("ref", help="NAME, NAME:VERSION, NAME@ALIAS, or a checkpoint id (or its prefix)")
    generate.add_argument("--prompt", dest="prompts", action="append", metavar="TEXT",
                          help="text to continue; may repeat, for one batch (default: a new document)")
    generate.add_argument("--max-tokens", type=int, default=64, help="tokens to sample (default 64)")
    generate.add_argument("--temperature", type=float, default=0.8, help="0 is greedy (default 0.8)")
    generate.add_argument("--top-k", type=int, default=50, help="sample among the k likeliest (default 50)")
    generate.add_argument("--seed", type=int, default=None, help="seed the sampler for a repeatable sample")


def run(args: argparse.Namespace, home: Home) -> int:
    import torch

    from webtext import warehouse
    from webtext.components.model.checkpoint import load_model
    from webtext.components.model.gpt import before_stop, left_pad
    from webtext.components.tokenize.bpe import END_OF_TEXT, encode_document, tiktoken_encoding
    from webtext.flows.models import resolve_weights

    with warehouse.connect(home.warehouse) as con:
        directory, sha256, tokenizer = resolve_weights(con, home, args.ref)
    model = load_model(directory, sha256)
    encoding = tiktoken_encoding(tokenizer)
    eot = encoding.encode_single_token(END_OF_TEXT)
    texts = args.prompts or [""]
    idx, pad = left_pad([encode_document(encoding, text).tolist() or [eot] for text in texts], eot)
    generator = torch.Generator().manual_seed(args.seed) if args.seed is not None else None
    out = model.generate(idx, args.max_tokens, temperature=args.temperature, top_k=args.top_k,
                         generator=generator, stop=eot, pad=pad)
    print("\n\n".join(text + encoding.decode(before_stop(row[idx.size(1):].tolist(), eot))
                       for text, row in zip(texts, out, strict=True)))
    return 0
