"""Sentence splitting and chunking: pure functions on small texts."""

from __future__ import annotations

import re

import pytest

from kp_assistant.documents.chunking import chunk_document, split_sentences
from kp_assistant.models import Chunk, Page, ParsedDocument

# -- split_sentences ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Kommunen samarbetar t.ex. Masaka kommun i Uganda.",
        "Partnerskapen finns bl.a. Kenya och Uganda.",
        "Budgeten är ca. 25 miljoner kronor per år.",
        "Mötet börjar kl. 10 i stadshuset.",
        "Det s.k. Nätverket för klimat träffas varje år.",
        "Vi arbetar med miljö, klimat m.m. Alla frågor rör hållbarhet.",
        "Bidraget gäller d.v.s. Svenska kommuner och regioner.",
        "Resan ställdes in p.g.a. Covid-19 och genomfördes senare.",
    ],
)
def test_abbreviation_does_not_end_a_sentence(text: str) -> None:
    # every example puts a capital letter or a digit after the abbreviation, which would
    # otherwise look like the start of a new sentence
    assert split_sentences(text) == [text]


def test_abbreviations_inside_running_text() -> None:
    text = (
        "ICLD stöder bl.a. kommuner i Afrika. Projekten pågår ca. tre år. "
        "Ansökan görs t.ex. via webben. Det finns s.k. förberedelser."
    )
    assert split_sentences(text) == [
        "ICLD stöder bl.a. kommuner i Afrika.",
        "Projekten pågår ca. tre år.",
        "Ansökan görs t.ex. via webben.",
        "Det finns s.k. förberedelser.",
    ]


def test_question_and_exclamation_marks_end_sentences() -> None:
    assert split_sentences("Vem kan söka? Alla kommuner kan söka! Även regioner kan det.") == [
        "Vem kan söka?",
        "Alla kommuner kan söka!",
        "Även regioner kan det.",
    ]


def test_headings_and_list_items_are_their_own_sentences() -> None:
    text = (
        "# Kommunala partnerskap\n"
        "Programmet startade 2008\n"
        "## Vem kan söka\n"
        "- kommuner\n"
        "- regioner och landsting\n"
        "1. Skicka in ansökan\n"
        "2) Vänta på beslut\n"
        "Beslutet kommer i juni"
    )
    assert split_sentences(text) == [
        "# Kommunala partnerskap",
        "Programmet startade 2008",
        "## Vem kan söka",
        "- kommuner",
        "- regioner och landsting",
        "1. Skicka in ansökan",
        "2) Vänta på beslut",
        "Beslutet kommer i juni",
    ]


def test_wrapped_lines_are_joined_and_paragraphs_separate() -> None:
    text = "Kalix kommun har ett partnerskap\nmed Masaka i Uganda\n\nProjektet handlar om plast"
    assert split_sentences(text) == [
        "Kalix kommun har ett partnerskap med Masaka i Uganda",
        "Projektet handlar om plast",
    ]


def test_decimal_numbers_stay_inside_their_sentence() -> None:
    text = (
        "Norrköping fick 2,25 miljoner kronor. Årsbudgeten var 69,9 miljoner kronor. "
        "Totalt 3.5 million SEK in English."
    )
    assert split_sentences(text) == [
        "Norrköping fick 2,25 miljoner kronor.",
        "Årsbudgeten var 69,9 miljoner kronor.",
        "Totalt 3.5 million SEK in English.",
    ]


@pytest.mark.parametrize("following", ["ICLD beviljade 18 projekt.", "18 projekt beviljades."])
def test_a_date_at_the_end_of_a_sentence_ends_it(following: str) -> None:
    first = "Beslutet fattades den 1 juni 2020."
    assert split_sentences(f"{first} {following}") == [first, following]


def test_a_date_inside_a_sentence_does_not_split_it() -> None:
    text = "Den 1 juni 2020 beviljade ICLD medel till tolv kommuner."
    assert split_sentences(text) == [text]


