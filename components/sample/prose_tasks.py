"""The sample's zero-shot tasks, cut from held-out prose of the kind the sample web serves.

A zero-shot score means something only on text like the model's training text: the sample's model
learns from Python's documentation prose, so its zero-shot tasks are cut from articles of that prose
that the sample web never serves. Both ship as the sample's other files do: built offline, the same
bytes every time for one Python install.

- lastword (LAMBADA's shape, `{"text": passage}` per JSON line): a run of sentences whose final word
  already occurs earlier in the passage, as LAMBADA's target words mostly do; that final word is the
  target. Splits `train` (the shots) and `test`.
- cloze (multiple choice, the Children's Book Test's shape): the same passages, their last word to be
  chosen among four words of the passage. Split `validation`.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from webtext.components.files import write_if_changed
from webtext.components.sample.prose import Article

LAST_WORD_SPLITS = {"train": 64, "test": 128}
CLOZE_EXAMPLES = 256
MAX_CONTEXT_WORDS = 60  # LAMBADA's passages average ~75 words; the sample's model has a short window
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_FINAL_WORD = re.compile(r"\s([a-z]{4,})\.$")  # a plain lowercase word closing a sentence


def sentences(paragraph: str) -> list[str]:
    """A paragraph's sentences, whitespace made single spaces (the task files are TSV and JSON lines)."""
    return [s for s in _SENTENCE_END.split(" ".join(paragraph.split())) if s]


def _last_word_passages(articles: Sequence[Article]) -> Iterator[str]:
    """Every passage ending a sentence whose final word occurs earlier in the passage, its context
    the sentences before it within the paragraph, up to MAX_CONTEXT_WORDS."""
    for article in articles:
        for paragraph in article.paragraphs:
            said = sentences(paragraph)
            for i, sentence in enumerate(said):
                found = _FINAL_WORD.search(sentence)
                if not found:
                    continue
                context = sentence[: found.start()]
                for earlier in reversed(said[:i]):
                    if len((earlier + " " + context).split()) > MAX_CONTEXT_WORDS:
                        break
                    context = earlier + " " + context
                if re.search(rf"\b{found[1]}\b", context, re.IGNORECASE) and len(context.split()) >= 12:
                    yield f"{context} {found[1]}"


def _cloze_rows(passages: Sequence[str], rng: random.Random) -> Iterator[list[str]]:
    """[context, word1, word2, word3, word4, answer] per passage: its last word and three other words
    of its context as the candidates, as the Children's Book Test draws them (GPT-2, section 3.2),
    so that copying a word from the context does not find the answer."""
    for passage in passages:
        context, word = passage.rsplit(" ", 1)
        others = sorted({w for w in re.findall(r"\b[a-z]{4,}\b", context) if w != word})
        if len(others) < 3:
            continue
        candidates = [word, *rng.sample(others, 3)]
        rng.shuffle(candidates)
        yield [context, *candidates, str(candidates.index(word) + 1)]


def write_prose_tasks(directory: Path, articles: Sequence[Article], seed: int = 11) -> bool:
    """Write `lastword/{train,test}.jsonl` and `cloze/validation.tsv` under `directory` from
    `articles`; True if any file changed. Too little prose for a task is an error naming it."""
    rng = random.Random(seed)
    passages = list(_last_word_passages(articles))
    rng.shuffle(passages)
    wanted = sum(LAST_WORD_SPLITS.values())
    if len(passages) < 2 * len(LAST_WORD_SPLITS):
        raise ValueError(f"the held-out prose ({len(articles)} articles) yields {len(passages)} last-word "
                         f"passages; the sample's lastword task needs at least {2 * len(LAST_WORD_SPLITS)}")
    share = min(1.0, len(passages) / wanted)
    changed, at = False, 0
    for split, size in LAST_WORD_SPLITS.items():
        taken = passages[at: at + max(1, int(size * share))]
        at += len(taken)
        text = "".join(json.dumps({"text": passage}) + "\n" for passage in taken)
        changed |= write_if_changed(directory / "lastword" / f"{split}.jsonl", text.encode())
    rows = list(_cloze_rows(passages[:CLOZE_EXAMPLES], rng))
    text = "context\tword1\tword2\tword3\tword4\tanswer\n" + "".join("\t".join(row) + "\n" for row in rows)
    changed |= write_if_changed(directory / "cloze" / "validation.tsv", text.encode())
    return changed
