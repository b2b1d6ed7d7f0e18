"""The sample's instruction sets: demonstrations and comparisons about the articles its web serves.

Supervised fine-tuning and reward modelling mean something only on questions the model could answer:
the sample's model learns from the articles its web serves, so these sets ask about those articles and
take every right answer word for word from their text, never inventing one. They ship as the sample's
other files do: built offline, the same bytes every time for one Python install.

- demonstrations (`{"prompt", "response"}` per JSON line, and ~15% two-exchange `{"messages"}`
  dialogues, a follow-up question about the same article): what an article is about (the first
  sentence of its opening paragraph that fits), what it says about a word (the one sentence of the
  article holding the word), the rest of a sentence whose first half is given, and the title of the
  article a sentence comes from. Splits `train` (240) and `validation` (48).
- comparisons (`{"prompt", "chosen", "rejected"}`, and 20% rankings `{"prompt", "answers"}` best
  first, of 3 or 4 answers): the right answer against one that is off topic (a sentence of another
  article), truncated (the right answer cut mid-sentence) or repetitive (a short phrase of the right
  answer said 3 or 4 times). A ranking orders them right, truncated (true as far as it goes),
  repetitive (on topic but saying nothing), off topic (fluent, but answering another question); one
  of 3 answers leaves one of the wrong kinds out. Splits `train` (240) and `validation` (48), a
  ranking counting as one.
- prompts (`{"prompt"}`, and `{"prompt", "require": [word]}` for a question about a word): the
  questions alone, for reinforcement learning; an answer to a word question that never names the word
  cannot be right, a rule that judges an aligned model apart from any reward model. Splits `train`
  (128) and `validation` (32).

Validation asks about other articles than train (the articles are split, not the records), so a
held-out score is not a score on answers seen in training; an off-topic answer comes from the same
split. Every exchange, rendered as "\\n\\nHuman: {prompt}\\n\\nAssistant: {answer}", is shorter than
MAX_EXCHANGE_CHARS for every answer, right or wrong: the tiny config's model reads 64 tokens of a
512-token BPE at ~2.5-3 characters a token. A dialogue is two such exchanges; where it is longer than
the context, fine-tuning drops its first exchange and still learns the second answer. Sentences have
SENTENCE_WORDS words, whitespace made single spaces. The sizes hold for the tiny config's 8 plain
articles (with the two encoded ones, 10 articles served and kept); too little prose is an error naming
what is short.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from webtext.components.files import write_if_changed
from webtext.components.sample.prose import Article
from webtext.components.sample.prose_tasks import sentences

DEMONSTRATIONS = {"train": 240, "validation": 48}
COMPARISONS = {"train": 240, "validation": 48}
PROMPTS = {"train": 128, "validation": 32}
DIALOGUE_SHARE = 0.15  # of the demonstrations
RANKING_SHARE = 0.20  # of the comparisons
MAX_EXCHANGE_CHARS = 170  # an exchange's rendered HH text is shorter than this
SENTENCE_WORDS = (6, 20)  # the fewest and most words of a sentence given as an answer
TITLE_CHARS = 40  # a longer title is cut (after its source's prefix) at a word in a prompt
MIN_WORD_LETTERS = 5  # a word asked about
WORDS_ASKED = 3  # the most words of one sentence asked about
CUTS = 2  # the most places one sentence is cut to be completed
VALIDATION_SHARE = DEMONSTRATIONS["validation"] / sum(DEMONSTRATIONS.values())

ABOUT = ('What is the article "{title}" about?', 'What is "{title}" about?',
         'Sum up "{title}" in one sentence.', 'In one sentence, what does "{title}" cover?')
WORD = ('What does "{title}" say about {word}?', 'In "{title}", what is said about {word}?',
        'Quote what "{title}" says about {word}.', 'What does the article "{title}" tell us about {word}?')
WORD_FOLLOW_UP = ("And what does it say about {word}?", "What does it say about {word}?",
                  "And about {word}?")
COMPLETE = ("Complete the sentence: {start}", "Continue this sentence: {start}",
            "How does this sentence go on? {start}", "Finish the sentence: {start}")
COMPLETE_FOLLOW_UP = ("Finish its sentence: {start}", "How does its sentence go on? {start}")
TITLE = ("Which article says this? {sentence}", "Name the article this is from: {sentence}",
         "Give the title of this passage: {sentence}", "What is the title of the article that says: "
         "{sentence}")
_RANKED = ("truncated", "repetitive", "off_topic")  # the wrong answers, best first
_STOPWORDS = frozenset(
    "about above after again against among another around based because become becomes before being "
    "below between both cannot could does doing during each either every first following further given "
    "having however instead itself later least little might more most much must neither never other "
    "others otherwise over same second should since such than that their them then there these they "
    "thing things this those though three through thus together under until upon usually using very "
    "were what when whenever where whether which while whose will with within without would your".split()
)


@dataclass(frozen=True)
class _Question:
    kind: str  # about, word, complete or title
    article: int  # its index among the split's articles
    prompt: str
    follow_up: str  # the prompt leaning on an earlier exchange about the same article ("" if none)
    answer: str
    word: str = ""  # the word a `word` question asks about


def rendered(prompt: str, answer: str) -> str:
    """One exchange as the HH chat format renders it (without `<|endoftext|>`)."""
    return f"\n\nHuman: {prompt}\n\nAssistant: {answer}"


def _fits(prompt: str, *answers: str) -> bool:
    return all(len(rendered(prompt, answer)) < MAX_EXCHANGE_CHARS for answer in answers)


def article_sentences(article: Article) -> list[str]:
    """The article's sentences in reading order, whitespace made single spaces."""
    return [s for paragraph in article.paragraphs for s in sentences(paragraph)]


