"""`webtext predict REF --input FILE [--out FILE]`: a fine-tuned model's predictions on new rows, one JSON
line per row (`components.finetune.predict`), to `--out` (written whole) or stdout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from webtext.components.home import Home


def add_command(commands: argparse._SubParsersAction) -> None:
    predict = commands.add_parser("predict", help="run a fine-tuned model on the rows of a file")
    predict.add_argument("ref", help="a fine-tuned model: NAME, NAME:VERSION, NAME@ALIAS, or a checkpoint id "
                                     "(or its prefix)")
    predict.add_argument("--input", type=Path, required=True,
                         help="a .jsonl, .csv or .tsv with the columns the model's task reads")
    predict.add_argument("--out", type=Path, default=None,
                         help="the JSON-lines file to write (default: stdout)")


def run(args: argparse.Namespace, home: Home) -> int:
    from webtext import warehouse
    from webtext.components.finetune.checkpoint import load_finetuned
    from webtext.components.finetune.predict import predict_file, predictions_text, write_predictions
    from webtext.flows.models import resolve_weights

    with warehouse.connect(home.warehouse) as con:
        directory, sha256, tokenizer = resolve_weights(con, home, args.ref)
    predictions = predict_file(load_finetuned(directory, sha256), tokenizer, args.input)
    if args.out is None:
        sys.stdout.write(predictions_text(predictions))
    else:
        write_predictions(predictions, args.out)
    return 0
