"""The sample's instruction sets: readable whole, every right answer copied from the served articles of
its split, every wrong answer wrong in a known way, short enough for the tiny model, and reproducible."""

import json

import pytest

from webtext.components.config import SampleConfig
from webtext.components.instruct.data import read_comparisons, read_demonstrations
from webtext.components.sample import build_site
from webtext.components.sample.build import served_articles
from webtext.components.sample.instruct_sets import (
    COMPARISONS,
    DEMONSTRATIONS,
    DIALOGUE_SHARE,
    MAX_EXCHANGE_CHARS,
    RANKING_SHARE,
    article_sentences,
    rendered,
    split_articles,
    write_instruct_sets,
)

TINY = SampleConfig(articles=8, slow_pages=False)
SPLITS = ("train", "validation")


@pytest.fixture(scope="module")
def articles():
    return served_articles(build_site(TINY))


@pytest.fixture(scope="module")
def built(tmp_path_factory, articles):
    root = tmp_path_factory.mktemp("instruct")
    assert write_instruct_sets(root, articles)
    return root


@pytest.fixture(scope="module")
def split_texts(articles):
    """Per split: its articles' titles and text, and its sentences."""
    texts = {}
    for split, chosen in zip(SPLITS, split_articles(articles)):
        text = "\n".join(" ".join(f"{a.title} {' '.join(a.paragraphs)}".split()) for a in chosen)
        texts[split] = (text, {s for a in chosen for s in article_sentences(a)})
    return texts


def records(built, name, split):
    return [json.loads(line) for line in (built / name / f"{split}.jsonl").read_text().splitlines()]


def test_served_articles_are_the_kept_pages():
    site = build_site(TINY)
    titles = [a.title for a in served_articles(site)]
    assert len(titles) == TINY.articles + 2  # the plain articles, the gzip and the latin1 one
    assert {p.title for p in site.pages if p.kind == "article"} <= set(titles)


@pytest.mark.parametrize("split", SPLITS)
def test_the_files_read_whole_in_the_documented_counts(built, split):
    demonstrations = read_demonstrations(built / "demonstrations" / f"{split}.jsonl")
    comparisons = read_comparisons(built / "comparisons" / f"{split}.jsonl")
    assert not demonstrations.skipped and not comparisons.skipped
    assert len(demonstrations.records) == DEMONSTRATIONS[split]
    assert len(comparisons.records) == COMPARISONS[split]
    dialogues = [c for c in demonstrations.records if len(c.turns) == 4]
    assert len(dialogues) == round(DEMONSTRATIONS[split] * DIALOGUE_SHARE)
    assert all(len(c.turns) in (2, 4) for c in demonstrations.records)
    rankings = [c for c in comparisons.records if len(c.answers) > 2]
    assert len(rankings) == round(COMPARISONS[split] * RANKING_SHARE)
    assert all(len(c.answers) in (3, 4) for c in rankings)


def test_train_and_validation_ask_about_disjoint_articles(articles):
    train, validation = split_articles(articles)
    assert len(validation) >= 2 and len(train) + len(validation) == len(articles)
    assert not {a.title for a in train} & {a.title for a in validation}


@pytest.mark.parametrize("split", SPLITS)
def test_every_right_answer_is_copied_from_its_splits_articles(built, split_texts, split):
    text, _ = split_texts[split]
    other, other_sentences = split_texts["validation" if split == "train" else "train"]
    answers = [r["response"] for r in records(built, "demonstrations", split) if "response" in r]
    answers += [m["content"] for r in records(built, "demonstrations", split) if "messages" in r
                for m in r["messages"] if m["role"] == "assistant"]
    answers += [r.get("chosen") or r["answers"][0] for r in records(built, "comparisons", split)]
    for answer in answers:
        assert answer in text and answer == " ".join(answer.split())
        assert answer not in other_sentences  # a whole sentence is never the other split's


def _kind(rejected, chosen, sentences):
    if chosen.startswith(rejected) and len(rejected) < len(chosen):
        return "truncated"
    for times in (3, 4):
        phrase = rejected[: (len(rejected) - times + 1) // times]
        if phrase and phrase in chosen and " ".join([phrase] * times) == rejected:
            return "repetitive"
    if rejected in sentences and rejected not in chosen:
        return "off_topic"
    return None


@pytest.mark.parametrize("split", SPLITS)
def test_every_wrong_answer_is_of_a_known_kind_and_ranked_as_documented(built, split_texts, split):
    _, sentences = split_texts[split]
    order = ["truncated", "repetitive", "off_topic"]
    for record in records(built, "comparisons", split):
        if "answers" in record:
            best, *wrong = record["answers"]
            kinds = [_kind(r, best, sentences) for r in wrong]
            assert kinds == sorted(kinds, key=order.index), record
        else:
            assert _kind(record["rejected"], record["chosen"], sentences) in order, record


@pytest.mark.parametrize("split", SPLITS)
def test_every_exchange_fits_the_tiny_context(built, split):
    for record in records(built, "demonstrations", split):
        turns = record.get("messages") or [{"content": record["prompt"]}, {"content": record["response"]}]
        for question, answer in zip(turns[::2], turns[1::2]):
            assert len(rendered(question["content"], answer["content"])) < MAX_EXCHANGE_CHARS
    for record in records(built, "comparisons", split):
        for answer in record.get("answers") or (record["chosen"], record["rejected"]):
            assert len(rendered(record["prompt"], answer)) < MAX_EXCHANGE_CHARS


def test_a_rebuild_writes_the_same_bytes(built, articles, tmp_path):
    files = sorted(p.relative_to(built) for p in built.rglob("*.jsonl"))
    assert [str(p) for p in files] == [f"{name}/{split}.jsonl"
                                       for name in ("comparisons", "demonstrations", "prompts")
                                       for split in SPLITS]
    assert not write_instruct_sets(built, articles)
    assert write_instruct_sets(tmp_path, articles)
    assert all((tmp_path / p).read_bytes() == (built / p).read_bytes() for p in files)


def test_too_little_prose_is_an_error_naming_the_split(articles, tmp_path):
    with pytest.raises(ValueError, match="the (train|validation) articles .* yield"):
        write_instruct_sets(tmp_path, articles[:5])