def _short(sentence: str) -> bool:
    low, high = SENTENCE_WORDS
    return low <= len(sentence.split()) <= high


def _title(article: Article) -> str:
    """The title for a prompt: without its source's prefix, cut at a word past TITLE_CHARS, and its
    double quotes made single so that the prompt can quote it."""
    title = " ".join(article.title.split()).rsplit(": ", 1)[-1].replace('"', "'")
    while len(title) > TITLE_CHARS and " " in title:
        title = title.rsplit(" ", 1)[0]
    return title


def _plain_words(sentence: str) -> dict[str, str]:
    """The sentence's alphabetic words, lower-cased, each as it is first written, in order."""
    words: dict[str, str] = {}
    for word in sentence.split():
        word = word.strip(".,;:!?()\"'’“”")
        if word.isalpha():
            words.setdefault(word.lower(), word)
    return words


def _askable(word: str) -> bool:
    """A word worth asking about: long enough, not a function word, and not an adverb or a past
    participle ("what does it say about described?")."""
    return len(word) >= MIN_WORD_LETTERS and word not in _STOPWORDS and not word.endswith(("ed", "ly"))


def split_articles(articles: Sequence[Article], seed: int = 17
                   ) -> tuple[tuple[Article, ...], tuple[Article, ...]]:
    """(train, validation) articles, each in the given order: validation takes articles in a seeded
    order until it holds VALIDATION_SHARE of the answerable sentences, and at least two."""
    if len(articles) < 4:
        raise ValueError(f"the instruct sets need at least 4 articles (2 for each split); "
                         f"got {len(articles)}")
    counts = [sum(map(_short, article_sentences(a))) for a in articles]
    order = list(range(len(articles)))
    random.Random(seed).shuffle(order)
    target, taken = VALIDATION_SHARE * sum(counts), []
    for i in order[:-2]:
        if len(taken) >= 2 and sum(counts[j] for j in taken) >= target:
            break
        taken.append(i)
    return (tuple(a for i, a in enumerate(articles) if i not in taken),
            tuple(a for i, a in enumerate(articles) if i in taken))


