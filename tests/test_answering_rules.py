"""Questions about the countries a partner may be in: lists read from passages, newest first."""

from __future__ import annotations

from kp_assistant.answering.question import Question
from kp_assistant.answering.rules import (
    CountryList,
    asked_countries,
    asks_for_countries,
    country_rule_answer,
    extract_country_lists,
)
from kp_assistant.models import Chunk


def chunk(text: str, heading: str = "Samarbetsländer", cid: str = "c1",
          title: str = "Programmet") -> Chunk:
    return Chunk(cid, f"{cid}.md", None, title, heading, text, "h")


def lists_of(*chunks: Chunk) -> list[CountryList]:
    return extract_country_lists(chunks)


OLD = chunk("Programmet har länge haft en längre lista.\n"
            "Tidigare kunde partnern finnas i Peru, Chile, Ecuador och Bolivia.", cid="old")
NEW = chunk("Den nuvarande listan över länder omfattar Chile, Bolivia och Paraguay.", cid="new")
TABLE = chunk("Så här ser listan ut i dag:\n| Region | Länder |\n|---|---|\n"
              "| Anderna | Chile, Bolivia |\n| Södra konen | Paraguay, Uruguay |",
              heading="Aktuella länder", cid="table")


def test_a_list_is_dated_by_its_own_words() -> None:
    found = {u.chunk.id: u for u in lists_of(OLD, NEW)}
    assert found["old"].recency == -1 and found["new"].recency == 1
    assert found["old"].countries == {"Peru", "Chile", "Ecuador", "Bolivia"}


def test_table_rows_under_a_lead_in_make_one_list() -> None:
    (table,) = lists_of(TABLE)
    assert table.countries == {"Chile", "Bolivia", "Paraguay", "Uruguay"}
    assert table.recency == 1  # "i dag" in the lead-in, "Aktuella" in the heading


def test_a_denying_clause_names_no_country_of_the_list() -> None:
    text = ("Listan omfattar 19 länder: Kenya, Uganda, Tanzania, nu utan Namibia men med "
            "Zambia.\nMoçambique och Namibia saknas i den nuvarande listan.")
    (found,) = lists_of(chunk(text))
    assert found.countries == {"Kenya", "Uganda", "Tanzania", "Zambia"}


def test_a_sentence_broken_over_lines_stays_one_list() -> None:
    text = "Partnern kunde finnas i något av följande länder: Kenya, Uganda,\nTanzania, Zambia"
    (found,) = lists_of(chunk(text))
    assert found.countries == {"Kenya", "Uganda", "Tanzania", "Zambia"}


def test_countries_named_without_a_word_for_countries_are_no_list() -> None:
    text = "Delegationer från Kenya, Uganda och Tanzania besökte Umeå."
    assert lists_of(chunk(text, heading="Besök")) == []


def test_a_list_that_says_it_is_later_is_split_from_the_one_before() -> None:
    text = ("I frågor och svar anges 19 länder: Georgien, Turkiet, Kenya och Zambia En senare "
            "version av listan omfattar Kenya, Zambia och Colombia.")
    found = lists_of(chunk(text))
    assert {frozenset(u.countries) for u in found} == {
        frozenset({"Georgien", "Turkiet", "Kenya", "Zambia"}),
        frozenset({"Kenya", "Zambia", "Colombia"})}
    assert [u.recency for u in found] == [0, 1]


def test_yes_no_follows_the_current_list_and_names_the_older_one() -> None:
    lists = lists_of(OLD, NEW)
    no = country_rule_answer(Question.parse("Kan vi samarbeta med en kommun i Peru?"), lists, {})
    assert no is not None and no.text.startswith("Nej, Peru finns inte med")
    assert "Peru fanns med" in no.text  # the older list that held it
    assert {c.chunk_id for c in no.citations} == {"old", "new"}
    yes = country_rule_answer(Question.parse("Kan vår partner ligga i Paraguay?"), lists, {})
    assert yes is not None and yes.text.startswith("Ja, Paraguay finns med")
    english = country_rule_answer(Question.parse("Can our partner be in Peru?"), lists, {})
    assert english is not None and english.text.startswith("No, Peru is not")


