"""The `evaluate` stage: the current pretrained checkpoint -> its scores in `evaluations`.

Scores: bits per byte on the token set's validation split (task `validation`) and on the fixed
`evaluate.texts` (each file `texts/<name>`, all together `texts`); every zero/few-shot task; and the
contamination of every evaluation set (these tasks and the fine-tuning tasks' validation splits) with
the checkpoint's training snapshot.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from webtext.components.config import EvalTaskConfig, WebtextConfig
from webtext.components.errors import InputError
from webtext.components.evaluate.report import Result, report, summary
from webtext.components.extract.snapshot import DATA_FILE
from webtext.components.files import expand_inputs, sha256_file
from webtext.components.home import Home
from webtext.components.records import Checkpoint, TokenSet
from webtext.flows.pretrain import STAGE as PRETRAIN
from webtext.flows.stage import Context, Plan, Stage
from webtext.flows.tokenize import STAGE as TOKENIZE
from webtext.warehouse import evaluate as queries
from webtext.warehouse import extract as snapshots


def slug(name: str) -> str:
    """A name as Prefect artifact keys allow: lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower())


def _input_hashes(config: WebtextConfig) -> dict[str, str]:
    """What the scores depend on besides the checkpoint and the config: the bytes of every file read,
    by what it is (`texts/<name>`, `<task>/<split>`), not where it lies."""
    files = {f"texts/{path.name}": path for path in
             (expand_inputs(config.evaluate.texts, "evaluate.texts") if config.evaluate.texts else [])}
    for source in [*config.evaluate.tasks, *config.finetune.tasks]:
        for split, path in source.files.items():
            resolved = Path(os.path.expandvars(path)).expanduser()
            if not resolved.is_file():
                raise InputError(f"task {source.name!r}, split {split!r}: {resolved}: no such file")
            files[f"{source.name}/{split}"] = resolved
    return {name: sha256_file(path) for name, path in files.items()}


class Evaluate(Stage):
    """Score the current pretrained checkpoint; record every score and a report.

    The run id hashes the checkpoint, the config and the bytes of every file read, so an unchanged
    rerun is up to date. Fine-tuned scores are the finetune stage's: this one only shows them.
    """

    name = "evaluate"
    version = 2  # K-shot prompts tokenized whole; acc_norm by the answer without its leading space
    areas = {"evaluate/ngrams": 1}

    def subject(self, config: WebtextConfig) -> str:
        return config.register.name

    def plan(self, ctx: Context) -> Plan:
        checkpoint: Checkpoint = PRETRAIN.current(ctx)
        config = ctx.config
        settings = config.evaluate.model_dump(mode="json")
        finetune_tasks = [t.model_dump(mode="json") for t in config.finetune.tasks]
        run_id = self.output_id(checkpoint.checkpoint_id, checkpoint.sha256, settings, finetune_tasks,
                                _input_hashes(config))
        if queries.evaluation_run(ctx.con, run_id) is None:
            return Plan(f"checkpoint {checkpoint.checkpoint_id} is not evaluated under this config",
                        work=(checkpoint, run_id))
        table = [(r["task"], r["metric"], r["value"], r["n_examples"])
                 for r in queries.scores(ctx.con, checkpoint.checkpoint_id)]
        return Plan(None, f"checkpoint {checkpoint.checkpoint_id}: {summary(table)}", output=checkpoint)

    def run(self, ctx: Context, plan: Plan) -> str:
        checkpoint, run_id = plan.work
        try:
            return _evaluate(ctx, checkpoint, run_id)
        finally:
            _model_and_encoding.cache_clear()  # a served process must not keep the model between runs


def _evaluate(ctx: Context, checkpoint: Checkpoint, run_id: str) -> str:
    config, home = ctx.config, ctx.home
    tokens: TokenSet = TOKENIZE.current(ctx)  # the one the checkpoint was trained on
    snapshot = snapshots.snapshot_row(ctx.con, checkpoint.snapshot_id)
    evaluated = dict(directory=checkpoint.directory, sha256=checkpoint.sha256,
                     tokenizer=tokens.tokenizer_path)
    results = bits_per_byte(evaluated, tokens.directory, tokens.splits["val"].tokens_per_byte, config)
    for eval_task in config.evaluate.tasks:
        results += zero_shot(evaluated, eval_task, config, home)
    results += contamination(home.snapshots / snapshot["path"] / DATA_FILE, checkpoint.snapshot_id, config,
                             home)
    generations = sample_generations(evaluated, config)
    finetuned = queries.finetuned_scores(ctx.con, checkpoint.checkpoint_id)
    markdown = report(config.register.name, checkpoint.checkpoint_id, results, finetuned, generations,
                      config.evaluate.contamination_ngram)
    queries.record_run(ctx.con, run_id=run_id, checkpoint_id=checkpoint.checkpoint_id,
                       config_json=config.evaluate.model_dump_json(), report=markdown, results=results)
    create_markdown_artifact(key=f"eval-{slug(config.register.name)}", markdown=markdown,
                             description=f"Evaluation of checkpoint {checkpoint.checkpoint_id}.")
    return f"checkpoint {checkpoint.checkpoint_id}: {summary(results)}"


