"""Open-vocabulary topics: a list question about a word outside the taxonomy finds the
partnerships whose own sentences use it, cites those sentences, and a word no document uses
finds nothing."""

from __future__ import annotations

from pathlib import Path

from conftest import hashing, write_files
from kp_assistant.answering.question import Question
from kp_assistant.assistant import Assistant
from kp_assistant.models import Chunk
from kp_assistant.registry.aggregate import answer_from_registry
from kp_assistant.registry.records import extract, merge
from kp_assistant.registry.themes import mentions_topic, taxonomy, topic_words

TEXTS = {
    "eksjo.md": ("Eksjö kommun har sedan 2021 ett partnerskap med Mangochi i Malawi.\n"
                 "Samarbetet gäller hållbar turism kring sjön och lokala guider."),
    "mora.md": ("Mora kommun och Kitwe i Zambia har ett kommunalt partnerskap.\n"
                "Projektet handlar om avfallshantering på marknaderna."),
    "ydre.md": "Ydre kommun samarbetar med Zomba i Malawi om ungas inflytande i skolan.",
}


def groups():  # type: ignore[no-untyped-def]
    chunks = [Chunk(id=f"{src}-0000", source=src, page=None, title="", heading="", text=text,
                    doc_hash="t") for src, text in TEXTS.items()]
    return merge(extract(chunks))


def test_tourism_is_no_theme_of_the_taxonomy() -> None:
    # the point of the test: the match below cannot come from the fixed list
    assert not any("turism" in " ".join(w) for t in taxonomy() for w in t.terms)


def test_a_tourism_question_finds_the_tourism_partnership_and_cites_both_sentences() -> None:
    answer = answer_from_registry(Question.parse("Vilka kommuner arbetar med turism?"), groups())
    assert answer is not None and answer.grounded
    assert answer.text.splitlines()[0] == "1 partnerskap i 1 dokument:"
    assert "Eksjö kommun – Mangochi (Malawi)" in answer.text
    assert "Kitwe" not in answer.text and "Zomba" not in answer.text
    quotes = [c.quote for c in answer.citations]
    assert any("partnerskap med Mangochi" in q for q in quotes)  # states the pair
    assert any("hållbar turism" in q for q in quotes)  # shows the topic


def test_a_word_no_document_uses_lists_no_partnership(tmp_path: Path) -> None:
    question = "Vilka kommuner arbetar med rymdfart?"
    # the registry finds no partnership on it and leaves the question to the passages ...
    assert answer_from_registry(Question.parse(question), groups()) is None
    # ... which refuse it: no document uses the word
    assistant = Assistant.from_settings(hashing(tmp_path, write_files(tmp_path / "corpus", TEXTS)))
    try:
        assert not assistant.ingest().failed
        answer = assistant.ask(question)
    finally:
        assistant.store.close()
    assert not answer.grounded, answer.text
    assert answer.citations == []


def test_topic_words_leave_out_places_and_the_partnership_vocabulary() -> None:
    assert topic_words("Vilka kommuner arbetar med turism i Malawi?") == (("turism",),)
    assert topic_words("Vilka svenska kommuner har partners i Botswana?") == ()
    assert topic_words("Which municipalities work on digital services?") == (
        ("digital", "services"),)
    assert topic_words("Vad ska parterna arbeta med i sitt nya projekt?") == ()
    assert topic_words("Vilka partnerskap handlar om fiske eller sjöfart?") == (
        ("fiske",), ("sjöfart",))


def test_every_word_of_an_alternative_must_stand_in_one_sentence() -> None:
    topic = topic_words("Vilka kommuner arbetar med personer med funktionsnedsättning?")
    assert mentions_topic("Stöd till personer med funktionsnedsättning i skolan.", topic)
    assert not mentions_topic("Tre personer reste till Zomba.", topic)


