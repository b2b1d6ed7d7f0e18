"""Fine-tuned models a user can use: the register stage registers each fine-tuned checkpoint as a
version of `<register.name>-<task>` naming its parent, `webtext predict` runs it on a file, and a
classifier exports to transformers. All on the shared tiny run, whose fine-tuning trained all four
task types; the commands below only read its home."""

import csv
import json

import duckdb
import pytest
import torch

from tests.flows.stages import in_home, tiny
from webtext.components.finetune.checkpoint import load_finetuned
from webtext.components.finetune.heads import collate
from webtext.components.finetune.run import task_examples
from webtext.components.train.job import JOB_FILE, FinetuneJob
from webtext.flows.register import register

pytestmark = pytest.mark.slow

TASKS = {"sentiment": "classification", "inference": "entailment", "paraphrase": "similarity",
         "story": "multiple_choice"}


def query(home, sql, params=()):
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def validation(home, task: str) -> list[dict]:
    """The rows of a task's validation split that fine-tuning scored (max_validation_examples: 32)."""
    with open(home.sample / "tasks" / task / "validation.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[:32]


def write_rows(path, rows: list[dict]) -> None:
    """`rows` as a .jsonl, .csv or .tsv file, by the suffix of `path`."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        return
    tsv = path.suffix == ".tsv"
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t" if tsv else ",",
                                quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
        writer.writeheader()
        writer.writerows(rows)


def recorded(home, task: str) -> dict[str, float]:
    """A task's validation scores, as its fine-tuning run recorded them (not its scratch baseline's)."""
    return dict(query(home, "SELECT e.metric, e.value FROM evaluations e JOIN checkpoints c USING "
                            "(checkpoint_id) WHERE c.kind = 'finetune' AND c.parent_id IS NOT NULL "
                            "AND e.task = ?", [task]))


def trained_from_it(home) -> str:
    """The register summary's list of every model trained from webtext-tiny:1: the fine-tuned tasks'
    and the chat, reward and aligned models, the last marked `@chat` when its gates granted it."""
    chat = query(home, "SELECT count(*) FROM model_aliases WHERE alias = 'chat'") == [(1,)]
    return "trained from it: " + ", ".join(sorted([
        *(f"webtext-tiny-{task}:1" for task in TASKS), "webtext-tiny-sft:1", "webtext-tiny-reward:1",
        "webtext-tiny-aligned:1" + (" @chat" if chat else "")]))


@pytest.fixture(scope="module")
def home(tiny_run):
    return tiny_run.home


def test_each_fine_tuned_checkpoint_is_a_version_naming_its_parent(home, tiny_run):
    [(parent_id,)] = query(home, "SELECT checkpoint_id FROM checkpoints WHERE kind = 'pretrain'")
    tuned = dict(query(home, "SELECT json_extract_string(config, '$.task.name'), checkpoint_id "
                             "FROM checkpoints WHERE kind = 'finetune' AND parent_id = ?", [parent_id]))
    [(chat_id,)] = query(home, "SELECT checkpoint_id FROM checkpoints WHERE kind = 'sft'")
    [(judge_id,)] = query(home, "SELECT checkpoint_id FROM checkpoints WHERE kind = 'reward'")
    [(aligned_id,)] = query(home, "SELECT checkpoint_id FROM checkpoints WHERE kind = 'align'")
    versions = query(home, "SELECT name, version, checkpoint_id, parent_name, parent_version "
                           "FROM model_versions ORDER BY name")
    assert versions == [("webtext-tiny", 1, parent_id, None, None)] + sorted([
        *((f"webtext-tiny-{task}", 1, tuned[task], "webtext-tiny", 1) for task in TASKS),
        ("webtext-tiny-sft", 1, chat_id, "webtext-tiny", 1),
        ("webtext-tiny-reward", 1, judge_id, "webtext-tiny-sft", 1),
        ("webtext-tiny-aligned", 1, aligned_id, "webtext-tiny-sft", 1)])
    summary = tiny_run.pipeline[-2].summary  # register: the report comes after it
    assert summary.startswith("register: webtext-tiny:1")
    assert f"promoted to champion; {trained_from_it(home)}" in summary
    lineage = json.loads((home.registry / "webtext-tiny-story" / "1" / "lineage.json").read_text())
    assert lineage["parent"] == {"name": "webtext-tiny", "version": 1, "checkpoint_id": parent_id}
    assert lineage["checkpoint_id"] == tuned["story"] and lineage["task"]["labels"] == ["1", "2", "3"]
    assert lineage["metrics"]["story"] == recorded(home, "story") and "task" not in lineage["model"]
    card = (home.registry / "webtext-tiny-story" / "1" / "README.md").read_text()
    assert "pipeline_tag: multiple-choice" in card and "from webtext-tiny:1" in card
    with in_home(home.root):
        again = register(tiny())
    assert again.up_to_date and again.summary == \
        f"register: up to date (webtext-tiny:1 @champion, checkpoint {parent_id}; {trained_from_it(home)})"


def test_a_version_registered_before_gets_its_fine_tuned_versions_on_rerun(tiny_run, tmp_path):
    home = tiny_run.copy(tmp_path / "home")
    with duckdb.connect(str(home.warehouse)) as con:  # as a home registered before fine-tuned versions were
        con.execute("DELETE FROM model_versions WHERE parent_name IS NOT NULL")
    with in_home(home.root):
        result = register(tiny())
    [(parent_id,)] = query(home, "SELECT checkpoint_id FROM model_versions WHERE name = 'webtext-tiny'")
    assert result.summary.startswith(
        f"register: webtext-tiny:1 (checkpoint {parent_id}), registered before; {trained_from_it(home)}")
    assert query(home, "SELECT count(*) FROM model_versions") == [(8,)]
    assert query(home, "SELECT count(*) FROM model_promotions WHERE name = 'webtext-tiny'") == [(1,)]


def test_list_and_show_name_fine_tuned_versions_and_generate_refuses_one(home, cli_in):
    cli = cli_in(home)
    code, out, _ = cli("models", "list")
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert code == 0 and set(rows) == {"webtext-tiny:1", *(f"webtext-tiny-{task}:1" for task in TASKS),
                                       "webtext-tiny-sft:1", "webtext-tiny-reward:1",
                                       "webtext-tiny-aligned:1"}
    assert "webtext-tiny:1" in rows["webtext-tiny-sentiment:1"].split()[3:]
    code, out, _ = cli("models", "show", "webtext-tiny-inference")
    assert code == 0 and "fine-tuned   from webtext-tiny:1" in out
    assert "task         inference (entailment): reads premise, hypothesis; predicts entailment, " \
        "not_entailment" in out
    code, out, _ = cli("models", "show", "webtext-tiny:1")
    assert "fine-tuned versions: webtext-tiny-inference:1, webtext-tiny-paraphrase:1, " \
        "webtext-tiny-sentiment:1, webtext-tiny-sft:1, webtext-tiny-story:1" in out
    code, _, err = cli("generate", "webtext-tiny-sentiment", "--prompt", "The")
    assert code == 1 and "is fine-tuned (classification)" in err and "`webtext predict` runs it" in err


def scored_by_the_run(home, task: str, cache) -> torch.Tensor:
    """The scores the registered fine-tuned model gives the validation examples its own run read,
    encoded and framed (in fp32: the run validated under bf16 autocast where the CPU has it)."""
    [(path, sha256)] = query(home, "SELECT c.path, c.sha256 FROM model_versions v JOIN checkpoints c USING "
                                   "(checkpoint_id) WHERE v.name = ?", [f"webtext-tiny-{task}"])
    job = FinetuneJob.read(home.runs / path / JOB_FILE).model_copy(update={"cache_dir": cache})
    with in_home(home.root):
        _, examples, _, _ = task_examples(job, job.model["block_size"])
    with torch.no_grad():
        return load_finetuned(home.runs / path, sha256).model.scores(collate(examples, regression=True))


def test_predict_scores_all_four_task_types_as_their_runs_framed_them(home, cli_in, tmp_path):
    """Each validation split, written as .tsv, .jsonl or .csv and predicted by the command: the
    predictions are the model's scores on the examples its fine-tuning run made of those rows."""
    cli = cli_in(home)
    suffixes = {"sentiment": "tsv", "inference": "jsonl", "paraphrase": "csv", "story": "tsv"}
    for task, suffix in suffixes.items():
        rows = validation(home, task)
        inputs, out = tmp_path / f"{task}.{suffix}", tmp_path / f"{task}.predictions.jsonl"
        write_rows(inputs, rows)
        code, printed, err = cli("predict", f"webtext-tiny-{task}:1", "--input", str(inputs),
                                 "--out", str(out))
        assert code == 0 and printed == "", err
        predictions = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(predictions) == len(rows) == 32, task
        expected = scored_by_the_run(home, task, tmp_path / "cache")
        if TASKS[task] == "similarity":
            got = torch.tensor([p["value"] for p in predictions])
            torch.testing.assert_close(got, expected[:, 0], atol=1e-5, rtol=0)
            continue
        labels = list(predictions[0]["probabilities"])
        for row, p, scores in zip(rows, predictions, expected, strict=True):
            assert p["label"] == max(p["probabilities"], key=p["probabilities"].get)
            kept = [i for i, label in enumerate(labels) if task != "story" or row[f"ending{i + 1}"]]
            assert all(p["probabilities"][label] == 0 for i, label in enumerate(labels) if i not in kept)
            got = torch.tensor([p["probabilities"][labels[i]] for i in kept])
            torch.testing.assert_close(got, torch.softmax(scores, dim=-1)[:len(kept)], atol=1e-5, rtol=0)
    assert any(not row["ending3"] for row in validation(home, "story"))  # an empty answer was left out
    code, printed, _ = cli("predict", "webtext-tiny-sentiment", "--input", str(tmp_path / "sentiment.tsv"))
    assert code == 0 and printed == (tmp_path / "sentiment.predictions.jsonl").read_text()  # stdout
    code, _, err = cli("predict", "webtext-tiny-inference", "--input", str(tmp_path / "sentiment.tsv"))
    assert code == 1 and f"{tmp_path / 'sentiment.tsv'}: no column 'premise', which task 'inference'" in err
    code, _, err = cli("predict", "webtext-tiny", "--input", str(tmp_path / "sentiment.tsv"))
    assert code == 1 and "is not fine-tuned" in err


