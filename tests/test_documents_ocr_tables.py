"""Tables on scanned pages: the grid found from rules, and the table read row by row."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from pypdf import PdfWriter
from pypdf.generic import ContentStream, DictionaryObject, NameObject

from kp_assistant.documents.ocr import OcrOptions, missing, ocr_pdf_pages
from kp_assistant.documents.ocr_tables import Layout, Table, Word, reading_order, skew, tables

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from make_scans import scan_pdf

needs_tesseract = pytest.mark.skipif(
    missing() is not None, reason=f"OCR needs tesseract with Swedish and English: {missing()}"
)

# --- The grid from toy rule masks ---------------------------------------------------------------


def grid_masks(rows: list[int], columns: list[int], shape: tuple[int, int] = (200, 300)
               ) -> tuple[np.ndarray, np.ndarray]:
    horizontal, vertical = np.zeros(shape, bool), np.zeros(shape, bool)
    for y in rows:
        horizontal[y:y + 2, columns[0]:columns[-1] + 2] = True
    for x in columns:
        vertical[rows[0]:rows[-1] + 2, x:x + 2] = True
    return horizontal, vertical


def test_a_ruled_grid_gives_its_rows_columns_and_cells() -> None:
    horizontal, vertical = grid_masks([10, 60, 110, 160], [20, 120, 220, 280])

    (table,) = tables(horizontal, vertical)

    assert table.rows == (10, 60, 110, 160)
    assert table.columns == (20, 120, 220, 280)
    assert table.cells == tuple(range(9))


def test_slots_without_a_rule_between_them_are_one_cell() -> None:
    horizontal, vertical = grid_masks([10, 60, 110, 160], [20, 120, 220, 280])
    vertical[62:110, 220:222] = False  # row 2: columns 2 and 3 merged
    horizontal[110:112, 22:120] = False  # column 1: rows 2 and 3 merged

    (table,) = tables(horizontal, vertical)

    assert table.cells == (0, 1, 2, 3, 4, 4, 3, 7, 8)


def test_a_table_drawn_without_side_rules_ends_where_its_rules_end() -> None:
    horizontal, vertical = grid_masks([10, 60, 110], [20, 120, 220, 280])
    vertical[:, 20:22] = vertical[:, 280:282] = False

    (table,) = tables(horizontal, vertical)

    assert table.columns[1:3] == (120, 220)
    assert table.columns[0] <= 22 and table.columns[-1] >= 279


def test_a_box_an_underline_or_a_rule_between_text_columns_is_no_table() -> None:
    horizontal, vertical = grid_masks([10, 60], [20, 280])  # a frame around a paragraph
    horizontal[150:152, 40:200] = True  # an underline
    assert tables(horizontal, vertical) == []

    horizontal, vertical = np.zeros((200, 300), bool), np.zeros((200, 300), bool)
    horizontal[10:12, 20:280] = True  # a rule under a heading,
    vertical[10:190, 150:152] = True  # and one down from it between two columns of text
    assert tables(horizontal, vertical) == []


def test_skew_is_the_angle_of_the_long_rules() -> None:
    horizontal = np.zeros((400, 1000), bool)
    x = np.arange(100, 900)
    for y0 in (100, 250):
        y = (y0 + 0.02 * x).astype(int)  # down to the right: turned clockwise
        horizontal[y, x] = horizontal[y + 1, x] = True

    assert skew(horizontal) == pytest.approx(np.degrees(np.arctan(0.02)), abs=0.05)
    assert skew(np.zeros((400, 1000), bool)) == 0.0


# --- Reading order of toy words ------------------------------------------------------------------


def word(text: str, left: int, top: int, line: tuple[int, int, int]) -> Word:
    return Word(text, (left, top, left + 10 * len(text), top + 20), line)


def test_table_rows_come_in_column_order_between_the_text_around_them() -> None:
    # two columns, two rows; the cells' content was moved below the page (y >= 1000)
    table = Table(rows=(100, 200, 300), columns=(0, 300, 600), cells=(0, 1, 2, 3))
    pasted = [(0, 0, (0, 1000, 300, 1100)), (0, 1, (300, 1120, 600, 1220)),
              (0, 2, (0, 1240, 300, 1340)), (0, 3, (300, 1360, 600, 1460))]
    words = [
        word("Före", 0, 50, (1, 1, 1)), word("tabellen.", 60, 50, (1, 1, 1)),
        word("Efter", 0, 350, (2, 1, 1)), word("tabellen.", 60, 350, (2, 1, 1)),
        # tesseract read the moved cells column by column, as it reads a ruled table in place
        word("Kalix", 0, 1010, (3, 1, 1)), word("kommun", 60, 1010, (3, 1, 1)),
        word("Lund", 0, 1250, (3, 1, 2)),
        word("Masaka,", 300, 1130, (4, 1, 1)), word("Uganda", 300, 1160, (4, 1, 2)),
        word("Francistown,", 300, 1370, (4, 1, 3)), word("Botswana", 300, 1400, (4, 1, 4)),
    ]

    lines = reading_order(words, Layout(None, [table], pasted))

    assert lines == ["Före tabellen.", "", "Kalix kommun Masaka, Uganda", "",
                     "Lund Francistown, Botswana", "", "Efter tabellen."]


def test_without_tables_the_order_is_tesseracts() -> None:
    words = [word("Andra", 0, 300, (1, 1, 1)), word("spalten", 60, 300, (1, 1, 1)),
             word("Första", 0, 50, (2, 1, 1)), word("stycket", 0, 80, (2, 2, 1))]

    lines = reading_order(words, Layout(None, [], []))

    assert lines == ["Andra spalten", "", "Första", "", "stycket"]


# --- A real ruled table, rasterised and read with tesseract ---------------------------------------

BEFORE = "Tabellen visar kommunernas partnerskap och deras teman."
AFTER = "Alla projekt redovisar sina resultat en gång per år."
ROWS = [  # each cell's lines; cells are centred in their row, so their lines sit half apart
    [["Kommun"], ["Partner"], ["Tema"]],
    [["Kalix kommun"], ["Masaka,", "Uganda"], ["Avfall och", "återvinning", "i skolorna"]],
    [["Lund och", "Höör"], ["Francistown,", "Botswana"], ["Dricksvatten"]],
    [["Arvika kommun"], ["Moisbridge, Kenya"], ["Ungas", "inflytande"]],
]


def write_table_pdf(path: Path) -> Path:
    """One page: a sentence, a ruled table of tightly set cells, a sentence (Helvetica 11)."""
    leading, pad, left, widths = 13, 3, 72, [140, 140, 140]
    ops = [f"BT /F1 11 Tf {left} 760 Td ({BEFORE}) Tj ET", "0.6 w"]
    top = 740
    edges = [left + sum(widths[:i]) for i in range(len(widths) + 1)]
    ops.append(f"{edges[0]} {top} m {edges[-1]} {top} l S")
    for row in ROWS:
        height = max(map(len, row)) * leading + 2 * pad
        for cell, x in zip(row, edges, strict=False):
            first = top - (height - len(cell) * leading) / 2 - 10
            for i, line in enumerate(cell):
                ops.append(f"BT /F1 11 Tf {x + 4} {first - i * leading:.1f} Td ({line}) Tj ET")
        top -= height
        ops.append(f"{edges[0]} {top} m {edges[-1]} {top} l S")
    ops += [f"{x} 740 m {x} {top} l S" for x in edges]
    ops.append(f"BT /F1 11 Tf {left} {top - 30} Td ({AFTER}) Tj ET")
    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
        NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
    })
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    content = ContentStream(None, None)
    content.set_data("\n".join(ops).encode("cp1252"))
    page.replace_contents(content)
    writer.write(path)
    return path


@needs_tesseract
@pytest.mark.parametrize("crooked", [False, True], ids=["straight", "crooked and noisy"])
def test_scanned_ruled_table_is_read_row_by_row(tmp_path: Path, crooked: bool) -> None:
    source = write_table_pdf(tmp_path / "tabell.pdf")
    scan = scan_pdf(source, tmp_path / "skannad.pdf", dpi=200,
                    angle=1.5 if crooked else 0.0, noise=12 if crooked else 0.0)

    (page,) = ocr_pdf_pages(scan.read_bytes(), [1], OcrOptions(dpi=200)).values()

    rows = [" ".join(line for cell in row for line in cell) for row in ROWS]
    assert [line for line in page.lines if line] == [BEFORE, *rows, AFTER]
    assert page.confidence > 80
