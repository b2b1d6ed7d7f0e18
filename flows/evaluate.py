"""The `evaluate` flow: the current pretrained checkpoint -> its scores in `evaluations`.

Scores: bits per byte on the token set's validation split (task `validation`) and on the fixed
`evaluate.texts` (each file `texts/<name>`, all together `texts`); every zero/few-shot task; and the
contamination of every evaluation set (these tasks and the fine-tuning tasks' validation splits) with
the checkpoint's training snapshot. Fine-tuned scores are the finetune stage's; this one only shows
them. The run id hashes the checkpoint, the config and the bytes of every file read, so an unchanged
rerun says up to date.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import duckdb
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

import warehouse
from components.config import EvalTaskConfig, WebtextConfig
from components.errors import InputError
from components.extract.snapshot import DATA_FILE
from components.files import expand_inputs, sha256_file, stable_hash
from components.home import Home
from flows.exclusive import holds_warehouse
from flows.pretrain import current_checkpoint
from flows.results import StageResult, run_name
from flows.tokenize import current_token_set
from warehouse import evaluate as queries
from warehouse import extract as snapshots

EVALUATE_VERSION = 1  # bump when the same checkpoint and config would now score differently
Result = tuple[str, str, float, int]  # task, metric, value, n_examples


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


def current_evaluation(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home
                       ) -> tuple[dict, str, dict | None]:
    """The current checkpoint, the id of its evaluation under the current config, and that run's row
    (None until it has run)."""
    checkpoint = current_checkpoint(con, config, home)
    run_id = stable_hash([checkpoint["checkpoint_id"], checkpoint["sha256"],
                          config.evaluate.model_dump(mode="json"),
                          [t.model_dump(mode="json") for t in config.finetune.tasks],
                          _input_hashes(config), EVALUATE_VERSION])[:16]
    return checkpoint, run_id, queries.evaluation_run(con, run_id)


def plan(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home) -> str | None:
    """Why the stage would run now, or None when it is up to date."""
    checkpoint, _, done = current_evaluation(con, config, home)
    return None if done else f"checkpoint {checkpoint['checkpoint_id']} is not evaluated under this config"


@flow(name="evaluate", flow_run_name=run_name("evaluate"))
@holds_warehouse
def evaluate(config: WebtextConfig) -> StageResult:
    """Score the current pretrained checkpoint; record every score and a report."""
    home = Home.from_env()
    try:
        with warehouse.connect(home.warehouse) as con:
            return _evaluate(con, config, home)
    finally:
        _model_and_encoding.cache_clear()  # a served process must not keep the model between runs


def _summary(results: list[Result]) -> str:
    shown = [(t, m, v) for t, m, v, _ in results if m in ("bpb", "acc") and not t.startswith("texts/")]
    return ", ".join(f"{t} {m} {v:.3f}" for t, m, v in shown)


def _evaluate(con: duckdb.DuckDBPyConnection, config: WebtextConfig, home: Home) -> StageResult:
    checkpoint, run_id, done = current_evaluation(con, config, home)
    checkpoint_id = checkpoint["checkpoint_id"]
    if done is not None:
        table = [(r["task"], r["metric"], r["value"], r["n_examples"])
                 for r in queries.scores(con, checkpoint_id)]
        return StageResult(stage="evaluate", up_to_date=True,
                           summary=f"evaluate: up to date (checkpoint {checkpoint_id}: {_summary(table)})")
    tokens = current_token_set(con, config, home)  # the one the checkpoint was trained on
    snapshot = snapshots.snapshot_row(con, checkpoint["snapshot_id"])
    evaluated = dict(directory=checkpoint["directory"], sha256=checkpoint["sha256"],
                     tokenizer=tokens["tokenizer_path"])
    val = tokens["splits"]["val"]
    results = bits_per_byte(evaluated, tokens["directory"], val["n_tokens"] / max(val["n_bytes"], 1), config)
    for eval_task in config.evaluate.tasks:
        results += zero_shot(evaluated, eval_task, config, home)
    results += contamination(home.snapshots / snapshot["path"] / DATA_FILE, checkpoint["snapshot_id"],
                             config, home)
    generations = sample_generations(evaluated, config)
    finetuned = queries.finetuned_scores(con, checkpoint_id)
    report = _report(config.register.name, checkpoint_id, results, finetuned, generations,
                     config.evaluate.contamination_ngram)
    queries.record_run(con, run_id=run_id, checkpoint_id=checkpoint_id,
                       config_json=config.evaluate.model_dump_json(), report=report, results=results)
    create_markdown_artifact(key=f"eval-{slug(config.register.name)}", markdown=report,
                             description=f"Evaluation of checkpoint {checkpoint_id}.")
    return StageResult(stage="evaluate", up_to_date=False,
                       summary=f"evaluate: checkpoint {checkpoint_id}: {_summary(results)}")


@functools.lru_cache(maxsize=1)
def _model_and_encoding(directory: str, sha256: str, tokenizer: str, device: str):
    """Loaded (and its weights hashed) once for all of an evaluation's tasks, not once per task."""
    from components.model.checkpoint import load_model
    from components.tokenize.bpe import tiktoken_encoding

    return load_model(Path(directory), sha256).to(device), tiktoken_encoding(Path(tokenizer))


