"""The `evaluate` stage: the current pretrained checkpoint -> its scores in `evaluations`.

Scores: bits per byte on the token set's validation split (task `validation`) and on the fixed
`evaluate.texts` (each file `texts/<name>`, all together `texts`); every zero/few-shot task; and the
contamination of every evaluation set (these tasks and the fine-tuning tasks' validation splits) with
the checkpoint's training snapshot.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from webtext.components.config import EvalTaskConfig, WebtextConfig
from webtext.components.errors import StageError
from webtext.components.evaluate.contamination import NgramIndex
from webtext.components.evaluate.report import CHANCE, report, summary
from webtext.components.extract.snapshot import DATA_FILE
from webtext.components.files import expand_inputs, sha256_file, stable_hash
from webtext.components.home import Home
from webtext.components.records import Checkpoint, Result, TokenSet
from webtext.flows.pretrain import STAGE as PRETRAIN
from webtext.flows.stage import Context, Plan, Stage
from webtext.flows.tokenize import STAGE as TOKENIZE
from webtext.warehouse import evaluate as queries
from webtext.warehouse import extract as snapshots
from webtext.warehouse import registry


def slug(name: str) -> str:
    """A name as Prefect artifact keys allow: lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower())


class Evaluate(Stage):
    """Score the current pretrained checkpoint; record every score and a report.

    The run id hashes the checkpoint, the config and the bytes of every file read, so an unchanged
    rerun is up to date. Fine-tuned scores are the finetune stage's: this one only shows them.
    """

    name = "evaluate"
    version = 3  # scores say what they were measured on; chance, clean subsets, texts' contamination
    areas = {"evaluate/ngrams": 1}

    def subject(self, config: WebtextConfig) -> str:
        return config.register.name

    def plan(self, ctx: Context) -> Plan:
        checkpoint: Checkpoint = PRETRAIN.current(ctx)
        config = ctx.config
        settings = config.evaluate.model_dump(mode="json")
        finetune_tasks = [t.model_dump(mode="json") for t in config.finetune.tasks]
        run_id = self.output_id(checkpoint.checkpoint_id, checkpoint.sha256, settings, finetune_tasks,
                                measured_on(config, checkpoint.token_set_id))
        if queries.evaluation_run(ctx.con, run_id) is None:
            return Plan(f"checkpoint {checkpoint.checkpoint_id} is not evaluated under this config",
                        work=(checkpoint, run_id))
        scores = [Result(**r) for r in queries.scores(ctx.con, checkpoint.checkpoint_id)]
        return Plan(None, f"checkpoint {checkpoint.checkpoint_id}: {summary(scores, *_champion(ctx))}",
                    output=checkpoint)

    def run(self, ctx: Context, plan: Plan) -> str:
        checkpoint, run_id = plan.work
        try:
            return _evaluate(ctx, checkpoint, run_id)
        finally:
            _model_and_encoding.cache_clear()  # a served process must not keep the model between runs
            _ngram_index.cache_clear()


def _evaluate(ctx: Context, checkpoint: Checkpoint, run_id: str) -> str:
    config, home = ctx.config, ctx.home
    tokens: TokenSet = TOKENIZE.current(ctx)  # the one the checkpoint was trained on
    snapshot = snapshots.snapshot_row(ctx.con, checkpoint.snapshot_id)
    evaluated = dict(directory=checkpoint.directory, sha256=checkpoint.sha256,
                     tokenizer=tokens.tokenizer_path)
    data = measured_on(config, tokens.token_set_id)
    overlap = ngram_index(home.snapshots / snapshot["path"] / DATA_FILE, checkpoint.snapshot_id, config, home)
    results = bits_per_byte(evaluated, tokens, config, data)
    for eval_task in config.evaluate.scored_tasks():
        results += zero_shot(evaluated, eval_task, config, home, data[eval_task.name], overlap)
    results += contamination(overlap, config, home, data)
    along = {}
    for step, (directory, sha256) in kept_weights(checkpoint).items():  # what `evaluate.every_steps` kept
        weights = dict(evaluated, directory=directory, sha256=sha256)
        along[step] = bits_per_byte(weights, tokens, config, data)
        for eval_task in config.evaluate.scored_tasks():
            along[step] += zero_shot(weights, eval_task, config, home, data[eval_task.name], overlap)
    generations = sample_generations(evaluated, config)
    finetuned = queries.finetuned_scores(ctx.con, checkpoint.checkpoint_id)
    champion = _champion(ctx)
    markdown = report(config.register.name, checkpoint.checkpoint_id, results, finetuned, generations,
                      config.evaluate.contamination_ngram, *champion)
    queries.record_run(ctx.con, run_id=run_id, checkpoint_id=checkpoint.checkpoint_id,
                       config_json=config.evaluate.model_dump_json(), report=markdown, results=results,
                       along=along)
    create_markdown_artifact(key=f"eval-{slug(config.register.name)}", markdown=markdown,
                             description=f"Evaluation of checkpoint {checkpoint.checkpoint_id}.")
    steps = f"; also at step {', '.join(map(str, along))}" if along else ""
    return f"checkpoint {checkpoint.checkpoint_id}: {summary(results, *champion)}{steps}"


