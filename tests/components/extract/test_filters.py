import pytest

from webtext.components.config import (
    C4Config,
    FilterConfig,
    FineWebConfig,
    GopherQualityConfig,
    GopherRepetitionConfig,
)
from webtext.components.errors import ConfigError
from webtext.components.extract.filters import FILTER_NAMES, Doc, build_filters, judge

PARAGRAPHS = [
    "The city council voted on Tuesday to expand the bus network, adding three routes that will connect "
    "the northern suburbs with the hospital and the university. The decision followed two years of "
    "complaints from residents who said that the existing service was slow and unreliable.",
    "Officials said the new routes would start running in the spring. Each bus will arrive every twelve "
    "minutes during the morning and evening rush, and every twenty minutes for the rest of the day. The "
    "service will cost about four million dollars a year, most of it paid by a regional transport grant.",
    "Not everyone on the council was convinced. Two members argued that the money would be better spent "
    "on repairing roads, which have been damaged by a series of harsh winters. They also questioned "
    "whether enough people would use the buses to justify the expense.",
    "Supporters pointed to a survey of more than three thousand households. Nearly half of those who "
    "answered said they would take the bus to work if the journey took less than forty minutes. Many "
    "older residents said they had stopped visiting the hospital because they could no longer drive.",
    "The transport department will hold public meetings next month to discuss the exact location of the "
    "new stops. Residents can also send comments by post or through the city website until the end of "
    "March. A final timetable is expected to be published in early April.",
    "Similar projects in other cities have had mixed results. In some places the new buses were full "
    "within a year, while in others they ran almost empty until the routes were changed. Transport "
    "experts say that the key to success is a service that people can rely on, with buses that arrive "
    "when the timetable says they will.",
]
ARTICLE = "\n\n".join(PARAGRAPHS)
URL = "https://news.example.com/2019/03/buses"
PLACEHOLDER = "Lorem ipsum dolor sit amet, consectetur adipiscing elit."


def only(name: str, config: FilterConfig | None = None):
    """The filter called `name`, built from `config` (the defaults when None)."""
    [found] = [f for f in build_filters(config or FilterConfig()) if f.name == name]
    return found


def check(name: str, text: str, config: FilterConfig | None = None) -> str | None:
    """Run the one filter called `name` on `text`; its reason, or None when it keeps the text."""
    keep, reason = only(name, config)(Doc(text=text, url=URL))
    assert keep == (reason is None)
    return reason


def test_filters_run_in_the_documented_order():
    assert [f.name for f in build_filters(FilterConfig())] == list(FILTER_NAMES)


def test_a_plain_article_is_kept_and_labelled_english():
    assert len(ARTICLE.split()) > 250
    doc = Doc(text=ARTICLE, url=URL)
    assert judge(doc, build_filters(FilterConfig())) is None
    assert doc.lang == "en" and doc.lang_score >= 0.65
    assert doc.text == ARTICLE


def test_the_earlier_failing_filter_is_reported():
    filters = build_filters(FilterConfig())
    wiki_stub = Doc(text="Ein kurzer Text.", url=URL, final_url="https://de.wikipedia.org/wiki/Bus")
    assert judge(wiki_stub, filters) == "wikipedia"
    assert judge(Doc(text="Der Stadtrat hat am Dienstag abgestimmt.", url=URL), filters) == "too_short"
    repeated = "\n\n".join(PARAGRAPHS[:2] * 3)
    assert check("fineweb", repeated) == "fineweb:char_dup_ratio"
    assert judge(Doc(text=repeated, url=URL), filters) == "gopher_repetition:dup_para_frac"


@pytest.mark.parametrize("field, url", [
    ("final_url", "https://en.wikipedia.org/wiki/Bus_rapid_transit"),
    ("canonical_url", "https://en.wikipedia.org/wiki/Bus_rapid_transit"),
    ("final_url", "https://EN.M.Wikipedia.org./wiki/Bus"),
    ("final_url", "https://wikipedia.org/"),
    ("url", "https://en.wikipedia.org/wiki/Bus"),  # no redirect recorded: the link itself is final
])
def test_wikipedia_is_dropped_by_final_or_canonical_host(field, url):
    doc = Doc(text=ARTICLE, url=URL)
    setattr(doc, field, url)
    assert judge(doc, build_filters(FilterConfig())) == "wikipedia"


@pytest.mark.parametrize("url", [
    "https://notwikipedia.org/wiki/Bus", "https://wikipedia.org.example.com/wiki/Bus",
    "https://example.com/wikipedia.org", "http://[broken/",
])
def test_other_hosts_are_not_wikipedia(url):
    doc = Doc(text=ARTICLE, url=URL, final_url=url, canonical_url=url)
    assert only("wikipedia")(doc) == (True, None)


def test_too_short():
    assert check("too_short", ARTICLE) is None
    assert check("too_short", PARAGRAPHS[0]) == "too_short"


