"""`webtext models list | show REF | promote REF ALIAS | export REF --out DIR`: the model registry.

REF is `NAME` (its latest version), `NAME:VERSION`, `NAME@ALIAS`, or a checkpoint id (or a unique
prefix of one) that a version was registered from. Fine-tuned models are versions too, of
`<register.name>-<task>`, each naming the version it was fine-tuned from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb

from webtext.components.errors import InputError
from webtext.components.home import Home
from webtext.warehouse import evaluate as evaluations
from webtext.warehouse import pretrain as checkpoints
from webtext.warehouse import registry as queries


def add_commands(commands: argparse._SubParsersAction) -> None:
    from webtext.flows.cli import add_config_options

    models = commands.add_parser("models", help="list, show, promote and export registered model versions")
    actions = models.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every registered version, its aliases and bits per byte")
    show = actions.add_parser("show", help="a version's lineage and scores (its files verified)")
    show.add_argument("ref", help="NAME, NAME:VERSION, NAME@ALIAS or a checkpoint id")
    promote = actions.add_parser("promote", help="point an alias at a version if it passes the alias's gates")
    promote.add_argument("ref", help="NAME:VERSION, NAME@ALIAS or a checkpoint id")
    promote.add_argument("alias", help="the alias, e.g. champion")
    promote.add_argument("--force", action="store_true", help="promote even past failed gates (logged)")
    add_config_options(promote)
    export = actions.add_parser(
        "export", help="write a directory transformers loads (AutoModelForCausalLM; a fine-tuned classifier "
                       "or a reward model: AutoModelForSequenceClassification)")
    export.add_argument("ref", help="NAME, NAME:VERSION, NAME@ALIAS or a checkpoint id")
    export.add_argument("--out", type=Path, required=True, help="the directory to write (absent or empty)")


def resolve_version(con: duckdb.DuckDBPyConnection, ref: str) -> dict:
    """The `model_versions` row a REF names; an InputError saying why when it names none."""
    if "@" in ref:
        name, alias = ref.split("@", 1)
        found = queries.holder(con, name, alias)
        if found is None:
            raise InputError(f"{ref!r}: no version of model {name!r} has alias {alias!r}")
        return found
    if ":" in ref:
        name, number = ref.split(":", 1)
        if not number.isdigit():
            raise InputError(f"{ref!r}: the version after ':' must be a number")
        found = queries.version(con, name, int(number))
        if found is None:
            raise InputError(f"{ref!r}: model {name!r} has no version {number}")
        return found
    found = queries.latest(con, ref)
    if found is not None:
        return found
    registered = [v for v in queries.versions(con) if v["checkpoint_id"].startswith(ref)] if ref else []
    if len(registered) == 1:
        return registered[0]
    if registered:
        names = ", ".join(f"{v['name']}:{v['version']}" for v in registered)
        raise InputError(f"{ref!r} is ambiguous: {names}")
    raise InputError(f"{ref!r} names no registered model version (`webtext models list` shows them)")


def _verified(con: duckdb.DuckDBPyConnection, home: Home, ref: str) -> tuple[dict, Path, dict]:
    from webtext.components.evaluate.registry import verify_version

    version = resolve_version(con, ref)
    directory = home.registry / version["path"]
    return version, directory, verify_version(directory, version["lineage_sha256"])


def resolve_weights(con: duckdb.DuckDBPyConnection, home: Home, ref: str) -> tuple[Path, str, Path]:
    """The weights directory, weights sha256 and tokenizer.json a REF names: a registered version's
    (verified), or a checkpoint's own run when REF is a checkpoint id that no version names."""
    from webtext.components.records import WEIGHTS
    from webtext.flows.tokenize import TOKENIZER_FILE
    from webtext.warehouse import tokenize as tokenizers

    if "@" in ref or ":" in ref or queries.latest(con, ref) is not None:
        _, directory, lineage = _verified(con, home, ref)
        return directory, lineage["files"][WEIGHTS], directory / TOKENIZER_FILE
    found = checkpoints.find_checkpoints(con, ref) if ref else []
    if len(found) != 1:
        raise InputError(f"{ref!r} " + ("names no model version or checkpoint" if not found else
                         "is ambiguous: " + ", ".join(r["checkpoint_id"] for r in found)))
    row = found[0]
    tokenizer = tokenizers.tokenizer_row(con, row["tokenizer_id"])
    return home.runs / row["path"], row["sha256"], home.tokenizers / tokenizer["path"] / TOKENIZER_FILE


