"""The sample's labelled tasks, one per GPT-1 input transformation, generated from templates.

They ship with the project the way the sample web does: built offline, the same bytes every time,
under `WEBTEXT_HOME/sample/tasks/<task>/{train,validation}.tsv`. Each is learnable from its words
alone, so a fine-tuning run on the sample shows its metrics move within seconds:

- sentiment (classification): a review sentence; label 1 when its judgement word is positive.
- inference (entailment): a premise and a hypothesis that repeats it, or swaps its person or object.
- paraphrase (similarity): two sentences and a 0-5 score, the share of content words they share.
- story (multiple choice): a two-sentence story and two or three endings (the third column is empty
  for two), one of which continues it; `answer` is the right ending's number.

The zero-shot tasks are cut from held-out prose instead (`components.sample.prose_tasks`). The review
sentences' openings are also the prompts of the sample's sentiment control (`write_review_prompts`).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from webtext.components.files import write_if_changed

SPLITS = {"train": 320, "validation": 96}
PEOPLE = ("the teacher", "my neighbour", "the captain", "a farmer", "the doctor", "our guide", "the painter",
          "a student", "the mayor", "my brother")
THINGS = ("bread", "a bicycle", "flowers", "a map", "coffee", "a ticket", "paint", "a lamp", "fish", "a book")
PLACES = ("market", "harbour", "library", "station", "garden", "museum", "village", "kitchen")
GOOD = ("wonderful", "excellent", "delightful", "superb", "charming", "brilliant", "lovely", "moving")
BAD = ("dreadful", "boring", "awful", "clumsy", "tedious", "disappointing", "dull", "painful")
SUBJECTS = ("film", "concert", "meal", "book", "play", "exhibition", "album", "game")
REVIEWS = ("The {s} at the {p} was {w}.", "I found the {s} {w} from start to end.",
           "Everyone said the {s} near the {p} felt {w}.", "What a {w} {s} that was.")
REVIEW_PROMPTS = {"train": 128, "validation": 32}
CONTINUE = "Continue the review: "


def _sentiment(rng: random.Random) -> tuple[list[str], list[str]]:
    label = rng.randint(0, 1)
    word = rng.choice(GOOD if label else BAD)
    subject, place = rng.choice(SUBJECTS), rng.choice(PLACES)
    template = rng.choice(REVIEWS)
    return ["sentence", "label"], [template.format(s=subject, p=place, w=word), str(label)]


def _inference(rng: random.Random) -> tuple[list[str], list[str]]:
    person, thing, place = rng.choice(PEOPLE), rng.choice(THINGS), rng.choice(PLACES)
    premise = f"In the {place}, {person} bought {thing} and carried it home."
    if rng.random() < 0.5:
        hypothesis, label = rng.choice((f"{person.capitalize()} bought {thing}.",
                                        f"{person.capitalize()} went to the {place}.")), "entailment"
    elif rng.random() < 0.5:
        other = rng.choice([p for p in PEOPLE if p != person])
        hypothesis, label = f"{other.capitalize()} bought {thing}.", "not_entailment"
    else:
        other = rng.choice([t for t in THINGS if t != thing])
        hypothesis, label = f"{person.capitalize()} bought {other}.", "not_entailment"
    return ["premise", "hypothesis", "label"], [premise, hypothesis, label]


def _paraphrase(rng: random.Random) -> tuple[list[str], list[str]]:
    words = [rng.choice(PEOPLE), rng.choice(THINGS), rng.choice(PLACES), rng.choice(SUBJECTS)]
    other = [w if rng.random() < rng.random() else rng.choice(pool)
             for w, pool in zip(words, (PEOPLE, THINGS, PLACES, SUBJECTS))]
    shared = sum(a == b for a, b in zip(words, other))
    first = f"{words[0].capitalize()} took {words[1]} to the {words[2]} after the {words[3]}."
    second = f"After the {other[3]}, {other[0]} brought {other[1]} to the {other[2]}."
    return ["sentence1", "sentence2", "score"], [first, second, f"{5 * shared / 4:.2f}"]


def _story(rng: random.Random) -> tuple[list[str], list[str]]:
    person, thing, place = rng.choice(PEOPLE), rng.choice(THINGS), rng.choice(PLACES)
    context = f"{person.capitalize()} walked to the {place}. There was {thing} for sale at a good price."
    right = f"So {person} bought {thing}."
    wrong = [f"So {person} bought {rng.choice([t for t in THINGS if t != thing])}.",
             f"So {person} sold {thing} at the {rng.choice([p for p in PLACES if p != place])}."]
    endings = [right, *wrong[: rng.randint(1, 2)]]
    rng.shuffle(endings)
    padded = endings + [""] * (3 - len(endings))
    return ["context", "ending1", "ending2", "ending3", "answer"], [context, *padded,
                                                                     str(endings.index(right) + 1)]


TASKS = {"sentiment": _sentiment, "inference": _inference, "paraphrase": _paraphrase, "story": _story}


def write_tasks(directory: Path, seed: int = 7) -> bool:
    """Write every task's splits as TSV under `directory`; True if any file changed."""
    changed = False
    for offset, (name, make) in enumerate(TASKS.items()):
        rng = random.Random(seed * 100 + offset)
        for split, rows in SPLITS.items():
            lines = []
            for _ in range(rows):
                header, values = make(rng)
                lines.append("\t".join(values))
            text = "\t".join(header) + "\n" + "\n".join(lines) + "\n"
            changed |= write_if_changed(directory / name / f"{split}.tsv", text.encode())
    return changed


def write_review_prompts(directory: Path, seed: int = 7) -> bool:
    """Sentiment control's prompts (Ziegler et al. 2019, at the sample's scale), as
    `<directory>/{train,validation}.jsonl`: the sentiment task's review sentences cut before their
    judgement word, for the align stage to continue while the fine-tuned sentiment classifier rewards
    the continuation. True if a file changed."""
    rng, changed = random.Random(seed), False
    for split, count in REVIEW_PROMPTS.items():
        openings = [rng.choice(REVIEWS).split("{w}")[0].format(s=rng.choice(SUBJECTS), p=rng.choice(PLACES))
                    for _ in range(count)]
        lines = "".join(json.dumps({"prompt": CONTINUE + opening.strip()}) + "\n" for opening in openings)
        changed |= write_if_changed(directory / f"{split}.jsonl", lines.encode())
    return changed