def test_english_text() -> None:
    text = (
        "The programme started in 2008. It is funded by Sida, e.g. Through grants. "
        "Dr. Smith wrote the report. Is it open to regions? Yes!"
    )
    assert split_sentences(text) == [
        "The programme started in 2008.",
        "It is funded by Sida, e.g. Through grants.",
        "Dr. Smith wrote the report.",
        "Is it open to regions?",
        "Yes!",
    ]


def test_closing_quote_stays_with_its_sentence() -> None:
    assert split_sentences('Hon sa "Vi börjar nu." Sedan gick hon.') == [
        'Hon sa "Vi börjar nu."',
        "Sedan gick hon.",
    ]


def test_empty_text_has_no_sentences() -> None:
    assert split_sentences("") == []
    assert split_sentences(" \n\n  \n") == []


# -- chunk_document -----------------------------------------------------------------------


def sentence(i: int, words: int = 10) -> str:
    """A distinct sentence of exactly `words` words."""
    return " ".join([f"Mening{i}", *["ord"] * (words - 2), "slut."])


def doc(*pages: tuple[int | None, str], title: str = "Titel") -> ParsedDocument:
    return ParsedDocument(title=title, pages=[Page(n, t) for n, t in pages])


def test_chunks_do_not_cross_pages_and_keep_page_numbers() -> None:
    d = doc(
        (1, " ".join(sentence(i) for i in range(3))),
        (2, " ".join(sentence(i) for i in range(3, 6))),
    )
    chunks = chunk_document(d, "a.pdf", "h1", max_words=200)
    assert [c.page for c in chunks] == [1, 2]
    assert "Mening0" in chunks[0].text and "Mening2" in chunks[0].text
    assert "Mening3" not in chunks[0].text
    assert chunks[1].text.startswith("Mening3")
    assert all(c.source == "a.pdf" and c.title == "Titel" and c.doc_hash == "h1" for c in chunks)


def test_chunks_do_not_cross_headings_and_keep_the_nearest_heading() -> None:
    text = "\n".join(
        [
            sentence(0),
            "# Bakgrund",
            sentence(1),
            sentence(2),
            "## Syfte",
            sentence(3),
        ]
    )
    # the heading of page 1 still applies at the top of page 2
    d = doc((1, text), (2, sentence(4)))
    chunks = chunk_document(d, "b.pdf", "h", max_words=500)
    assert [(c.page, c.heading) for c in chunks] == [
        (1, ""),
        (1, "Bakgrund"),
        (1, "Syfte"),
        (2, "Syfte"),
    ]
    assert [c.text.split()[0] for c in chunks] == ["Mening0", "Mening1", "Mening3", "Mening4"]
    assert "Mening2" in chunks[1].text
    # headings are kept as metadata, not repeated in the text
    assert not any("#" in c.text for c in chunks)


def numbers(chunk: Chunk) -> list[int]:
    """Which of the `sentence(i)` sentences a chunk holds, in order."""
    return [int(n) for n in re.findall(r"Mening(\d+)", chunk.text)]


def test_chunk_size_and_overlap_repeats_the_last_sentence() -> None:
    sentences = [sentence(i) for i in range(10)]  # 10 words each
    chunks = chunk_document(doc((None, " ".join(sentences))), "c.md", "h", max_words=30, overlap=1)
    held = [numbers(c) for c in chunks]
    assert held == [[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 8], [8, 9]]
    assert all(len(c.text.split()) <= 30 for c in chunks)


def test_no_overlap_means_no_repetition() -> None:
    sentences = [sentence(i) for i in range(9)]
    chunks = chunk_document(doc((None, " ".join(sentences))), "c.md", "h", max_words=30, overlap=0)
    assert [numbers(c) for c in chunks] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    # one sentence per line, so that the answer step can reuse them
    assert chunks[0].text.splitlines() == sentences[:3]


def test_a_very_long_sentence_is_cut_into_chunks_of_the_target_length() -> None:
    long = sentence(0, words=500)
    chunks = chunk_document(
        doc((3, f"{long} {sentence(1)}")), "d.pdf", "h", max_words=50, overlap=1
    )
    assert all(len(c.text.split()) <= 50 and c.page == 3 for c in chunks)
    # every word once, in order: a piece that fills a chunk is not repeated as overlap
    words = [w for c in chunks for w in c.text.split()]
    assert words == f"{long} {sentence(1)}".split()