def _questions(articles: Sequence[Article], rng: random.Random) -> Iterator[_Question]:
    for index, article in enumerate(articles):
        said = article_sentences(article)
        title = _title(article)
        opening = [s for s in sentences(article.paragraphs[0]) if _short(s)] if article.paragraphs else []
        prompts = [phrasing.format(title=title) for phrasing in ABOUT]
        answer = next((s for s in opening if _fits(max(prompts, key=len), s)), None)
        for prompt in prompts if answer else ():
            yield _Question("about", index, prompt, "", answer)
        holding = Counter(w for s in said for w in _plain_words(s))
        for sentence in filter(_short, said):
            words = [word for low, word in _plain_words(sentence).items()
                     if _askable(low) and holding[low] == 1]
            for word in rng.sample(words, min(WORDS_ASKED, len(words))):
                prompt = rng.choice(WORD).format(title=title, word=word)
                follow_up = rng.choice(WORD_FOLLOW_UP).format(word=word)
                if _fits(prompt, sentence):
                    yield _Question("word", index, prompt, follow_up, sentence, word)
            words = sentence.split()
            for cut in sorted(rng.sample(range(3, len(words) - 2), min(CUTS, len(words) - 5))):
                start, rest = " ".join(words[:cut]), " ".join(words[cut:])
                prompt = rng.choice(COMPLETE).format(start=start)
                follow_up = rng.choice(COMPLETE_FOLLOW_UP).format(start=start)
                if _fits(prompt, rest) and _fits(follow_up, rest):
                    yield _Question("complete", index, prompt, follow_up, rest)
            prompt = rng.choice(TITLE).format(sentence=sentence)
            if _fits(prompt, article.title):
                yield _Question("title", index, prompt, "", " ".join(article.title.split()))


def _interleaved(pools: Sequence[Sequence], count: int) -> list:
    """Up to `count` items taken from the pools in turn, a pool that runs out leaving the turn."""
    out: list = []
    queues = [list(reversed(pool)) for pool in pools if pool]
    while len(out) < count and queues:
        for queue in queues:
            if len(out) < count:
                out.append(queue.pop())
        queues = [queue for queue in queues if queue]
    return out


def _by_kind(questions: Sequence[_Question], kinds: Sequence[str], rng: random.Random
             ) -> list[list[_Question]]:
    pools = [[q for q in questions if q.kind == kind] for kind in kinds]
    for pool in pools:
        rng.shuffle(pool)
    return pools


def _dialogues(questions: Sequence[_Question], count: int, rng: random.Random) -> list[dict]:
    """Two exchanges about one article: an `about` or `word` question, then a `word` or `complete`
    follow-up that leans on it."""
    pools = []
    for index in sorted({q.article for q in questions}):
        openers = [q for q in questions if q.article == index and q.kind in ("about", "word")]
        follow_ups = [q for q in questions if q.article == index and q.kind in ("word", "complete")]
        rng.shuffle(openers)
        rng.shuffle(follow_ups)
        pools.append([(first, second) for first, second in zip(openers, follow_ups)
                      if first.answer != second.answer])
    return [{"messages": [{"role": "user", "content": first.prompt},
                          {"role": "assistant", "content": first.answer},
                          {"role": "user", "content": second.follow_up},
                          {"role": "assistant", "content": second.answer}]}
            for first, second in _interleaved(pools, count)]