def kept_weights(checkpoint: Checkpoint) -> dict[int, tuple[Path, str]]:
    """The weights its pretraining run kept along the way (`evaluate.every_steps`), verified: step ->
    their directory and sha256."""
    from webtext.components.records import weights_verify
    from webtext.components.train.job import KEPT_DIR, step_name

    found = {}
    for step, sha256 in sorted(checkpoint.config.get("kept_weights", {}).items(), key=lambda kv: int(kv[0])):
        directory = checkpoint.directory / KEPT_DIR / step_name(int(step))
        if not weights_verify(directory, sha256):
            raise StageError(f"checkpoint {checkpoint.checkpoint_id}: the weights kept at step {step} "
                             f"({directory}) do not match the sha256 its run recorded")
        found[int(step)] = (directory, sha256)
    return found


def _champion(ctx: Context) -> tuple[dict[tuple[str, str], Result], str | None]:
    """The scores of the version holding `register.alias` now, and its name, to show beside these."""
    name, alias = ctx.config.register.name, ctx.config.register.alias
    holder = registry.holder(ctx.con, name, alias)
    if holder is None:
        return {}, None
    return queries.scores_by_key(ctx.con, holder["checkpoint_id"]), f"{name}:{holder['version']}"


def measured_on(config: WebtextConfig, token_set_id: str) -> dict[str, str]:
    """What each evaluation set's scores are measured on (`Result.data_sha256`), by the name they
    carry: the validation split of the token set, each text file and all of them, each task's files and
    settings. The stage's version is in every one: scores computed another way are not comparable."""
    from webtext.components.task_files import data_sha256
    from webtext.flows.finetune import task_data

    version = STAGE.version
    texts = {path.name: sha256_file(path) for path in _texts(config)}
    data = {"validation": stable_hash(["validation", token_set_id, config.evaluate.val_tokens, version])}
    data |= {f"texts/{name}": stable_hash(["text", sha, version]) for name, sha in texts.items()}
    if texts:
        data["texts"] = stable_hash(["texts", sorted(texts.values()), version])
    for eval_task in config.evaluate.scored_tasks():
        splits = [eval_task.split, *([eval_task.shots_split] if eval_task.shots else [])]
        data[eval_task.name] = data_sha256(eval_task, splits, version=version,
                                           seed=config.evaluate.seed if eval_task.shots else None)
    data |= {tuned.name: task_data(tuned) for tuned in config.finetune.tasks}
    return data


def _texts(config: WebtextConfig) -> list[Path]:
    return expand_inputs(config.evaluate.texts, "evaluate.texts") if config.evaluate.texts else []


@dataclass(frozen=True)
class Overlap:
    """The training snapshot's n-gram index, saved at `path`, and what it was built from: what a set's
    contamination and its clean subset depend on besides the set. Tasks get this, not the index, so
    that Prefect never hashes the index as a task input."""

    path: Path
    snapshot_id: str
    n: int

    @property
    def index(self) -> NgramIndex:
        return _ngram_index(str(self.path), self.n)

    def data(self, measured: str) -> str:
        """What a clean-subset or contamination score of a set measured on `measured` is measured on."""
        return stable_hash([measured, self.snapshot_id, self.n])


