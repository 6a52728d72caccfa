"""Lists over retrieval: in a long text without sentence borders, such as a table read out of
a PDF, a municipality counts when the topic stands near its name, and its line shows that
part of the text."""

from __future__ import annotations

from kp_assistant.answering.evidence import Candidate
from kp_assistant.answering.listing import (
    LONG_TEXT,
    enumerated_names,
    enumerations,
    list_answer,
    with_enumerations,
)
from kp_assistant.answering.question import Question
from kp_assistant.index.keyword import tokenize
from kp_assistant.models import Answer, Chunk, Hit

ROWS = [
    "Arvika kommun | Nakuru | dricksvatten och avlopp för skolorna i staden | sedan 2019",
    "Kalix kommun | Masaka | plast i skolan och ungas kunskap om miljö | sedan 2018",
    "Forshaga kommun | Ternopil | krisberedskap och räddningstjänst | sedan 2024",
    "Växjö kommun | JB Marks | Agenda 2030 i stadens planering och budget | sedan 2016",
]
TABLE = " ".join(ROWS)  # the row borders lost, as pypdf reads some tables


def candidate(text: str, matched: set[str]) -> Candidate:
    chunk = Chunk("t-0000", "tabell.pdf", 2, "Översikt", "Partnerskap", text, "h")
    return Candidate(sentence=text, hit=Hit(chunk, 1.0), index=0, rank=0, coverage=1.0,
                     matched=matched, score=0.9)


def test_only_the_municipality_near_the_topic_is_listed_with_its_part_of_the_text() -> None:
    assert len(TABLE.split()) > LONG_TEXT
    q = Question.parse("Vilka kommuner arbetar med dricksvatten?")
    answer = list_answer(q, [candidate(TABLE, {"dricksvat"})], {"dricksvat": 3.0})
    assert answer is not None
    lines = answer.text.splitlines()
    assert lines[0] == "Jag hittade 1 kommun eller region i 1 dokument:"
    assert lines[1].startswith("- Arvika kommun: … Arvika kommun | Nakuru | dricksvatten")
    assert "Växjö" not in lines[1]  # the line shows the part about Arvika, not the table
    assert answer.citations[0].quote == TABLE  # the citation keeps the whole passage


def test_a_sentence_of_ordinary_length_counts_as_a_whole() -> None:
    text = ("Arvika och Kalix kommun deltar båda, men bara den ena arbetar med dricksvatten, "
            "och det står i ansökan.")
    assert len(text.split()) <= LONG_TEXT
    q = Question.parse("Vilka kommuner arbetar med dricksvatten?")
    answer = list_answer(q, [candidate(text, {"dricksvat"})], {"dricksvat": 3.0})
    assert answer is not None
    assert [ln.split(":")[0] for ln in answer.text.splitlines()[1:]] == [
        "- Arvika kommun", "- Kalix kommun"]
    assert all(text in ln for ln in answer.text.splitlines()[1:])


def test_a_compound_kind_is_what_each_line_must_say() -> None:
    """"Vilka vänortssamarbeten …" lists the municipalities whose sentence names a
    vänortssamarbete; one that only shares the question's other words is no line."""
    q = Question.parse("Vilka vänortssamarbeten med en skola i Kenya nämns i rapporterna?")
    assert q.wants_list and q.lists is not None
    twin = "Härnösand har sedan 2011 ett vänortssamarbete med Nakuru i Kenya kring skolor."
    other = "Mora nämns i rapporterna för en skola i Kenya som besöktes."
    weights = {t: 2.0 for t in q.terms}
    answer = list_answer(q, [candidate(text, q.matched(tokenize(text))) for text in (other, twin)],
                         weights)
    assert answer is not None
    assert [ln.split(":")[0] for ln in answer.text.splitlines()[1:]] == ["- Härnösands kommun"]


def test_only_a_compound_that_names_a_subkind_narrows_the_list() -> None:
    assert Question.parse("Vilka vänortssamarbeten finns det?").lists == "vänortssamarbet"
    # the kind with a word of the kind before it is still the whole kind
    for text in ("Vilka partnerkommuner finns i Kenya?", "Vilka kommuner arbetar med plast?",
                 "Vilka partnerskapsprojekt beviljades 2022?"):
        q = Question.parse(text)
        assert q.wants_list and q.lists is None, text


ADMITTED = ("I december 2020 meddelade ICLD att de första kommunerna hade antagits: Falun, "
            "Bollnäs, Ovanåker och Lund, med partner i Sydafrika, Botswana och Zambia.")


def test_names_joined_in_one_coordination_are_read_without_the_countries() -> None:
    assert enumerated_names(ADMITTED) == ["Falun", "Bollnäs", "Ovanåker", "Lund"]
    # the run may stop inside a clause
    assert enumerated_names("Kommunerna Umeå, Luleå och Piteå deltar.")[-2:] == ["Luleå", "Piteå"]
    assert enumerated_names("Nätverket omfattade 16 kommuner, åtta svenska och åtta "
                            "afrikanska.") == []
    assert enumerated_names("Herrljunga samarbetar med Ternopil i Ukraina och Ukmergė i "
                            "Litauen.") == []


def test_a_sentence_naming_more_of_the_set_is_quoted_after_the_list() -> None:
    listed = Answer(question="q", text="1 partnerskap i 1 dokument:\n- Falu kommun – Mogale",
                    grounded=True)
    first = candidate(ADMITTED, set())
    weak = candidate("Pressmeddelandet nämnde Umeå, Luleå och Piteå i förbigående.", set())
    weak.score = 0.3  # far below the best candidate: not looked at
    q = Question.parse("Vilka kommuner antogs först till nätverket?")
    found = enumerations(q, [first, weak], listed)
    assert found == [first]
    answer = with_enumerations(listed, found, "sv")
    lines = answer.text.splitlines()
    assert lines[2] == "Uppräknade tillsammans i dokumenten:"
    assert lines[3] == f"- «{ADMITTED}» [1]"
    assert answer.citations[0].quote == ADMITTED and answer.citations[0].page == 2
    # a list that already names them all gets nothing more
    named = Answer(question="q", text="Falun, Bollnäs, Ovanåker, Lund", grounded=True)
    assert enumerations(q, [first], named) == []
    # names of another kind than the municipalities asked for are no such sentence
    bodies = candidate("Regionen samarbetar med Karolinska Institutet, Pediatric Health "
                       "Initiative och Astrid Lindgrens barnsjukhus.", set())
    assert enumerations(q, [bodies], listed) == []
    asked_partners = Question.parse("Vilka partnerskap finns i nätverket?")
    assert enumerations(asked_partners, [bodies], listed) == [bodies]