def test_an_exported_classifier_predicts_as_webtext_predict_does(home, cli_in, tmp_path):
    transformers = pytest.importorskip("transformers")
    cli = cli_in(home)
    out = tmp_path / "hf"
    code, printed, _ = cli("models", "export", "webtext-tiny-inference:1", "--out", str(out))
    assert code == 0 and "as GPT2ForSequenceClassification" in printed
    assert "pipeline('text-classification'" in printed
    model = transformers.AutoModelForSequenceClassification.from_pretrained(out).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    rows = validation(home, "inference")[:8]
    inputs = tmp_path / "pairs.jsonl"
    write_rows(inputs, rows)
    code, printed, _ = cli("predict", "webtext-tiny-inference:1", "--input", str(inputs))
    ours = [[p["probabilities"][model.config.id2label[i]] for i in range(2)]
            for p in map(json.loads, printed.splitlines())]
    batch = tokenizer([r["premise"] for r in rows], [r["hypothesis"] for r in rows], padding=True,
                      return_tensors="pt")
    with torch.no_grad():
        theirs = torch.softmax(model(**batch).logits, dim=-1)
    torch.testing.assert_close(theirs, torch.tensor(ours), atol=1e-5, rtol=0)
    code, _, err = cli("models", "export", "webtext-tiny-story:1", "--out", str(tmp_path / "story"))
    assert code == 1 and "webtext-tiny-story:1: a multiple-choice head" in err
    assert not (tmp_path / "story").exists()