def run(args: argparse.Namespace, home: Home) -> int:
    from webtext import warehouse

    if args.action == "promote":  # a write: it queues behind runs as the stages do
        from webtext.flows.exclusive import command_holds_warehouse

        with command_holds_warehouse(home) as con:
            return _promote(con, home, args)
    with warehouse.connect(home.warehouse) as con:
        if args.action == "list":
            return _list(con)
        if args.action == "show":
            return _show(con, home, args.ref)
        version, directory, lineage = _verified(con, home, args.ref)
    from webtext.components.evaluate.registry import export_transformers

    architecture = export_transformers(directory, args.out.resolve(), lineage)
    print(f"exported {version['name']}:{version['version']} as {architecture} to {args.out}")
    if "reward" in lineage:
        print(f"load it: transformers.AutoModelForSequenceClassification.from_pretrained({str(args.out)!r}): "
              f"one logit, the reward, read at the last token that is not padding; its tokenizer's chat "
              f"template frames a prompt and answer as training did")
    elif "task" in lineage:
        print(f"load it: transformers.pipeline('text-classification', model={str(args.out)!r}); its "
              f"tokenizer frames a text, or a pair as tokenizer(premise, hypothesis), as fine-tuning did")
    else:
        print(f"load it: transformers.AutoModelForCausalLM.from_pretrained({str(args.out)!r}); "
              f"evaluate it: lm_eval --model hf --model_args pretrained={args.out}")
    return 0


def _list(con: duckdb.DuckDBPyConnection) -> int:
    rows = queries.versions(con)
    if not rows:
        print("no registered model versions: `webtext run` registers one")
        return 0
    print(f"{'version':<32} {'aliases':<18} {'checkpoint':<18} {'texts bpb':>9}  {'fine-tuned from':<24} "
          f"created")
    for v in rows:
        bpb = {(s["task"], s["metric"]): s["value"] for s in evaluations.scores(con, v["checkpoint_id"])}.get(
            ("texts", "bpb"))
        parent = f"{v['parent_name']}:{v['parent_version']}" if v["parent_name"] else "-"
        print(f"{v['name'] + ':' + str(v['version']):<32} {','.join(v['aliases']) or '-':<18} "
              f"{v['checkpoint_id']:<18} {'-' if bpb is None else f'{bpb:.4f}':>9}  {parent:<24} "
              f"{v['created_at']:%Y-%m-%d %H:%M}")
    return 0