GERMAN = (
    "Der Stadtrat hat am Dienstag beschlossen, das Busnetz zu erweitern. Drei neue Linien sollen die "
    "nördlichen Vororte mit dem Krankenhaus und der Universität verbinden. Der Entscheidung gingen zwei "
    "Jahre voller Beschwerden von Anwohnern voraus, die den bisherigen Dienst für langsam und "
    "unzuverlässig hielten. Die neuen Linien sollen im Frühjahr den Betrieb aufnehmen."
)
FRENCH = (
    "Le conseil municipal a voté mardi l'extension du réseau de bus. Trois nouvelles lignes relieront les "
    "banlieues du nord à l'hôpital et à l'université. Cette décision fait suite à deux années de plaintes "
    "d'habitants qui jugeaient le service actuel lent et peu fiable. Les nouvelles lignes devraient "
    "entrer en service au printemps."
)


@pytest.mark.parametrize("text, lang", [(GERMAN, "de"), (FRENCH, "fr")])
def test_other_languages_are_dropped(text, lang):
    doc = Doc(text=text, url=URL)
    assert judge(doc, build_filters(FilterConfig(min_words=10))) == "language"
    assert doc.lang == lang and doc.lang_score < 0.65


def test_the_kept_language_is_configurable():
    doc = Doc(text=GERMAN, url=URL)
    assert only("language", FilterConfig(language="de"))(doc) == (True, None)
    assert doc.lang_score >= 0.65
    assert check("language", ARTICLE, FilterConfig(language="de")) == "language"


def test_an_unknown_language_is_a_config_error():
    with pytest.raises(ConfigError, match=r"extract\.filters\.language.*'klingon'"):
        build_filters(FilterConfig(language="klingon"))


# Every paragraph ends with the same sentence: no line repeats, but its 5-grams do.
REFRAIN = "Remember that every bus in the new network will stop at the central station near the old market."
ECHOED = "\n\n".join(f"{paragraph} {REFRAIN}" for paragraph in PARAGRAPHS)


def test_gopher_repetition():
    assert check("gopher_repetition", ARTICLE) is None
    reprinted = "\n\n".join(PARAGRAPHS + PARAGRAPHS[:3])
    assert check("gopher_repetition", reprinted) == "gopher_repetition:dup_para_frac"
    menu = "\n".join(PARAGRAPHS[:3] + ["Subscribe to our newsletter for daily updates."] * 3)
    assert check("gopher_repetition", menu) == "gopher_repetition:dup_line_frac"
    chant = "We said it was " + "very good " * 30 + "and then we left."
    assert check("gopher_repetition", chant) == "gopher_repetition:top_2gram"
    assert check("gopher_repetition", ECHOED) == "gopher_repetition:dup_5gram"


def test_gopher_repetition_thresholds_come_from_the_config():
    lenient = GopherRepetitionConfig(dup_ngram_char_frac={5: 0.5})
    assert check("gopher_repetition", ECHOED, FilterConfig(gopher_repetition=lenient)) is None


KEYWORDS = (
    "Cheap flights Paris London Rome Berlin Madrid Lisbon Vienna Prague Budapest Warsaw Dublin Athens. "
    "Best hotel deals, last minute offers, discount codes, vouchers, coupons, cashback, rewards. "
    "Compare prices across airlines: Ryanair, Lufthansa, Iberia, Alitalia, Emirates, Qatar Airways. "
    "Book now, pay later. Free cancellation. Instant confirmation. Secure payment. Customer support. "
    "Weekend breaks, city trips, beach holidays, ski resorts, cruises, package tours, honeymoons."
)


@pytest.mark.parametrize("text, rule", [
    (KEYWORDS, "stop_words"),
    ("So it is. " * 30, "mean_word_length"),
    ("Short note with the and of.", "word_count"),
    (PARAGRAPHS[0] + " #bus #city #transit" * 6 + "\n" + PARAGRAPHS[1], "hash_ratio"),
    ("\n".join(f"• Route {n} runs from the station to the hospital and back." for n in range(20)),
     "bullet_lines"),
    ("We waited... and waited... and the bus never came. " * 10, "ellipsis_ratio"),
    ("\n".join([ARTICLE] + [f"Read the rest of story number {n} about the city…" for n in range(4)]),
     "ellipsis_lines"),
    (ARTICLE + "\n" + " ".join(str(1000 + n) for n in range(90)), "non_alpha_words"),
])
def test_gopher_quality(text, rule):
    assert check("gopher_quality", ARTICLE) is None
    assert check("gopher_quality", text) == f"gopher_quality:{rule}"


def test_c4_removes_lines_that_are_not_prose_and_keeps_paragraphs():
    page = "\n".join([
        "Council expands bus network",
        "By Jane Smith",
        "",
        PARAGRAPHS[0],
        "Advertisement",
        PARAGRAPHS[1],
        "",
        "Please enable JavaScript to view the comments powered by Disqus.",
        "",
        PARAGRAPHS[2],
        "This site uses cookies to improve your experience, see our cookie policy.",
        "Read more...",
        "",
        "Share this.",
    ])
    doc = Doc(text=page, url=URL)
    assert only("c4")(doc) == (True, None)
    assert doc.text == f"{PARAGRAPHS[0]}\n{PARAGRAPHS[1]}\n\n{PARAGRAPHS[2]}"


