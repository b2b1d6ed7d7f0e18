"""Our zero- and few-shot scores are lm-evaluation-harness's: one small trained GPT, exported with the
registry's code, scored by `lm_eval.simple_evaluate` (its `hf` model on the export, task YAMLs over
local files) and by `evaluate_task` (our model and tokenizer) on the same examples with the same seed.
Prompts are compared text for text, so the K-shot draws are checked too, then every metric both have."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_model

from webtext.components.config import EvalTaskConfig
from webtext.components.evaluate.registry import export_transformers, verify_version, write_version
from webtext.components.evaluate.tasks import evaluate_task, examples
from webtext.components.model.checkpoint import load_model
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.task_files import load_split
from webtext.components.tokenize.bpe import END_OF_TEXT, encode_document, tiktoken_encoding, train

lm_eval = pytest.importorskip("lm_eval")  # a dev dependency; missing only outside `make test`

pytestmark = pytest.mark.slow

SEED = 1234  # lm-evaluation-harness's default `fewshot_random_seed`
K = 2
NAMES = ["Anna", "Ben", "Carl", "Dora", "Emma", "Finn", "Gina", "Hugo", "Ida", "Jack"]
PETS = ["cat", "dog", "pony", "parrot", "rabbit", "goat", "hamster", "tortoise", "guinea pig"]
PLACES = ["garden", "kitchen", "park", "barn", "market", "meadow"]
PET_OF = {name: PETS[i % len(PETS)] for i, name in enumerate(NAMES)}
CHOICE_COLUMNS = {"fields": ["context", "a", "b", "c"], "label": "label"}  # as `choice_row` writes them


def passage(rng: random.Random) -> str:
    """A sentence pair whose last word is told by the text itself, by a name's pet (to be learnt),
    or by nothing (a place): a model that learns some of it gets some right, not all."""
    name, place = rng.choice(NAMES), rng.choice(PLACES)
    pet = PET_OF[name]
    return rng.choice([f"{name} has a {pet}. In the {place}, {name} feeds the {pet}",
                       f"In the {place}, {name} sings to the {pet}",
                       f"{name} has a {pet}. Today {name} walks to the {place}"])


def choice_row(rng: random.Random) -> dict:
    """Which pet a name has, among three of different lengths (so acc and acc_norm can part)."""
    name = rng.choice(NAMES)
    answers = [PET_OF[name], *rng.sample([p for p in PETS if p != PET_OF[name]], 2)]
    rng.shuffle(answers)
    return {"context": f"In the {rng.choice(PLACES)}, {name} feeds the", "a": answers[0], "b": answers[1],
            "c": answers[2], "label": answers.index(PET_OF[name])}


def metric_list(*names: str) -> list[dict]:
    """An lm-evaluation-harness `metric_list`: perplexity aggregated as exp(-mean log-likelihood),
    the others as means."""
    return [{"metric": name, "aggregation": "perplexity" if name == "perplexity" else "mean",
             "higher_is_better": name != "perplexity"} for name in names]


@dataclass(frozen=True)
class Task:
    """One task scored both ways: its lm-evaluation-harness YAML and our EvalTaskConfig."""

    name: str
    type: str
    shots: int
    shots_split: str

    def ours(self, files: dict[str, str]) -> EvalTaskConfig:
        columns = CHOICE_COLUMNS if self.type == "multiple_choice" else {}
        return EvalTaskConfig(name=self.name, type=self.type, files=files, split="test", shots=self.shots,
                              shots_split=self.shots_split, **columns)

    def theirs(self, files: dict[str, str], cache: Path) -> dict:
        config = {"task": self.name, "dataset_path": "json",
                  "dataset_kwargs": {"data_files": files, "cache_dir": str(cache)},
                  "test_split": "test", "num_fewshot": self.shots, "fewshot_delimiter": "\n\n",
                  "target_delimiter": " "}
        if self.shots:
            config |= {"fewshot_split": self.shots_split, "fewshot_config": {"sampler": "default"}}
        if self.type == "multiple_choice":
            return config | {"output_type": "multiple_choice", "doc_to_text": "context",
                             "doc_to_choice": "{{[a, b, c]}}", "doc_to_target": "label",
                             "metric_list": metric_list("acc", "acc_norm")}
        if self.shots:
            # lambada_openai's target starts with its space and a shot is written context, target
            # delimiter, target: with the delimiter " " its shots read "context  word", ours
            # "context word". Without it the shots agree; the scored target is the same either way.
            config["fewshot_config"]["target_delimiter"] = ""
        return config | {"output_type": "loglikelihood",  # the rest as lambada_openai
                         "doc_to_text": "{{text.split(' ')[:-1]|join(' ')}}",
                         "doc_to_target": "{{' '+text.split(' ')[-1]}}",
                         "metric_list": metric_list("perplexity", "acc")}


# The K-shot last-word task draws its shots from the split it scores (lm-evaluation-harness then
# draws K + 1 and drops the example), the K-shot choice task from another (it draws K).
TASKS = [Task("parity_last_word", "last_word", 0, "train"),
         Task("parity_last_word_kshot", "last_word", K, "test"),
         Task("parity_choice", "multiple_choice", 0, "train"),
         Task("parity_choice_kshot", "multiple_choice", K, "train")]
# lm-evaluation-harness's name for each metric of ours; acc_token (GPT-3's per-token) it has not.
THEIR_NAME = {"acc": "acc,none", "ppl": "perplexity,none", "acc_norm": "acc_norm,none"}


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, dict[str, str]]:
    """Each task's split name -> jsonl file: 24 examples scored, 16 in the other split."""
    directory, rng = tmp_path_factory.mktemp("data"), random.Random(7)
    files = {}
    makers = {"last_word": lambda: {"text": passage(rng)}, "multiple_choice": lambda: choice_row(rng)}
    for kind, make in makers.items():
        files[kind] = {split: write_jsonl(directory / f"{kind}-{split}.jsonl", [make() for _ in range(n)])
                       for split, n in (("test", 24), ("train", 16))}
    return files


