"""Tables in a PDF's text layer come out one row per line, "cell | cell", like HTML and Word
tables; text that is no table keeps pypdf's reading."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import ContentStream, DictionaryObject, NameObject

import kp_assistant.documents.pdf as pdf_module
from kp_assistant.documents.readers import read_document

LEFT, MIDDLE, RIGHT = 60, 220, 380
PITCH = 14  # the distance of two lines of text


def write_pdf(path: Path, pieces: list[tuple[float, float, str]], size: int = 10) -> Path:
    """A one-page PDF with each piece of text drawn on its own at (x, y), in Helvetica."""
    writer = PdfWriter()
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
        NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
    })
    page = writer.add_blank_page(595, 842)
    ops = [f"BT /F1 {size} Tf 1 0 0 1 {x} {y} Tm ({text}) Tj ET" for x, y, text in pieces]
    content = ContentStream(None, None)
    content.set_data("\n".join(ops).encode("cp1252"))
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    page.replace_contents(content)
    writer.write(path)
    return path


def prose(y: float, *lines: str) -> list[tuple[float, float, str]]:
    return [(LEFT, y - i * 16, line) for i, line in enumerate(lines)]


def page_lines(path: Path) -> list[str]:
    doc = read_document(path)
    return doc.pages[0].text.split("\n")


def test_label_and_value_table_with_centred_labels(tmp_path: Path) -> None:
    # a value that wraps to two lines has its label between them, as pypdf cannot tell
    y = 600
    pieces = [
        *prose(680, "Fakta om vänorten vid kusten."),
        (LEFT, y, "Uppgift"), (300, y, "Värde"),
        (LEFT, y - PITCH, "Invånare"), (300, y - PITCH, "omkring 12 500"),
        (300, y - 2 * PITCH, "fiske, skogsbruk och turism längs"),
        (LEFT, y - 2.5 * PITCH, "Näringar"),
        (300, y - 3 * PITCH, "kusten och i skärgården"),
        (LEFT, y - 4 * PITCH, "Skolor"), (300, y - 4 * PITCH, "14"),
        *prose(y - 6 * PITCH, "Kommunen har en hamn och en folkhögskola."),
    ]
    lines = page_lines(write_pdf(tmp_path / "fakta.pdf", pieces))
    assert lines == [
        "Fakta om vänorten vid kusten.",
        "Uppgift | Värde",
        "Invånare | omkring 12 500",
        "Näringar | fiske, skogsbruk och turism längs kusten och i skärgården",
        "Skolor | 14",
        "Kommunen har en hamn och en folkhögskola.",
    ]


def test_three_columns_centred_cells_with_space_between_rows(tmp_path: Path) -> None:
    y = 700
    row2 = y - 2.5 * PITCH  # the second row is three lines tall: its cells are centred on it
    pieces = [
        (LEFT, y, "Period"), (MIDDLE, y, "Vad som gällde"), (RIGHT, y, "Källa"),
        (LEFT, row2 + PITCH, "Den första"), (LEFT, row2, "omgången av"),
        (LEFT, row2 - PITCH, "programmet"),
        (MIDDLE, row2 + PITCH / 2, "tolv länder i"), (MIDDLE, row2 - PITCH / 2, "två världsdelar"),
        (RIGHT, row2, "en broschyr"),
        (LEFT, row2 - 2.5 * PITCH, "I dag"), (MIDDLE, row2 - 2.5 * PITCH, "åtta länder"),
        (RIGHT, row2 - 2.5 * PITCH, "webbplatsen"),
    ]
    lines = page_lines(write_pdf(tmp_path / "perioder.pdf", pieces))
    assert lines == [
        "Period | Vad som gällde | Källa",
        "Den första omgången av programmet | tolv länder i två världsdelar | en broschyr",
        "I dag | åtta länder | webbplatsen",
    ]


def test_top_aligned_cells_wrapping_to_different_heights(tmp_path: Path) -> None:
    y = 700
    pieces = [
        (LEFT, y, "Kommun"), (MIDDLE, y, "Partner"), (RIGHT, y, "Tema"),
        (LEFT, y - 1.6 * PITCH, "Storby"), (MIDDLE, y - 1.6 * PITCH, "Lilla Hamnstad"),
        (RIGHT, y - 1.6 * PITCH, "vatten och"), (RIGHT, y - 2.6 * PITCH, "avlopp i byarna"),
        (LEFT, y - 4.2 * PITCH, "Skogsvik"), (MIDDLE, y - 4.2 * PITCH, "Flodstaden"),
        (RIGHT, y - 4.2 * PITCH, "ungas inflytande"),
    ]
    lines = page_lines(write_pdf(tmp_path / "teman.pdf", pieces))
    assert lines == [
        "Kommun | Partner | Tema",
        "Storby | Lilla Hamnstad | vatten och avlopp i byarna",
        "Skogsvik | Flodstaden | ungas inflytande",
    ]


def test_cells_that_all_wrap_alike_stay_one_row(tmp_path: Path) -> None:
    # no space between rows, and every cell of the row wraps to a second line: the second
    # line continues each cell (lower case, or after a comma)
    y = 700
    pieces = [
        (LEFT, y, "Samarbete"), (MIDDLE, y, "Belopp"), (RIGHT, y, "Källa"),
        (LEFT, y - PITCH, "Storby – Hamnstad,"), (MIDDLE, y - PITCH, "drygt 2 miljoner"),
        (RIGHT, y - PITCH, "kommunens"),
        (LEFT, y - 2 * PITCH, "skolprojektet"), (MIDDLE, y - 2 * PITCH, "kronor"),
        (RIGHT, y - 2 * PITCH, "nyhetsbrev"),
        (LEFT, y - 3 * PITCH, "Skogsvik"), (MIDDLE, y - 3 * PITCH, "800 000 kr"),
        (RIGHT, y - 3 * PITCH, "Protokoll"),
    ]
    lines = page_lines(write_pdf(tmp_path / "belopp.pdf", pieces))
    assert lines == [
        "Samarbete | Belopp | Källa",
        "Storby – Hamnstad, skolprojektet | drygt 2 miljoner kronor | kommunens nyhetsbrev",
        "Skogsvik | 800 000 kr | Protokoll",
    ]


def test_a_bulleted_list_and_running_text_are_no_table(tmp_path: Path) -> None:
    y = 700
    pieces = [
        *prose(y, "Partnerskapet har tre delar, som beskrivs nedan i tur och ordning."),
        (LEFT, y - 30, "•"), (75, y - 30, "En förberedelse under det första året."),
        (LEFT, y - 46, "•"), (75, y - 46, "Ett projekt på tre år med en styrgrupp."),
        (LEFT, y - 62, "•"), (75, y - 62, "En avslutande spridning av resultaten."),
    ]
    lines = page_lines(write_pdf(tmp_path / "lista.pdf", pieces))
    assert not any(" | " in line for line in lines)
    assert "• En förberedelse under det första året." in lines


def test_text_in_two_columns_of_running_text_is_no_table(tmp_path: Path) -> None:
    left = ["Kommunerna har under flera år utbytt erfarenheter om",
            "hur invånarna kan få större inflytande i planeringen av",
            "sina bostadsområden och gemensamma platser i staden."]
    right = ["Under det andra året genomfördes en serie workshoppar",
             "där politiker och tjänstepersoner från båda kommunerna",
             "prövade nya former för dialog med unga och äldre."]
    pieces = [(40, 700 - i * 14, t) for i, t in enumerate(left)]
    pieces += [(310, 700 - i * 14, t) for i, t in enumerate(right)]
    lines = page_lines(write_pdf(tmp_path / "spalter.pdf", pieces, size=9))
    assert not any(" | " in line for line in lines)


def test_a_failure_reading_tables_keeps_the_page(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    y = 700
    pieces = [(LEFT, y, "Uppgift"), (300, y, "Värde"),
              (LEFT, y - PITCH, "Invånare"), (300, y - PITCH, "omkring 12 500")]
    path = write_pdf(tmp_path / "fakta.pdf", pieces)

    def broken(lines: list[str], fragments: object) -> list[str]:
        raise ValueError("broken table")

    monkeypatch.setattr(pdf_module, "with_tables", broken)
    assert page_lines(path) == ["Uppgift Värde", "Invånare omkring 12 500"]