def test_chunk_ids_are_deterministic_and_unique() -> None:
    d = doc((1, " ".join(sentence(i) for i in range(12))), (2, sentence(20)))
    first = chunk_document(d, "e.pdf", "hash-a", max_words=30)
    again = chunk_document(d, "e.pdf", "hash-a", max_words=30)
    assert [c.id for c in first] == [c.id for c in again]
    assert len({c.id for c in first}) == len(first)

    changed = chunk_document(d, "e.pdf", "hash-b", max_words=30)
    assert not {c.id for c in changed} & {c.id for c in first}
    moved = chunk_document(d, "other/e.pdf", "hash-a", max_words=30)
    assert not {c.id for c in moved} & {c.id for c in first}


def test_heading_only_sections_make_no_chunks() -> None:
    assert chunk_document(doc((None, "# Bara en rubrik\n## Och en till")), "f.md", "h") == []


def test_table_rows_are_sentences_of_their_own() -> None:
    text = ("Beslut i korthet:\n"
            "Storby | Projekt om avfall. Beviljat i maj | 1,2 miljoner kronor\n"
            "Skolor | 14\n"
            "Näringar | fiske\n"
            "| Kommun | Partner |\n"
            "| En lång rad i en tabell som fortsätter efter sextio tecken och mer | Hamnstad |\n"
            "| Skogsvik | Flodstaden |")
    assert split_sentences(text) == [
        "Beslut i korthet:",
        "Storby | Projekt om avfall. Beviljat i maj | 1,2 miljoner kronor",
        "Skolor | 14",  # no section heading, though short and capitalised
        "Näringar | fiske",
        "| Kommun | Partner |",
        "| En lång rad i en tabell som fortsätter efter sextio tecken och mer | Hamnstad |",
        "| Skogsvik | Flodstaden |",
    ]


@pytest.mark.parametrize(
    ("head", "rows"),
    [
        (["| Kommun | Partner | Tema |", "|---|---|---|"],
         [f"| Kommun {i} | Partnerstad {i} | vatten och avlopp i byarna |" for i in range(12)]),
        (["Kommun | Partner | Tema"],
         [f"Kommun {i} | Partnerstad {i} | vatten och avlopp i byarna" for i in range(12)]),
    ],
)
def test_a_table_running_on_into_the_next_chunk_takes_its_header_along(
        head: list[str], rows: list[str]) -> None:
    text = "\n".join(["Tabellen visar samarbetena.", *head, *rows, "Efter tabellen."])
    chunks = chunk_document(doc((1, text)), "t.md", "h", max_words=40)
    assert len(chunks) >= 3
    for c in chunks[1:]:
        lines = c.text.split("\n")
        if any(r in lines for r in rows):
            assert lines[: len(head)] == head, c.text
    # every row is in some chunk, and no chunk holds a line twice
    assert all(any(r in c.text.split("\n") for c in chunks) for r in rows)
    assert all(len(set(c.text.split("\n"))) == len(c.text.split("\n")) for c in chunks)


def test_a_table_starting_a_chunk_does_not_repeat_its_header() -> None:
    prose = " ".join(f"Del {i} av samarbetet har pågått länge." for i in range(8))
    head = ["| Kommun | Partner |", "|---|---|"]
    rows = [f"| Kommun {i} | Partnerstad {i} |" for i in range(3)]
    for cut in (30, 40, 44):  # the header row, its rule or a row opens the next chunk
        chunks = chunk_document(doc((1, "\n".join([prose, *head, *rows]))), "t.md", "h",
                                max_words=cut)
        for c in chunks:
            lines = c.text.split("\n")
            assert len(set(lines)) == len(lines), (cut, c.text)


def test_a_first_row_with_numbers_is_not_repeated_as_a_header() -> None:
    rows = [f"Kommun {i} | {1000 + i} invånare | vatten och avlopp i byarna" for i in range(12)]
    chunks = chunk_document(doc((1, "\n".join(rows))), "t.md", "h", max_words=40)
    assert len(chunks) >= 3
    assert sum(c.text.split("\n").count(rows[0]) for c in chunks) == 1
