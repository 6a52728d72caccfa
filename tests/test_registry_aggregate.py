"""Registry answers: aggregate questions, "both rounds" lists, the peer finder, registry sync."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from conftest import hashing, make_corpus
from kp_assistant.answering.question import Question
from kp_assistant.assistant import Assistant
from kp_assistant.cli import main
from kp_assistant.models import Chunk
from kp_assistant.registry.aggregate import (
    answer_both,
    answer_from_registry,
    asks_both,
    both_sources,
    filters_for,
)
from kp_assistant.registry.peers import find_peers
from kp_assistant.registry.records import Mention, PartnershipGroup


def group(swedish: str, partner: str, country: str, themes: tuple[str, ...],
          source: str, years: tuple[int, ...] = (2020,)) -> PartnershipGroup:
    sentence = f"{swedish} och {partner} i {country} arbetar med {', '.join(themes)}."
    return PartnershipGroup(
        swedish=(swedish,), partner=partner, country=country, themes=themes, years=years,
        amounts=(), phases=(), sources=(Mention(source, None, sentence, f"{source}-0"),),
    )


GROUPS = [
    group("Kalix kommun", "Masaka", "Uganda", ("plast", "avfall"), "a.md"),
    group("Region Västernorrland", "Mombasa", "Kenya", ("avfall",), "b.md", (2019,)),
    group("Robertsfors kommun", "Machakos", "Kenya", ("jämställdhet",), "c.md"),
    group("Region Stockholm", "Jinja", "Uganda", ("hälsa",), "d.md", (2022,)),
]


def ask(text: str) -> str:
    answer = answer_from_registry(Question.parse(text), GROUPS)
    assert answer is not None
    return answer.text


def test_theme_question_lists_every_matching_partnership_with_a_count() -> None:
    text = ask("Vilka kommuner arbetar med avfall?")
    assert text.splitlines()[0] == "2 partnerskap i 2 dokument:"
    assert "Kalix kommun – Masaka (Uganda)" in text
    assert "Region Västernorrland – Mombasa (Kenya)" in text
    assert "Machakos" not in text


def test_country_and_theme_filters_combine() -> None:
    text = ask("Vilka partnerskap i Kenya handlar om jämställdhet?")
    assert "Robertsfors" in text and "Mombasa" not in text


def test_english_country_name_and_count_of_regions() -> None:
    assert "Jinja" in ask("Which partnerships are there in Uganda?")
    text = ask("Hur många regioner har partnerskap i Uganda?")
    assert text.startswith("1 partnerskap") and "Region Stockholm" in text


def test_each_line_cites_its_sources() -> None:
    answer = answer_from_registry(Question.parse("Vilka kommuner arbetar med avfall?"), GROUPS)
    assert answer is not None and answer.grounded
    assert [c.source for c in answer.citations] == ["a.md", "b.md"]
    assert "[1]" in answer.text and "[2]" in answer.text


def test_the_retrievers_order_decides_among_equal_matches() -> None:
    q = Question.parse("Vilka svenska kommuner har partnerskap i Kenya?")
    plain = answer_from_registry(q, GROUPS)
    assert plain is not None and [c.source for c in plain.citations] == ["b.md", "c.md"]
    # the passage about Machakos ranked first for the question: its line and source lead
    ranked = answer_from_registry(q, GROUPS, ranks={"c.md-0": 0, "b.md-0": 5})
    assert ranked is not None and [c.source for c in ranked.citations] == ["c.md", "b.md"]
    assert ranked.text.splitlines()[1].startswith("- Robertsfors kommun")


def test_sources_of_one_partnership_follow_the_retrievers_order() -> None:
    mentions = tuple(Mention(src, None, f"Kalix och Masaka samarbetar ({src}).", f"{src}-0")
                     for src in ("a.md", "e.md", "f.md"))
    one = [PartnershipGroup(swedish=("Kalix kommun",), partner="Masaka", country="Uganda",
                            themes=("plast",), years=(2020,), amounts=(), phases=(),
                            sources=mentions)]
    q = Question.parse("Vilka kommuner har partnerskap i Uganda?")
    answer = answer_from_registry(q, one, ranks={"f.md-0": 0, "a.md-0": 1})
    assert answer is not None
    assert [c.source for c in answer.citations] == ["f.md", "a.md", "e.md"]


def test_no_match_is_an_honest_refusal() -> None:
    answer = answer_from_registry(Question.parse("Vilka kommuner har partner i Namibia?"), GROUPS)
    assert answer is not None and not answer.grounded
    assert answer.text == "Jag hittar inget svar på den frågan i dokumenten."


def test_a_topic_no_partnership_shows_is_left_to_the_passages() -> None:
    # the registry's themes come from the sentences that state a pair; a report may still
    # describe the topic elsewhere, so the passages decide (and refuse an unknown topic)
    q = Question.parse("Vilka partnerskap handlar om personer med funktionsnedsättning?")
    assert filters_for(q, GROUPS) is not None
    assert answer_from_registry(q, GROUPS) is None


def test_questions_without_a_registry_filter_go_to_retrieval() -> None:
    for text in ("Kan en region söka?", "Vilka länder kan man samarbeta med?",
                 "Vilka kommuner fick medel i juni 2020?"):
        assert filters_for(Question.parse(text), GROUPS) is None


def test_a_continent_filters_by_the_countries_in_it() -> None:
    text = ask("Vilka afrikanska partnerkommuner finns det?")
    assert "Masaka" in text and "Mombasa" in text
    groups = [*GROUPS, group("Umeå kommun", "Bogotá", "Colombia", ("hälsa",), "e.md")]
    answer = answer_from_registry(Question.parse("Vilka partnerskap finns i Latinamerika?"), groups)
    assert answer is not None and "Bogotá" in answer.text and "Masaka" not in answer.text


def test_a_name_the_registry_does_not_hold_goes_to_retrieval() -> None:
    # listing Kenya's partnerships would drop the condition "Nakuru" and answer another question
    assert filters_for(Question.parse("Vilka kommuner samarbetar med Nakuru i Kenya?"), GROUPS) \
        is None
    assert filters_for(Question.parse("Vilka kommuner i Ukrainanätverket arbetar med avfall?"),
                       GROUPS) is not None  # a compound led by a country names no party
    assert filters_for(Question.parse("Vilka partner har Kalix i Uganda?"), GROUPS) is not None


def test_a_genitive_name_the_documents_use_is_context() -> None:
    def in_corpus(word: str) -> bool:
        return word in {"portalens", "tuselog", "popayán"}

    q = Question.parse("Vilka partnerskap i Uganda tar Portalens vägledning upp?")
    answer = answer_from_registry(q, GROUPS, in_corpus)
    assert answer is not None and "Masaka" in answer.text and "Jinja" in answer.text
    # a name that may be what is asked about: the passages decide
    for text in ("Vilka kommuner i Uganda samarbetade inom TUSELOG?",
                 "Vilken svensk kommun är partner till Popayán i Uganda?"):
        assert answer_from_registry(Question.parse(text), GROUPS, in_corpus) is None
    q = Question.parse("Vilka kommuner samarbetar med Nakuru i Kenya?")
    assert answer_from_registry(q, GROUPS, in_corpus) is None  # a name no document uses


def test_both_rounds_intersects_the_dated_documents() -> None:
    def chunk(source: str, text: str) -> Chunk:
        return Chunk(id=f"{source}-0000", source=source, page=None, title=text.split("\n")[0],
                     heading="", text=text, doc_hash="h")

    chunks = [
        chunk("2019.txt", "Beslut juni 2019\nKalix\nVäxjö\nUmeå"),
        chunk("2020.txt", "Beslut juni 2020\nVäxjö\nKalix\nPiteå"),
        chunk("2022.txt", "Beslut december 2022\nUmeå"),
    ]
    q = Question.parse("Vilka kommuner fick medel både i juni 2019 och i juni 2020?")
    answer = answer_both(q, chunks)
    assert answer is not None
    assert answer.text.splitlines()[1:] == ["- Kalix kommun [1][2]", "- Växjö kommun [3][4]"]
    assert {c.source for c in answer.citations} == {"2019.txt", "2020.txt"}
    # only the dated documents' chunks are needed, and they give the same answer
    needed = both_sources(q, chunks)
    assert needed == {"2019.txt", "2020.txt"}
    same = answer_both(q, [c for c in chunks if c.source in needed])
    assert same is not None and same.text == answer.text and same.citations == answer.citations
    assert not asks_both(Question.parse("Vilka kommuner fick medel i juni 2020?"))


def test_peer_finder_ranks_shared_themes_first() -> None:
    peers = find_peers("Vi vill minska plastavfallet i kommunen", GROUPS, None)
    assert peers[0].group.partner == "Masaka"
    assert peers[0].shared == ("plast", "avfall")


def test_registry_follows_edits_and_deletions(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path)
    assistant = Assistant.from_settings(hashing(tmp_path, corpus))
    assistant.ingest()
    partners = {g.partner for g in assistant.partnerships()}
    assert {"Masaka", "Machakos", "Francistown"} <= partners

    (corpus / "kalix_masaka.md").write_text(
        "# Kalix och Gulu\n\nKalix kommun samarbetar nu med Gulu i Uganda om plast.\n",
        encoding="utf-8",
    )
    (corpus / "robertsfors_machakos.txt").unlink()
    assistant.ingest()
    partners = {g.partner for g in assistant.partnerships()}
    assert "Gulu" in partners
    assert "Masaka" not in partners and "Machakos" not in partners
    kalix = assistant.partnerships(text="Gulu")
    assert [m.source for m in kalix[0].sources] == ["kalix_masaka.md"]


def test_partnerships_command_filters_and_writes_csv(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path)
    env = {"KP_EMBEDDING_BACKEND": "hashing"}
    runner = CliRunner()
    index = str(tmp_path / "idx")
    assert runner.invoke(main, ["ingest", "--index", index, str(corpus)], env=env).exit_code == 0
    result = runner.invoke(main, ["partnerships", "--index", index, "--country", "Kenya"], env=env)
    assert result.exit_code == 0, result.output
    assert "Robertsfors kommun – Machakos (Kenya)" in result.output
    assert "Masaka" not in result.output
    csv_out = runner.invoke(main, ["partnerships", "--index", index, "--csv"], env=env).output
    assert csv_out.splitlines()[0].startswith("swedish,partner,country,themes")
    assert "kalix_masaka.md" in csv_out