def test_c4_keeps_closing_quotes_and_drops_ellipses():
    quoted = 'The mayor told reporters that the plan was "the best thing we have done in years."'
    curly = "One resident put it simply: “We have waited a very long time for this bus.”"
    trailing = "The new routes will connect the northern suburbs with the hospital and..."
    doc = Doc(text="\n\n".join([PARAGRAPHS[0], quoted, curly, trailing]), url=URL)
    assert only("c4")(doc) == (True, None)
    assert doc.text == "\n\n".join([PARAGRAPHS[0], quoted, curly])


def test_c4_page_rules():
    assert check("c4", ARTICLE) is None
    assert check("c4", ARTICLE + "\n\n" + PLACEHOLDER) == "c4:lorem_ipsum"
    assert check("c4", "Home\nNews\nSport\nWeather\nContact us") == "c4:no_lines"
    assert check("c4", "The council met on Tuesday to vote.\nThe vote passed easily.") == "c4:min_sentences"
    assert check("c4", "The council met on Tuesday. It voted. The plan passed.") is None


CODE_PAGE = "\n\n".join([
    PARAGRAPHS[0],
    "The route planner is a small function that the city published along with the announcement.",
    "function nextBus(stop) {\n  return timetable[stop].find(t => t > now());\n}",
    PARAGRAPHS[1],
])


def test_curly_braces_drop_a_page_only_when_enabled():
    doc = Doc(text=CODE_PAGE, url=URL)
    assert only("c4")(doc) == (True, None)
    assert "nextBus" not in doc.text and PARAGRAPHS[1] in doc.text  # code lines end in no sentence mark
    assert check("c4", CODE_PAGE, FilterConfig(c4=C4Config(curly_brace=True))) == "c4:curly_brace"


def test_c4_line_rules_follow_the_config():
    short = "\n".join(PARAGRAPHS[:2] + ["It works well."])
    doc = Doc(text=short, url=URL)
    only("c4")(doc)
    assert doc.text == "\n".join(PARAGRAPHS[:2])
    lenient = C4Config(min_words_per_line=1, terminal_punctuation=False, javascript_lines=False,
                       policy_lines=False, min_sentences=1)
    page = "Headline without a full stop\nWe use cookies on this site.\nJavaScript is required here."
    doc = Doc(text=page, url=URL)
    assert only("c4", FilterConfig(c4=lenient))(doc) == (True, None)
    assert doc.text == page


def test_fineweb():
    assert check("fineweb", ARTICLE) is None
    menu = "\n".join(["Home", "World news and politics", "Business", "Sport", "Culture", PARAGRAPHS[0],
                      "Contact the newsroom", "Careers at the paper", "Advertise with us"])
    assert check("fineweb", menu) == "fineweb:line_punct_ratio"
    chat = "\n".join(["Yes.", "No, not today.", "Maybe later.", "Sure thing.", PARAGRAPHS[0]])
    assert check("fineweb", chat) == "fineweb:short_line_ratio"
    signed = "\n".join([PARAGRAPHS[0], "Reporting by Jane Smith for the City Desk.", PARAGRAPHS[1],
                        "Reporting by Jane Smith for the City Desk."])
    assert check("fineweb", signed) == "fineweb:char_dup_ratio"
    glossary = "\n".join([
        "Telecommunications infrastructure.", "Intergovernmental responsibilities.",
        "Internationalization requirements.", "Counterintelligence investigations.",
        "Electroencephalography laboratories.", "Uncharacteristically straightforward.",
    ])
    assert check("fineweb", glossary) == "fineweb:list_ratio"


def test_fineweb_counts_a_blank_line_paragraph_break_once():
    single = "\n".join(PARAGRAPHS)
    assert check("fineweb", single) is None
    assert check("fineweb", ARTICLE, FilterConfig(fineweb=FineWebConfig(max_newline_ratio=0.02))) is None
    assert check("fineweb", ARTICLE, FilterConfig(fineweb=FineWebConfig(max_newline_ratio=0.01))) == \
        "fineweb:list_ratio"


def test_disabled_rule_sets_are_skipped():
    off = FilterConfig(gopher_repetition=GopherRepetitionConfig(enabled=False),
                       gopher_quality=GopherQualityConfig(enabled=False),
                       c4=C4Config(enabled=False), fineweb=FineWebConfig(enabled=False))
    filters = build_filters(off)
    assert [f.name for f in filters] == ["wikipedia", "too_short", "language"]
    placeholder = ARTICLE + "\n\n" + PLACEHOLDER
    assert judge(Doc(text=placeholder, url=URL), filters) is None
    assert judge(Doc(text=placeholder, url=URL), build_filters(FilterConfig())) == "c4:lorem_ipsum"
