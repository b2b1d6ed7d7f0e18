"""GPT-1's input transformations, task heads and metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from webtext.components.config import TaskConfig
from webtext.components.errors import InputError
from webtext.components.finetune.data import examples, label_ids
from webtext.components.finetune.formats import Markers, frame, transform
from webtext.components.finetune.heads import PAD, TaskModel, collate
from webtext.components.finetune.metrics import score
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.task_files import load_split

M = Markers(start=1, delimiter=2, extract=3)


def test_each_transformation_gives_the_documented_sequence():
    text, premise, hypothesis = [10, 11], [20, 21, 22], [30]
    assert transform("classification", [text], M, 64) == [[1, 10, 11, 3]]
    assert transform("entailment", [premise, hypothesis], M, 64) == [[1, 20, 21, 22, 2, 30, 3]]
    assert transform("similarity", [text, hypothesis], M, 64) == \
        [[1, 10, 11, 2, 30, 3], [1, 30, 2, 10, 11, 3]]
    assert transform("multiple_choice", [premise, [40], [50, 51]], M, 64) == \
        [[1, 20, 21, 22, 2, 40, 3], [1, 20, 21, 22, 2, 50, 51, 3]]
    with pytest.raises(ValueError, match="unknown task type"):
        transform("translation", [text], M, 64)


def test_long_inputs_are_cut_from_the_longest_segment():
    long, short = list(range(100, 120)), [7, 8]
    sequence = frame([long, short], M, 10)
    assert len(sequence) == 10 and sequence[-3:] == [7, 8, 3]  # the pair's short side survives whole
    assert sequence[:7] == [1, 100, 101, 102, 103, 104, 2]
    with pytest.raises(ValueError, match="cannot hold 3 segments"):
        frame([[1], [2], [3]], M, 4)


@pytest.fixture
def gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=64, block_size=32, n_layer=2, n_head=2, n_embd=32, dropout=0.0))


def test_the_similarity_head_is_symmetric(gpt):
    model = TaskModel(gpt, "similarity", 1, dropout=0.0).eval()
    a, b = [10, 11, 12], [20, 21]
    ab = collate([(transform("similarity", [a, b], M, 32), 0.0)], regression=True)
    ba = collate([(transform("similarity", [b, a], M, 32), 0.0)], regression=True)
    torch.testing.assert_close(model(ab)[0], model(ba)[0])
    one_order = collate([(transform("similarity", [a, b], M, 32)[:1], 0.0)], regression=True)
    assert not torch.allclose(model(one_order)[0], model(ab)[0])  # both orderings count


def test_a_padded_choice_scores_as_if_the_example_were_alone(gpt):
    model = TaskModel(gpt, "multiple_choice", 1, dropout=0.0).eval()
    two = (transform("multiple_choice", [[10, 11], [12], [13, 14, 15]], M, 32), 1)
    three = (transform("multiple_choice", [[20], [21], [22], [23, 24, 25, 26, 27]], M, 32), 2)
    batch = collate([two, three])
    assert batch.groups.tolist() == [[0, 1, PAD], [2, 3, 4]]
    scores, _ = model(batch)
    alone, _ = model(collate([two]))
    assert scores[0, 2] == float("-inf")
    torch.testing.assert_close(scores[0, :2], alone[0], atol=1e-5, rtol=0)
    probabilities = torch.softmax(scores, dim=-1)
    assert probabilities[0, 2] == 0 and torch.allclose(probabilities.sum(-1), torch.ones(2))
    loss = torch.nn.functional.cross_entropy(scores, batch.labels)
    assert torch.isfinite(loss)


def test_the_lm_loss_covers_real_positions_only(gpt):
    model = TaskModel(gpt, "classification", 2, dropout=0.0).eval()
    short, long = ([[1, 5, 6, 3]], 0), ([[1, 7, 8, 9, 10, 11, 3]], 1)
    _, short_loss = model(collate([short]))
    _, long_loss = model(collate([long]))
    _, both = model(collate([short, long]))  # short is padded with 3 tokens here
    torch.testing.assert_close(both, (3 * short_loss + 6 * long_loss) / 9, atol=1e-5, rtol=0)


def test_metrics_match_their_definitions():
    gold = np.array([1, 0, 1, 1, 0, 0])
    predicted = np.array([1, 0, 0, 1, 1, 0])
    scores = score(["acc", "f1", "mcc"], predicted, gold)
    assert scores["acc"] == pytest.approx(4 / 6)
    assert scores["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert scores["mcc"] == pytest.approx((2 * 2 - 1 * 1) / np.sqrt(3 * 3 * 3 * 3))
    x, y = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 4.0, 9.0, 16.0])
    both = score(["pearson", "spearman"], x, y)
    assert both["spearman"] == pytest.approx(1.0) and 0.95 < both["pearson"] < 1.0
    assert score(["spearman"], np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0]))["spearman"] == \
        pytest.approx(np.corrcoef([1.5, 1.5, 3.0], [1.0, 2.0, 3.0])[0, 1])


def test_task_files_load_and_map_labels(tmp_path):
    (tmp_path / "train.tsv").write_text('context\tending1\tending2\tending3\tanswer\n'
                                        'He said "hi" NA.\tYes.\tNo.\t\t2\nShe left.\tA.\tB.\tC.\t1\n')
    task = TaskConfig(name="story", type="multiple_choice", label="answer",
                      fields=["context", "ending1", "ending2", "ending3"],
                      files={"train": str(tmp_path / "train.tsv")})
    rows = load_split(task, "train", tmp_path / "cache")
    assert rows[0]["context"] == 'He said "hi" NA.' and rows[0]["ending3"] == ""
    labels = label_ids(task, rows)
    assert labels == {"1": 0, "2": 1}

    def encode(text: str) -> list[int]:
        return [10 + len(word) for word in text.split()]

    got = examples(task, rows, encode, labels, M, 32)
    assert [len(sequences) for sequences, _ in got] == [2, 3]  # the empty third ending is left out
    assert [label for _, label in got] == [1, 0]
    with pytest.raises(InputError, match="no file named for it"):
        load_split(task, "validation", tmp_path / "cache")
    with pytest.raises(InputError, match="has no column 'ending3'"):
        examples(task, [{"context": "x", "ending1": "a", "ending2": "b", "answer": 1}], encode, labels, M, 32)
    with pytest.raises(InputError, match="label 7"):
        examples(task, [{**rows[0], "answer": 7}], encode, labels, M, 32)


def test_an_empty_answer_before_the_right_one_moves_the_label_with_the_answers():
    task = TaskConfig(name="story", type="multiple_choice", label="answer", labels=[1, 2, 3],
                      fields=["context", "ending1", "ending2", "ending3"])
    labels = label_ids(task, [])
    row = {"context": "It rained.", "ending1": "Umbrella.", "ending2": "", "ending3": "Sun hat.", "answer": 3}

    def encode(text: str) -> list[int]:
        return [10 + len(word) for word in text.split()]

    [(sequences, label)] = examples(task, [row], encode, labels, M, 32)
    assert len(sequences) == 2 and sequences[label][-3:] == [13, 14, 3]  # "Sun hat." is still the answer
    with pytest.raises(InputError, match="row 0: its right answer \\(answer 2\\) is empty"):
        examples(task, [{**row, "answer": 2}], encode, labels, M, 32)
