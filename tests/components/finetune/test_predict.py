"""Predictions on new rows are the scores fine-tuning gives the same rows; an input without a column
the task reads is an error naming the file and the column."""

from __future__ import annotations

import json

import pytest
import torch

from tests.components.finetune.checkpoints import LABELS, MARKERS, TASKS, write_finetuned
from webtext.components.errors import InputError
from webtext.components.finetune.checkpoint import load_finetuned
from webtext.components.finetune.data import examples, label_ids
from webtext.components.finetune.heads import collate
from webtext.components.finetune.predict import predict, read_inputs

ROWS = {
    "classification": [{"sentence": "a b c", "label": "1"}, {"sentence": "d", "label": "0"}],
    "entailment": [{"premise": "a b", "hypothesis": "c", "label": "entailment"},
                   {"premise": "d e f", "hypothesis": "g h", "label": "not_entailment"}],
    "similarity": [{"sentence1": "a b", "sentence2": "c", "score": 1.5},
                   {"sentence1": "d", "sentence2": "e f g", "score": 4.0}],
    "multiple_choice": [{"context": "a b", "ending1": "c", "ending2": "", "ending3": "d e", "answer": 3},
                        {"context": "f", "ending1": "g", "ending2": "h i", "ending3": "j", "answer": 1}],
}


def encode(text: str) -> list[int]:
    return [10 + len(word) for word in text.split()]


@pytest.mark.parametrize("task_type", list(TASKS))
def test_predictions_are_the_scores_of_the_rows_framed_as_in_fine_tuning(tmp_path, task_type):
    _, sha = write_finetuned(tmp_path, task_type, scale=10.0)
    finetuned = load_finetuned(tmp_path, sha)
    task = finetuned.task  # its labels in id order, as the run wrote them
    trained = examples(task, ROWS[task_type], encode, label_ids(task, ROWS[task_type]), MARKERS, 32)
    with torch.no_grad():
        scores = finetuned.model.scores(collate(trained))
    predicted = predict(finetuned, ROWS[task_type], encode)
    if task_type == "similarity":
        assert [p["value"] for p in predicted] == pytest.approx(scores[:, 0].tolist(), abs=1e-6)
        return
    labels = LABELS[task_type]
    for row, prediction, row_scores in zip(ROWS[task_type], predicted, scores, strict=True):
        assert list(prediction["probabilities"]) == labels
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0)
        probabilities = torch.softmax(row_scores, dim=-1).tolist()
        if task_type == "multiple_choice":  # the empty answer is left out, as in fine-tuning
            kept = [i for i, column in enumerate(("ending1", "ending2", "ending3")) if row[column]]
            assert [prediction["probabilities"][labels[i]] for i in kept] == \
                pytest.approx(probabilities[:len(kept)], abs=1e-6)
            assert all(prediction["probabilities"][labels[i]] == 0 for i in range(3) if i not in kept)
        else:
            assert list(prediction["probabilities"].values()) == pytest.approx(probabilities, abs=1e-6)
        assert prediction["label"] == max(prediction["probabilities"], key=prediction["probabilities"].get)


def test_an_input_without_a_column_the_task_reads_is_named(tmp_path):
    task = TASKS["entailment"]
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("premise\thypo\nIt rained.\tThe ground is wet.\n")
    with pytest.raises(InputError, match=f"{tsv}: no column 'hypothesis', which task 'inference' reads"):
        read_inputs(task, tsv)
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text(f'{json.dumps({"premise": "a", "hypothesis": "b"})}\n{json.dumps({"premise": "c"})}\n')
    with pytest.raises(InputError, match=f"{jsonl}: row 1 has no value in column 'hypothesis'"):
        read_inputs(task, jsonl)
    story = tmp_path / "story.jsonl"
    story.write_text(json.dumps({"context": "It rained.", "ending1": " ", "ending2": "", "ending3": ""}))
    with pytest.raises(InputError, match=f"{story}: row 0: every answer is empty"):
        read_inputs(TASKS["multiple_choice"], story)
    with pytest.raises(InputError, match="absent.csv: no such file"):
        read_inputs(task, tmp_path / "absent.csv")
    csv = tmp_path / "pairs.csv"
    csv.write_text('premise,hypothesis,extra\n"NA, he said.",NA,x\n')  # read as task files are: NA is text
    assert read_inputs(task, csv) == [{"premise": "NA, he said.", "hypothesis": "NA", "extra": "x"}]