@functools.lru_cache(maxsize=1)
def _ngram_index(path: str, n: int) -> NgramIndex:
    return NgramIndex.load(Path(path), n)


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
def bits_per_byte(evaluated: dict, tokens: TokenSet, config: WebtextConfig, data: dict[str, str]
                  ) -> list[Result]:
    """bpb on the validation split, on each of `evaluate.texts`, and on all of them together."""
    from functools import reduce

    from webtext.components.evaluate.bpb import stream_bits, text_bits
    from webtext.components.tokenize.shards import read_split

    model, _, encode, eot, options = _loaded(evaluated, config)
    val = stream_bits(model, read_split(tokens.directory, "val"), tokens.splits["val"].tokens_per_byte,
                      config.evaluate.val_tokens, **options)
    results = [Result("validation", "bpb", val.bpb, val.n_tokens, data["validation"])]
    files = _texts(config)
    if files:
        bits = {path: text_bits(model, encode, eot, path, **options) for path in files}
        results += [Result(f"texts/{path.name}", "bpb", b.bpb, b.n_tokens, data[f"texts/{path.name}"])
                    for path, b in bits.items()]
        total = reduce(lambda a, b: a + b, bits.values())
        results.append(Result("texts", "bpb", total.bpb, total.n_tokens, data["texts"]))
    get_run_logger().info("bits per byte: %s", ", ".join(f"{r.task} {r.value:.4f}" for r in results))
    return results


@task(task_run_name="ngram-index-{snapshot_id}")
def ngram_index(data: Path, snapshot_id: str, config: WebtextConfig, home: Home) -> Overlap:
    """The training snapshot's n-grams, built once per snapshot and n and kept under the home."""
    from webtext.components.tokenize.texts import SnapshotTexts

    n = config.evaluate.contamination_ngram
    path = home.evaluate / "ngrams" / f"{snapshot_id}-{n}.npy"
    index = NgramIndex.cached(path, lambda: SnapshotTexts(data), n)
    get_run_logger().info("%d-grams of snapshot %s: %s distinct", n, snapshot_id, f"{len(index.hashes):,}")
    return Overlap(path, snapshot_id, n)


@task(task_run_name="task-{eval_task.name}")
def zero_shot(evaluated: dict, eval_task: EvalTaskConfig, config: WebtextConfig, home: Home, data: str,
              overlap: Overlap) -> list[Result]:
    """One zero- or few-shot task's metrics on all its examples, and on those sharing no n-gram with
    the training snapshot (`<task>/clean`, as GPT-2 and GPT-3 report beside the full scores)."""
    from webtext.components.evaluate.tasks import evaluate_task, examples
    from webtext.components.task_files import load_split

    model, _, encode, _, options = _loaded(evaluated, config)
    cache = home.root / "cache"
    items = examples(eval_task, load_split(eval_task, eval_task.split, cache)[: eval_task.max_examples])
    pool = examples(eval_task, load_split(eval_task, eval_task.shots_split, cache)) if eval_task.shots else []
    result = evaluate_task(model, eval_task, items, pool, encode, seed=config.evaluate.seed, **options)
    clean = result.subset([not overlap.index.overlaps(item.text) for item in items])
    get_run_logger().info("%s (%d-shot, %d examples, %d clean): %s", eval_task.name, eval_task.shots,
                          result.n_examples, clean.n_examples if clean else 0,
                          ", ".join(f"{m} {v:.4f}" for m, v in result.metrics.items()))
    rows = [Result(eval_task.name, metric, value, result.n_examples, data)
            for metric, value in {**result.metrics, CHANCE: result.chance}.items()]
    if clean is not None:
        rows += [Result(f"{eval_task.name}/clean", metric, value, clean.n_examples, overlap.data(data))
                 for metric, value in clean.metrics.items()]
    return rows


@task(task_run_name="contamination")
def contamination(overlap: Overlap, config: WebtextConfig, home: Home, data: dict[str, str]) -> list[Result]:
    """The share of each evaluation set's examples sharing an n-gram with the training snapshot."""
    from webtext.components.evaluate.contamination import contamination as share
    from webtext.components.evaluate.contamination import evaluation_sets

    sets = evaluation_sets(config.evaluate.scored_tasks(), config.finetune.tasks, _texts(config),
                           home.root / "cache")
    results = []
    for name, texts in sets.items():
        value, count = share(overlap.index, texts)
        results.append(Result(name, "contamination", value, count, overlap.data(data[name])))
    get_run_logger().info("%d-gram contamination: %s", config.evaluate.contamination_ngram,
                          ", ".join(f"{r.task} {r.value:.1%}" for r in results))
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
