"""The sample's labelled tasks: their labels follow from their text, as the templates intend."""

import csv

from webtext.components.sample.tasks import BAD, GOOD, SPLITS, write_tasks


def rows(directory, task, split="train"):
    with open(directory / task / f"{split}.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def test_every_split_has_its_rows_and_a_rewrite_changes_nothing(tmp_path):
    assert write_tasks(tmp_path)
    assert not write_tasks(tmp_path)
    for task in ("sentiment", "inference", "paraphrase", "story"):
        for split, n in SPLITS.items():
            assert len(rows(tmp_path, task, split)) == n


def test_labels_follow_from_the_text(tmp_path):
    write_tasks(tmp_path)
    for row in rows(tmp_path, "sentiment"):
        good = any(word in row["sentence"] for word in GOOD)
        assert good != any(word in row["sentence"] for word in BAD) and row["label"] == str(int(good))
    labels = {row["label"] for row in rows(tmp_path, "inference")}
    assert labels == {"entailment", "not_entailment"}
    scores = [float(row["score"]) for row in rows(tmp_path, "paraphrase")]
    assert min(scores) >= 0 and max(scores) <= 5 and len(set(scores)) >= 4
    counts = set()
    for row in rows(tmp_path, "story"):
        endings = [row[f"ending{i}"] for i in (1, 2, 3) if row[f"ending{i}"]]
        counts.add(len(endings))
        right = endings[int(row["answer"]) - 1]
        thing = row["context"].split("There was ")[1].split(" for sale")[0]
        assert right.endswith(f"bought {thing}.")
    assert counts == {2, 3}  # some stories have a padded third ending
