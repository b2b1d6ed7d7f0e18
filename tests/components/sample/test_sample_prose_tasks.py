"""The sample's zero-shot tasks: cut from prose the sample web never serves, each answer where the
task says it is, no candidate found by copying from the context."""

import csv
import json
import re

import pytest

from webtext.components.config import SampleConfig
from webtext.components.evaluate.contamination import NgramIndex, contamination
from webtext.components.sample import build_sample, build_site
from webtext.components.sample.build import held_out
from webtext.components.sample.prose_tasks import write_prose_tasks

TINY = SampleConfig(articles=8, slow_pages=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    build_sample(root, TINY)
    return root / "tasks"


def passages(built, split):
    lines = (built / "lastword" / f"{split}.jsonl").read_text().splitlines()
    return [json.loads(line)["text"] for line in lines]


def choices(built):
    with open(built / "cloze" / "validation.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def test_no_example_shares_a_13_gram_with_the_served_pages(built):
    served = NgramIndex.build((page.text for page in build_site(TINY).pages if page.text), 13)
    columns = ("context", "word1", "word2", "word3", "word4")
    examples = [*passages(built, "train"), *passages(built, "test"),
                *(" ".join(row[c] for c in columns) for row in choices(built))]
    assert len(examples) > 200
    assert contamination(served, examples) == (0.0, len(examples))


def test_a_last_word_occurs_earlier_in_its_passage_and_splits_do_not_share_one(built):
    train, test = passages(built, "train"), passages(built, "test")
    assert len(train) >= 32 and len(test) >= 64 and not set(train) & set(test)
    for passage in train + test:
        context, word = passage.rsplit(" ", 1)
        assert re.fullmatch(r"[a-z]{4,}", word) and re.search(rf"\b{word}\b", context, re.IGNORECASE)


def test_a_cloze_answer_ends_its_passage_and_every_candidate_is_a_word_of_it(built):
    rows = choices(built)
    _, articles = held_out(TINY)
    prose = [" ".join(p.split()) for article in articles for p in article.paragraphs]
    assert len(rows) >= 64
    for row in rows:
        words = [row[f"word{i}"] for i in (1, 2, 3, 4)]
        passage = f"{row['context']} {words[int(row['answer']) - 1]}."  # as the held-out prose has it
        assert any(passage in paragraph for paragraph in prose) and len(set(words)) == 4
        assert all(re.search(rf"\b{word}\b", row["context"], re.IGNORECASE) for word in words)
    assert {row["answer"] for row in rows} == {"1", "2", "3", "4"}


def test_too_little_prose_is_refused_and_a_rewrite_changes_nothing(tmp_path):
    _, articles = held_out(TINY)
    with pytest.raises(ValueError, match="1 articles.*last-word passages"):
        write_prose_tasks(tmp_path, articles[:1])
    assert write_prose_tasks(tmp_path, articles) and not write_prose_tasks(tmp_path, articles)