def test_without_a_current_list_the_answer_says_it_is_unsure() -> None:
    undated = chunk("Partnern kan finnas i dessa länder: Kenya, Uganda och Tanzania.", cid="u")
    lists = lists_of(OLD, undated)
    text = country_rule_answer(Question.parse("Kan vi ha en partner i Peru?"), lists, {})
    assert text is not None and "säger inte tydligt" in text.text
    none = country_rule_answer(Question.parse("Kan vi ha en partner i Brasilien?"), lists, {})
    assert none is not None and none.text.startswith("Nej, Brasilien finns inte med i någon")


def test_which_countries_gives_the_current_lists_first() -> None:
    q = Question.parse("Vilka länder kan partnern finnas i?")
    assert asks_for_countries(q)
    answer = country_rule_answer(q, lists_of(OLD, NEW), {})
    assert answer is not None
    assert answer.text.index("Paraguay") < answer.text.index("Ecuador")


def test_only_questions_about_what_is_allowed_are_rule_questions() -> None:
    assert asked_countries(Question.parse("Får vi ha en partnerkommun i Peru?")) == ["Peru"]
    assert asked_countries(Question.parse("Är Peru ett av samarbetsländerna?")) == ["Peru"]
    # a question about something else that names a country
    assert asked_countries(Question.parse("Måste vår partner i Peru delta i kursen?")) == []
    assert not asks_for_countries(Question.parse("Hur mycket kan en partner i Afrika få?"))
    assert country_rule_answer(Question.parse("Vad gör Umeå i Peru?"), lists_of(NEW), {}) is None


def test_lists_survive_the_registry_file() -> None:
    (found,) = lists_of(NEW)
    again = CountryList.from_json(found.to_json())
    assert again.countries == found.countries and again.text == found.text
    assert (again.recency, again.chunk.id) == (1, "new")


def test_the_same_list_in_two_documents_is_cited_from_both() -> None:
    copy = chunk("Den nuvarande listan över länder omfattar Chile, Bolivia och Paraguay.",
                 cid="copy")
    answer = country_rule_answer(Question.parse("Kan vi ha en partner i Chile?"),
                                 lists_of(OLD, NEW, copy), {})
    assert answer is not None
    # one line for the list, with both documents as its sources
    assert answer.text.count("Chile, Bolivia och Paraguay") == 1
    assert {c.source for c in answer.citations} >= {"new.md", "copy.md"}
    line = next(ln for ln in answer.text.splitlines() if "Paraguay" in ln)
    assert line.endswith("[1][2]")


def test_sentences_naming_the_asked_country_outside_the_lists_follow_them() -> None:
    network = chunk("Nätverket för jämställdhet har partner i Bolivia.", cid="net")
    passages = [(NEW.text, NEW), ("Mötet hölls i Umeå.", network),
                (network.text, network), (network.text, network)]
    answer = country_rule_answer(Question.parse("Kan vi ha en partner i Bolivia?"),
                                 lists_of(OLD, NEW), {}, passages)
    assert answer is not None
    lines = answer.text.splitlines()
    at = lines.index("Dokumenten nämner också Bolivia här:")
    assert lines[at + 1] == f"- {network.text} [2]"  # once, though retrieved twice
    assert "Umeå" not in answer.text  # it does not name the country
    assert sum(c.chunk_id == "net" for c in answer.citations) == 1
    # no sentence names Peru outside a list: no such heading
    peru = country_rule_answer(Question.parse("Kan vi ha en partner i Peru?"),
                               lists_of(OLD, NEW), {}, passages)
    assert peru is not None and "nämner också" not in peru.text
