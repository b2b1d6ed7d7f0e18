"""Harvesting prose: code, sessions, lists and headings are dropped; sentences are kept."""

from webtext.components.sample.prose import MIN_WORDS, handwritten, prose_paragraphs, stdlib_articles

FIRST = "A paragraph of ordinary prose that explains what the statement does and why it matters."
SECOND = "A second paragraph, under a new heading, long enough to count as prose, ends as one."
TEXT = f"""Title
*****

{FIRST}

   for item in items:
       print(item)

>>> print("an interactive session line that looks like a sentence.")

* a bullet item that is long enough to pass the length test and ends with a full stop.

This one introduces a listing and so ends with a colon rather than a full stop, being no sentence:

Section
=======

{SECOND}
"""


def test_prose_paragraphs_keep_sentences_and_their_heading():
    assert list(prose_paragraphs(TEXT)) == [("Title", FIRST), ("Section", SECOND)]


def test_stdlib_articles_are_distinct_long_enough_and_stable_prefixes():
    articles = stdlib_articles(60)
    assert len(articles) == 60 and stdlib_articles(10) == articles[:10]
    assert len({a.title for a in articles}) == len(articles)
    paragraphs = [p for a in articles for p in a.paragraphs]
    assert len(set(paragraphs)) == len(paragraphs)
    assert all(MIN_WORDS <= a.words <= 1500 for a in articles)


def test_handwritten_sections():
    sections = handwritten()
    assert set(sections) == {"de", "fr", "es", "en-accents"}
    assert all(len(v) >= 3 for k, v in sections.items() if k != "en-accents")
    assert sections["en-accents"][0].encode("iso-8859-1")  # every character fits Latin-1