def trained_gpt(tokenizer: Path) -> GPT:
    """A 2 x 64 GPT after 150 Adam steps on passages of the same world: outputs far from uniform."""
    encoding = tiktoken_encoding(tokenizer)
    eot = encoding.encode_single_token(END_OF_TEXT)
    rng = random.Random(0)
    texts = (encode_document(encoding, passage(rng)).tolist() + [eot] for _ in range(600))
    stream = torch.tensor([t for tokens in texts for t in tokens])
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=encoding.n_vocab, block_size=128, n_layer=2, n_head=2, n_embd=64,
                          dropout=0.0))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        starts = torch.randint(0, len(stream) - 129, (16,))
        batch = torch.stack([stream[s:s + 129] for s in starts])
        _, loss = model(batch[:, :-1], batch[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple[Path, dict, Path]:
    """A registered version of the trained GPT, its lineage, and its transformers export."""
    work = tmp_path_factory.mktemp("checkpoint")
    tokenizer = work / "tokenizer.json"
    rng = random.Random(1)
    train([passage(rng) for _ in range(400)], tokenizer, vocab_size=400, min_frequency=2)
    model = trained_gpt(tokenizer)
    run = work / "run"
    run.mkdir()
    save_model(model, str(run / "model.safetensors"))
    (run / "config.json").write_text(json.dumps(model.config.to_dict()))
    lineage = {"name": "parity", "version": 1, "checkpoint_id": "c0ffee", "snapshot_id": "5a5a",
               "tokenizer_id": "70c", "code_version": "test", "step": 150, "model": model.config.to_dict(),
               "eot_id": tiktoken_encoding(tokenizer).encode_single_token(END_OF_TEXT),
               "contamination_ngram": 13, "metrics": {}}
    entry = work / "registry"
    lineage = verify_version(entry, write_version(entry, weights_dir=run, tokenizer_json=tokenizer,
                                                  lineage=lineage))
    export_transformers(entry, work / "hf", lineage)
    return entry, lineage, work / "hf"


@pytest.fixture(scope="module")
def harness(checkpoint, data, tmp_path_factory) -> dict:
    """lm-evaluation-harness's results and logged samples for every task, run offline."""
    work = tmp_path_factory.mktemp("lm-eval")
    yamls = work / "tasks"
    yamls.mkdir()
    for task in TASKS:
        config = task.theirs(data[task.type], work / "datasets")
        (yamls / f"{task.name}.yaml").write_text(yaml.safe_dump(config))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("HF_DATASETS_OFFLINE", "1")
        patch.setenv("HF_HOME", str(work / "hf-home"))
        from lm_eval.tasks import TaskManager

        return lm_eval.simple_evaluate(
            model="hf", model_args=f"pretrained={checkpoint[2]},dtype=float32", tasks=[t.name for t in TASKS],
            task_manager=TaskManager(include_path=str(yamls), include_defaults=False),
            fewshot_random_seed=SEED, batch_size=8, device="cpu", bootstrap_iters=0, log_samples=True)


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_scores_equal_lm_evaluation_harness(task, checkpoint, data, harness, tmp_path):
    entry, lineage, _ = checkpoint
    config = task.ours(data[task.type])
    items = examples(config, load_split(config, "test", tmp_path))
    pool = examples(config, load_split(config, task.shots_split, tmp_path)) if task.shots else []
    model = load_model(entry, lineage["files"]["model.safetensors"])
    encoding = tiktoken_encoding(entry / "tokenizer.json")
    encoded = []

    def encode(text: str) -> list[int]:
        encoded.append(text)
        return encode_document(encoding, text).tolist()

    ours = evaluate_task(model, config, items, pool, encode, batch_size=8, device="cpu", seed=SEED).metrics

    # We scored the texts they scored: each example's prompt, with the same shots, and its choices.
    requests = [tuple(r) for sample in harness["samples"][task.name] for r in sample["arguments"]]
    assert len(requests) == sum(len(e.choices) for e in items)
    assert set(encoded) == {context for context, _ in requests} | {c + t for c, t in requests}
    assert all(context.count("\n\n") == task.shots for context, _ in requests)
    # Each fits the window whole: past it, they cut tokens from the left where we drop whole shots.
    assert max(len(encode(c + t)) for c, t in requests) <= model.config.block_size

    theirs = harness["results"][task.name]
    assert set(ours) - set(THEIR_NAME) == ({"acc_token"} if task.type == "multiple_choice" else set())
    for metric, value in ours.items():
        if metric == "ppl":
            assert value == pytest.approx(theirs[THEIR_NAME[metric]], rel=1e-4)
        elif metric in THEIR_NAME:
            assert value == theirs[THEIR_NAME[metric]], metric
    assert 0 < ours["acc"] < 1, "every example right or every one wrong: the comparison would say little"
    if task.type == "multiple_choice":
        assert ours["acc_norm"] != ours["acc"]  # dividing by characters changes answers: it is tested
    else:
        assert math.log(ours["ppl"]) < math.log(model.config.vocab_size) / 2  # far from uniform