def _loaded(evaluated: dict, config: WebtextConfig):
    """The checkpoint's model on the configured device, its encoding, an encode function, the
    end-of-text id and the scorer's options."""
    from components.evaluate.scoring import resolve_device
    from components.tokenize.bpe import END_OF_TEXT, encode_document

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

    from components.evaluate.bpb import stream_bits, text_bits
    from components.tokenize.shards import read_split

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
    from components.evaluate.tasks import evaluate_task, examples
    from components.task_files import load_split

    model, _, encode, _, options = _loaded(evaluated, config)
    cache = home.root / "cache"
    items = examples(eval_task, load_split(eval_task, eval_task.split, cache)[: eval_task.max_examples])
    pool = examples(eval_task, load_split(eval_task, eval_task.shots_split, cache)) if eval_task.shots else []
    result = evaluate_task(model, eval_task, items, pool, encode, seed=config.evaluate.seed, **options)
    get_run_logger().info("%s (%d-shot, %d examples): %s", eval_task.name, eval_task.shots, result.n_examples,
                          ", ".join(f"{m} {v:.4f}" for m, v in result.metrics.items()))
    return [(eval_task.name, metric, value, result.n_examples) for metric, value in result.metrics.items()]


def _finetune_texts(config: WebtextConfig, home: Home) -> dict[str, list[str]]:
    from components.task_files import load_split

    out = {}
    for ft in config.finetune.tasks:
        rows = load_split(ft, ft.validation_split, home.root / "cache")[: ft.max_validation_examples]
        columns = [c for f in ft.fields for c in (f if isinstance(f, list) else [f])]
        out[ft.name] = [" ".join(str(row.get(c, "")) for c in columns) for row in rows]
    return out


@task(task_run_name="contamination-{snapshot_id}")
def contamination(data: Path, snapshot_id: str, config: WebtextConfig, home: Home) -> list[Result]:
    """The share of each evaluation set's examples sharing an n-gram with the training snapshot."""
    from components.evaluate.contamination import NgramIndex
    from components.evaluate.contamination import contamination as share
    from components.evaluate.tasks import examples
    from components.task_files import load_split
    from components.tokenize.texts import SnapshotTexts

    n = config.evaluate.contamination_ngram
    path = home.evaluate / "ngrams" / f"{snapshot_id}-{n}.npy"
    if path.is_file():
        index = NgramIndex.load(path, n)
    else:
        index = NgramIndex.build(SnapshotTexts(data), n)
        index.save(path)
    cache = home.root / "cache"
    sets = {t.name: [e.text for e in examples(t, load_split(t, t.split, cache)[: t.max_examples])]
            for t in config.evaluate.tasks}
    sets.update(_finetune_texts(config, home))
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

    if not config.evaluate.sample_tokens:
        return {}
    model, encoding, encode, eot, options = _loaded(evaluated, config)
    out = {}
    for i, prompt in enumerate(config.evaluate.prompts):
        ids = [eot, *encode(prompt)]
        generator = torch.Generator(options["device"]).manual_seed(config.evaluate.seed + i)
        tokens = model.generate(torch.tensor([ids], device=options["device"]), config.evaluate.sample_tokens,
                                temperature=0.8, top_k=50, generator=generator)
        out[prompt] = prompt + encoding.decode(tokens[0, len(ids):].tolist())
    return out


def _report(name: str, checkpoint_id: str, results: list[Result], finetuned: list[dict],
            generations: dict[str, str], ngram: int) -> str:
    scores = [r for r in results if r[1] != "contamination"]
    leaks = {t: (v, n) for t, m, v, n in results if m == "contamination"}
    lines = [f"# {name}: checkpoint `{checkpoint_id}`", "", "## Scores", "", "| task | metric | value | n |",
             "|---|---|---|---|"]
    lines += [f"| {t} | {m} | {v:.4f} | {n} |" for t, m, v, n in scores]
    lines += ["", "bpb: bits per byte (n counts tokens); ppl: perplexity of the target word.", ""]
    if finetuned:
        lines += ["## Fine-tuned (from the finetune stage)", "", "| task | metric | value | n | checkpoint |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['task']} | {r['metric']} | {r['value']:.4f} | {r['n_examples']} | "
                  f"`{r['checkpoint_id']}` |" for r in finetuned]
        lines.append("")
    lines += [f"## Contamination ({ngram}-grams of words shared with the training snapshot)", "",
              "| task | examples with an overlap | n |", "|---|---|---|"]
    lines += [f"| {t} | {v:.1%} | {n} |" for t, (v, n) in leaks.items()]
    if generations:
        lines += ["", "## Sample generations", ""]
        lines += [f"> {text.strip()}".replace("\n", "\n> ") + "\n" for text in generations.values()]
    return "\n".join(lines) + "\n"

