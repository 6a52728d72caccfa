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
