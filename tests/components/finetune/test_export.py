"""A fine-tuned classifier exported for transformers' AutoModelForSequenceClassification gives our
logits, its tokenizer frames inputs as fine-tuning did; the heads it cannot express are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.components.finetune.checkpoints import MARKERS, TASKS, write_finetuned
from webtext.components.errors import InputError
from webtext.components.evaluate.registry import export_transformers, verify_version, write_version
from webtext.components.finetune.formats import transform
from webtext.components.finetune.heads import collate
from webtext.components.tokenize.bpe import encode_document, tiktoken_encoding, train

transformers = pytest.importorskip("transformers")  # a dev dependency; missing only outside `make test`

TEXT = ["The quick brown fox jumps over the lazy dog. " * 20,
        "Pack my box with five dozen liquor jugs. " * 20]
# Matrices and the head's bias 10x their initial scale, as trained weights grow: logits then spread over
# several units, so a transposed matrix, an unfolded bias or a wrong pooled position is off by O(1).
SCALE = 10.0


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    train(TEXT, path, vocab_size=300, min_frequency=1)
    return path


def registered(tmp_path: Path, tokenizer: Path, task_type: str, **shape):
    """A fine-tuned version in a registry directory, as the register stage writes it."""
    model, sha = write_finetuned(tmp_path / "run", task_type, SCALE, **shape)
    task = TASKS[task_type]
    lineage = {"name": f"m-{task.name}", "version": 1, "checkpoint_id": "f1ne", "snapshot_id": "5a5a",
               "tokenizer_id": "70c", "code_version": "0.1.0", "step": 8, "eot_id": 0,
               "model": model.gpt.config.to_dict(),
               "task": json.loads((tmp_path / "run" / "config.json").read_text())["task"],
               "parent": {"name": "m", "version": 1, "checkpoint_id": "c0ffee"},
               "metrics": {task.name: {"acc": 0.75}}}
    directory = tmp_path / "registry" / f"m-{task.name}" / "1"
    lineage_sha = write_version(directory, weights_dir=tmp_path / "run", tokenizer_json=tokenizer,
                                lineage=lineage)
    return directory, verify_version(directory, lineage_sha), model


@pytest.mark.slow
@pytest.mark.parametrize("task_type, shape, architecture", [
    ("entailment", {}, "GPT2ForSequenceClassification"),
    ("classification", {"pre_ln": False}, "OpenAIGPTForSequenceClassification")])
def test_an_exported_classifier_gives_our_logits_on_a_padded_batch(tmp_path, tokenizer, task_type, shape,
                                                                   architecture):
    directory, lineage, ours = registered(tmp_path, tokenizer, task_type, **shape)
    out = tmp_path / "export"
    assert export_transformers(directory, out, lineage) == architecture
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(out).eval()
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    assert type(hf).__name__ == architecture
    assert hf.config.id2label == dict(enumerate(lineage["task"]["labels"]))

    inputs = [("The lazy dog.", "Five jugs <|extract|> packed."),  # a marker's spelling is text here
              ("Pack my box with five dozen jugs.", "Fox."), ("A", "The quick brown fox jumps over the dog.")]
    if task_type == "classification":
        inputs = [(first,) for first, _ in inputs]
    encoding = tiktoken_encoding(tokenizer)
    ours_framed = [transform(task_type, [encode_document(encoding, t).tolist() for t in texts], MARKERS, 32)
                   for texts in inputs]
    batch = hf_tokenizer(*zip(*inputs), padding=True, return_tensors="pt")
    assert set(batch) == {"input_ids", "attention_mask"}  # no token_type_ids: GPT-2 would embed them
    assert [ids[mask.bool()].tolist() for ids, mask in zip(batch["input_ids"], batch["attention_mask"])] == \
        [sequences[0] for sequences in ours_framed]
    with torch.no_grad():
        logits = hf(**batch).logits
        expected = ours.scores(collate([(sequences, 0) for sequences in ours_framed]))
    assert expected.std() > 1  # a wrong layout or pooled position would be off by orders of 1e-5
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("task_type, why", [
    ("multiple_choice", "transformers has no GPT-2 or GPT-1 model for multiple choice"),
    ("similarity", "reads the sum of the final states of both orders")])
def test_heads_transformers_cannot_express_are_refused_and_nothing_is_written(tmp_path, tokenizer, task_type,
                                                                              why):
    directory, lineage, _ = registered(tmp_path, tokenizer, task_type)
    with pytest.raises(InputError, match=f"m-{TASKS[task_type].name}:1: .*{why}.*`webtext predict` runs it"):
        export_transformers(directory, tmp_path / "export", lineage)
    assert not (tmp_path / "export").exists()