def test_topic_words_match_inside_compounds() -> None:
    assert mentions_topic("Ekoturismen växer i regionen.", (("turism",),))
    assert not mentions_topic("Turordningen gäller alla.", (("turism",),))


def test_compound_topic_words_match_their_parts() -> None:
    topic = (("krisberedskap",),)
    assert mentions_topic("Poltava lär Kalmar om beredskap och krishantering.", topic)
    assert not mentions_topic("Beredskap inför valet.", topic)  # the first part is missing
    assert mentions_topic("Hantering av avfall i staden.", (("avfallshantering",),))


def test_topic_words_leave_out_parts_of_the_world() -> None:
    assert topic_words("Vilka kommuner arbetar med sophantering i sina afrikanska "
                       "partnerskap?") == (("sophantering",),)


# A report about one partnership: most of its lines name neither party.
REPORT = [
    ("Slutrapport: Hallsberg och Chipata", "Om projektet",
     "Rapporten beskriver partnerskapet mellan Hallsbergs kommun och Chipata i Zambia.\n"
     "Under 2019 byggdes en återvinningsstation vid marknaden.\n"
     "Eleverna lärde sig att sköta en kompost."),
    ("Slutrapport: Hallsberg och Chipata", "Tidigare projekt",
     "Projekt inom partnerskapet Hallsberg–Kasama\n"
     "Vattenrening 2012–2014"),
]


def report_groups():  # type: ignore[no-untyped-def]
    chunks = [Chunk(id=f"r-{i:04d}", source="rapport.md", page=None, title=title,
                    heading=heading, text=text, doc_hash="r")
              for i, (title, heading, text) in enumerate(REPORT)]
    return merge(extract(chunks))


def test_lines_of_a_passage_about_one_partnership_describe_it() -> None:
    by_partner = {g.partner: g for g in report_groups()}
    chipata = by_partner["Chipata"]
    described = [m.sentence for m in chipata.context]
    assert "Under 2019 byggdes en återvinningsstation vid marknaden." in described
    assert "Eleverna lärde sig att sköta en kompost." in described
    # describing lines set no year or theme of the partnership: they only answer topics
    assert 2019 not in chipata.years
    # the line under a caption naming another partnership describes that one
    assert [m.sentence for m in by_partner["Kasama"].context] == ["Vattenrening 2012–2014"]
    assert "Vattenrening 2012–2014" not in described


def test_a_topic_question_finds_a_partnership_by_a_line_about_it() -> None:
    answer = answer_from_registry(
        Question.parse("Vilka kommuner arbetar med kompost?"), report_groups())
    assert answer is not None and answer.grounded
    assert answer.text.splitlines()[0] == "1 partnerskap i 1 dokument:"
    assert "Hallsbergs kommun – Chipata (Zambia)" in answer.text
    assert "tema: «Eleverna lärde sig att sköta en kompost.»" in answer.text


def test_a_pair_only_a_title_names_is_no_partnership() -> None:
    chunks = [Chunk(id="t-0000", source="t.md", page=None, title="Hallsberg och Chipata",
                    heading="", text="Eleverna lärde sig att sköta en kompost.", doc_hash="t")]
    assert merge(extract(chunks)) == []


def test_what_a_topic_learns_from_one_sentence_does_not_leak_into_the_next() -> None:
    topic = (("krisberedskap",), ("vattenrening",))
    sentences = [
        ("Beredskap inför valet.", False),
        ("Poltava lär Kalmar om beredskap och krishantering.", True),
        ("Kristallen glimmar.", False),
        ("Rening av vatten i byarna.", True),
        ("Beredskap inför valet.", False),  # asked again, after the parts were seen elsewhere
    ]
    assert [mentions_topic(text, topic) for text, _ in sentences] == [m for _, m in sentences]
    # a set of words (all the words of a partnership's sentences) is read the same way
    words = frozenset("beredskap inför valet glasbruket glimmar".split())
    assert not mentions_topic(words, topic)
    assert mentions_topic(words | {"krishantering"}, topic)