def _show(con: duckdb.DuckDBPyConnection, home: Home, ref: str) -> int:
    version, directory, lineage = _verified(con, home, ref)
    checkpoint = checkpoints.checkpoint_row(con, version["checkpoint_id"])
    shape = lineage["model"]
    aliases = ", ".join(version["aliases"]) or "none"
    registered = f"{version['created_at']:%Y-%m-%d %H:%M}"
    print(f"{version['name']}:{version['version']}  (aliases: {aliases}; registered {registered}; "
          "files verified)")
    print(f"  registry     {directory}")
    print(f"  checkpoint   {lineage['checkpoint_id']} ({checkpoint['kind'] if checkpoint else 'unknown'}, "
          f"step {lineage['step']})")
    if "parent" in lineage:
        parent = lineage["parent"]
        print(f"  fine-tuned   from {parent['name']}:{parent['version']} "
              f"(checkpoint {parent['checkpoint_id']})")
    pretrained = lineage.get("pretrain") or {}
    if pretrained.get("teacher_id"):
        distill = pretrained["distill"]
        print(f"  distilled    from {pretrained['teacher']} (checkpoint {pretrained['teacher_id']}), alpha "
              f"{distill['alpha']}, temperature {distill['temperature']}")
    training = lineage.get("training", {})
    if training.get("stage") == "align":
        settings = training["align"]
        if settings["reward"] == "classifier":
            judge = f"classifier {settings['classifier']} (label {settings['label']!r})"
        elif settings["reward"] == "model":
            judge = f"reward model {training['reward_id']}"
        else:
            judge = "the prompts' rule"
        how = f"against {judge}" if settings["method"] == "ppo" else f"on comparisons, judged by {judge}"
        print(f"  aligned      by {settings['method']} {how}, beta {settings['beta']}")
    if "task" in lineage:
        task = lineage["task"]
        outputs = "a score" if task["regression"] else ", ".join(map(str, task["labels"]))
        print(f"  task         {task['name']} ({task['type']}): reads {', '.join(map(str, task['fields']))}; "
              f"predicts {outputs}")
    if "chat" in lineage:
        print(f"  chat         answers in the {lineage['chat']['format']} chat format: `webtext chat "
              f"{version['name']}:{version['version']}`")
    if "reward" in lineage:
        print(f"  reward       scores an answer on its final token, normalised on "
              f"{lineage['reward']['normalised_on']}: `webtext reward {version['name']}:{version['version']} "
              f"--prompt ... --answer ...`")
    print(f"  snapshot     {lineage['snapshot_id']}")
    print(f"  tokenizer    {lineage['tokenizer_id']} (sha256 {lineage['tokenizer_sha256'][:16]}...)")
    print(f"  token set    {lineage['token_set_id']}")
    print(f"  model        {shape['n_layer']} layers x {shape['n_embd']}, {shape['n_head']} heads, context "
          f"{shape['block_size']}, vocab {shape['vocab_size']}, {'pre' if shape['pre_ln'] else 'post'}-LN")
    print(f"  code         {lineage['code_version']}")
    print("  scores (now in the warehouse):")
    for row in evaluations.scores(con, version["checkpoint_id"]):
        print(f"    {row['task']:<28} {row['metric']:<14} {row['value']:>10.4f}  n={row['n_examples']}")
    finetuned = evaluations.finetuned_scores(con, version["checkpoint_id"])
    if finetuned:
        print("  fine-tuned from it:")
        for row in finetuned:
            print(f"    {row['task']:<28} {row['metric']:<14} {row['value']:>10.4f}  "
                  f"n={row['n_examples']}  checkpoint {row['checkpoint_id']}")
    children = queries.children(con, version["name"], version["version"])
    if children:
        print("  fine-tuned versions: " + ", ".join(f"{v['name']}:{v['version']}" for v in children))
    history = queries.promotions(con, version["name"], version["version"])
    if history:
        print("  promotions:")
        for row in history:
            outcome = "granted" if row["accepted"] else "refused"
            print(f"    {row['created_at']:%Y-%m-%d %H:%M} {row['alias']}: {outcome}"
                  + (f" ({row['reason']})" if row["reason"] else ""))
    return 0


def _promote(con: duckdb.DuckDBPyConnection, home: Home, args: argparse.Namespace) -> int:
    from webtext.components.config import load_config
    from webtext.flows.register import promote

    config = load_config(args.config, args.overrides)
    version, _, _ = _verified(con, home, args.ref)
    failures = promote(con, config, version, args.alias, force=args.force)
    label = f"{version['name']}:{version['version']}"
    if failures:
        raise InputError(f"{label} not promoted to {args.alias}: " + "; ".join(failures))
    print(f"{label} is now {version['name']}@{args.alias}")
    return 0