@functools.lru_cache(maxsize=1)
def _model_and_encoding(directory: str, sha256: str, tokenizer: str, device: str):
    """Loaded (and its weights hashed) once for all of an evaluation's tasks, not once per task."""
    from webtext.components.model.checkpoint import load_model
    from webtext.components.tokenize.bpe import tiktoken_encoding

    return load_model(Path(directory), sha256).to(device), tiktoken_encoding(Path(tokenizer))


def _loaded(evaluated: dict, config: WebtextConfig):
    """The checkpoint's model on the configured device, its encoding, an encode function, the
    end-of-text id and the scorer's options."""
    from webtext.components.evaluate.scoring import resolve_device
    from webtext.components.tokenize.bpe import END_OF_TEXT, encode_document

    device = resolve_device(config.evaluate.device)
    model, encoding = _model_and_encoding(str(evaluated["directory"]), evaluated["sha256"],
                                          str(evaluated["tokenizer"]), device)
    options = dict(batch_size=config.evaluate.batch_size, device=device)
    return (model, encoding, lambda text: encode_document(encoding, text).tolist(),
            encoding.encode_single_token(END_OF_TEXT), options)


@task(task_run_name="bits-per-byte")
def bits_per_byte(evaluated: dict, token_dir: Path, tokens_per_byte: float, config: WebtextConfig
                  ) -> list[Result]:
    """bpb on the validation split, on each of `evaluate.texts`, and on all of them together."""
    from functools import reduce

    from webtext.components.evaluate.bpb import stream_bits, text_bits
    from webtext.components.tokenize.shards import read_split

    model, _, encode, eot, options = _loaded(evaluated, config)
    val = stream_bits(model, read_split(token_dir, "val"), tokens_per_byte, config.evaluate.val_tokens,
                      **options)
    results: list[Result] = [("validation", "bpb", val.bpb, val.n_tokens)]
    if config.evaluate.texts:
        files = expand_inputs(config.evaluate.texts, "evaluate.texts")
        bits = {path: text_bits(model, encode, eot, path, **options) for path in files}
        results += [(f"texts/{path.name}", "bpb", b.bpb, b.n_tokens) for path, b in bits.items()]
        total = reduce(lambda a, b: a + b, bits.values())
        results.append(("texts", "bpb", total.bpb, total.n_tokens))
    get_run_logger().info("bits per byte: %s", ", ".join(f"{t} {v:.4f}" for t, _, v, _ in results))
    return results


@task(task_run_name="task-{eval_task.name}")
def zero_shot(evaluated: dict, eval_task: EvalTaskConfig, config: WebtextConfig, home: Home) -> list[Result]:
    """One zero- or few-shot task's metrics."""
    from webtext.components.evaluate.tasks import evaluate_task, examples
    from webtext.components.task_files import load_split

    model, _, encode, _, options = _loaded(evaluated, config)
    cache = home.root / "cache"
    items = examples(eval_task, load_split(eval_task, eval_task.split, cache)[: eval_task.max_examples])
    pool = examples(eval_task, load_split(eval_task, eval_task.shots_split, cache)) if eval_task.shots else []
    result = evaluate_task(model, eval_task, items, pool, encode, seed=config.evaluate.seed, **options)
    get_run_logger().info("%s (%d-shot, %d examples): %s", eval_task.name, eval_task.shots, result.n_examples,
                          ", ".join(f"{m} {v:.4f}" for m, v in result.metrics.items()))
    return [(eval_task.name, metric, value, result.n_examples) for metric, value in result.metrics.items()]


@task(task_run_name="contamination-{snapshot_id}")
def contamination(data: Path, snapshot_id: str, config: WebtextConfig, home: Home) -> list[Result]:
    """The share of each evaluation set's examples sharing an n-gram with the training snapshot."""
    from webtext.components.evaluate.contamination import NgramIndex, evaluation_sets
    from webtext.components.evaluate.contamination import contamination as share
    from webtext.components.tokenize.texts import SnapshotTexts

    n = config.evaluate.contamination_ngram
    path = home.evaluate / "ngrams" / f"{snapshot_id}-{n}.npy"
    index = NgramIndex.cached(path, lambda: SnapshotTexts(data), n)
    sets = evaluation_sets(config.evaluate.tasks, config.finetune.tasks, home.root / "cache")
    results = []
    for name, texts in sets.items():
        value, count = share(index, texts)
        results.append((name, "contamination", value, count))
    get_run_logger().info("%d-gram contamination (%s distinct n-grams in the snapshot): %s", n,
                          f"{len(index.hashes):,}", ", ".join(f"{t} {v:.1%}" for t, _, v, _ in results))
    return results


@task(task_run_name="generations")
def sample_generations(evaluated: dict, config: WebtextConfig) -> dict[str, str]:
    """Each report prompt continued, seeded, so that the same checkpoint always shows the same text."""
    import torch

    from webtext.components.model.gpt import before_stop

    if not config.evaluate.sample_tokens:
        return {}
    model, encoding, encode, eot, options = _loaded(evaluated, config)
    out = {}
    for i, prompt in enumerate(config.evaluate.prompts):
        ids = [eot, *encode(prompt)]
        generator = torch.Generator(options["device"]).manual_seed(config.evaluate.seed + i)
        tokens = model.generate(torch.tensor([ids], device=options["device"]), config.evaluate.sample_tokens,
                                temperature=0.8, top_k=50, generator=generator, stop=eot)
        out[prompt] = prompt + encoding.decode(before_stop(tokens[0, len(ids):].tolist(), eot))
    return out


STAGE = Evaluate()
evaluate = STAGE.flow