def _truncated(answer: str, rng: random.Random) -> str | None:
    """The answer cut after 40-60% of its words, without trailing punctuation: a proper prefix."""
    words = answer.split()
    if len(words) < 4:
        return None
    cut = max(2, rng.randint(len(words) * 2 // 5, len(words) * 3 // 5))
    text = " ".join(words[:cut]).rstrip(".,;:!?")
    return text if text and len(text) < len(answer) else None


def _repetitive(prompt: str, answer: str, rng: random.Random) -> str | None:
    """2-4 consecutive words of the answer, said 3 or 4 times."""
    words = answer.split()
    for size in (min(4, len(words)), 3, 2):
        if size < 2 or size > len(words):
            continue
        at = rng.randint(0, len(words) - size)
        phrase = " ".join(words[at:at + size]).strip(".,;:!?")
        for times in (rng.choice((3, 4)), 3):
            text = " ".join([phrase] * times)
            if phrase and _fits(prompt, text):
                return text
    return None


def _off_topic(question: _Question, others: Sequence[tuple[int, str]], rng: random.Random) -> str | None:
    """A sentence of another article of the split that does not hold the word asked about."""
    for _ in range(20):
        article, sentence = rng.choice(others)
        if (article != question.article and sentence != question.answer and _fits(question.prompt, sentence)
                and question.word.lower() not in _plain_words(sentence)):
            return sentence
    return None


def _wrong(question: _Question, kind: str, others: Sequence[tuple[int, str]], rng: random.Random
           ) -> str | None:
    if kind == "truncated":
        return _truncated(question.answer, rng)
    if kind == "repetitive":
        return _repetitive(question.prompt, question.answer, rng)
    return _off_topic(question, others, rng)


def _comparisons(questions: Sequence[_Question], articles: Sequence[Article], count: int,
                 rng: random.Random) -> list[dict]:
    """`count` comparisons, RANKING_SHARE of them rankings: every question once, then again with
    another wrong answer where there are too few questions."""
    others = [(i, s) for i, a in enumerate(articles) for s in article_sentences(a) if _short(s)]
    pools = _by_kind(questions, ("about", "word", "complete"), rng)
    asked = _interleaved(pools, len(questions))
    rankings = round(count * RANKING_SHARE)
    records: dict[str, dict] = {}
    for turn in range(len(_RANKED)):
        for n, question in enumerate(asked):
            if len(records) == count:
                break
            if len(records) < rankings:
                kinds = list(_RANKED)
                if rng.random() < 0.5:
                    kinds.remove(rng.choice(_RANKED))
                wrong = [_wrong(question, kind, others, rng) for kind in kinds]
                answers = [question.answer, *wrong]
                if all(wrong) and len(set(answers)) == len(answers):
                    record = {"prompt": question.prompt, "answers": answers}
                    records.setdefault(json.dumps(record, ensure_ascii=False), record)
                continue
            rejected = _wrong(question, _RANKED[(n + turn) % len(_RANKED)], others, rng)
            if rejected and rejected != question.answer:
                record = {"prompt": question.prompt, "chosen": question.answer, "rejected": rejected}
                records.setdefault(json.dumps(record, ensure_ascii=False), record)
    return list(records.values())


def _demonstrations(questions: Sequence[_Question], count: int, rng: random.Random) -> list[dict]:
    dialogues = _dialogues(questions, round(count * DIALOGUE_SHARE), rng)
    pools = _by_kind(questions, ("about", "word", "complete", "title"), rng)
    singles: dict[str, dict] = {}
    for question in _interleaved(pools, len(questions)):
        if len(singles) == count - len(dialogues):
            break
        record = {"prompt": question.prompt, "response": question.answer}
        singles.setdefault(json.dumps(record, ensure_ascii=False), record)
    return [*singles.values(), *dialogues]


def _prompts(questions: Sequence[_Question], count: int, rng: random.Random) -> list[dict]:
    """`count` questions alone, the kinds in turn; a `word` question requires its word in the answer."""
    records: dict[str, dict] = {}
    for question in _interleaved(_by_kind(questions, ("about", "word", "complete", "title"), rng),
                                 len(questions)):
        if len(records) == count:
            break
        record = {"prompt": question.prompt, **({"require": [question.word]} if question.word else {})}
        records.setdefault(json.dumps(record, ensure_ascii=False), record)
    return list(records.values())


def _lines(records: list[dict], rng: random.Random) -> bytes:
    rng.shuffle(records)
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode()


def write_instruct_sets(directory: Path, articles: Sequence[Article], seed: int = 17) -> bool:
    """Write `demonstrations/`, `comparisons/` and `prompts/{train,validation}.jsonl` under `directory`,
    asking about `articles`; True if any file changed. Too little prose for a split is an error naming
    it."""
    train, validation = split_articles(articles, seed)
    rng = random.Random(seed)
    changed = False
    for split, chosen in (("train", train), ("validation", validation)):
        questions = list(_questions(chosen, rng))
        demonstrations = _demonstrations(questions, DEMONSTRATIONS[split], rng)
        comparisons = _comparisons(questions, chosen, COMPARISONS[split], rng)
        prompted = random.Random(f"{seed}-prompts-{split}")  # apart: the other sets stay as they were
        prompts = _prompts(questions, PROMPTS[split], prompted)
        for name, records, size in (("demonstrations", demonstrations, DEMONSTRATIONS[split]),
                                    ("comparisons", comparisons, COMPARISONS[split]),
                                    ("prompts", prompts, PROMPTS[split])):
            if len(records) < size:
                raise ValueError(f"the {split} articles ({len(chosen)} of {len(articles)}) yield "
                                 f"{len(records)} {name}; the sample's {split} split needs {size}: "
                                 "serve more articles")
            shuffle = prompted if name == "prompts" else rng
            changed |= write_if_changed(directory / name / f"{split}.jsonl", _lines(records, shuffle))
    return changed
