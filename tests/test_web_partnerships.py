"""The Partnerskap tab through its helpers and handlers, on a real index of a small corpus.

The corpus states four partnerships in four formats (prose, a Markdown table row, a second page
of a PDF, a sentence with markup in it) beside a document that states none.
"""

from __future__ import annotations

import csv
import io
import re
from html import escape as html_escape
from pathlib import Path

import gradio as gr
import pytest

from kp_assistant.assistant import Assistant
from kp_assistant.registry.peers import Peer
from kp_assistant.settings import Settings
from kp_assistant.web.chat import build_ui
from kp_assistant.web.partnerships import (
    ALL,
    ASK_CHALLENGE,
    COLUMNS,
    CSV_NAME,
    EMPTY_INDEX,
    NO_MATCH,
    NO_PARTNERSHIPS,
    NO_PEERS,
    PartnershipsView,
    count_line,
    filter_choices,
    keep_choice,
    load,
    peers_markdown,
    table_cells,
    table_html,
)
from make_bad_corpus import raw_pdf

SCRIPT = "<script>alert(1)</script>"
DOCUMENTS = {
    "kalix_masaka.txt": (
        "Kalix kommun och Masaka i Uganda arbetar med plast och avfall sedan 2019.\n"
        "Unga i båda kommunerna lär sig om hur plasten påverkar miljön.\n"
    ),
    "natverk/forshaga.md": (
        "# Partnerskap i Zambia\n\n| Svensk part | Partner | Tema |\n|---|---|---|\n"
        "| Forshaga kommun | Lundazi District Council, Zambia | klimat |\n"
    ),
    "robertsfors_machakos.md": (
        "# Robertsfors och Machakos\n\n"
        "Robertsfors kommun samarbetar med Machakos i Kenya om jämställdhet sedan 2021.\n\n"
        f"Robertsfors kommun och Machakos i Kenya skrev {SCRIPT} i en rapport om jämställdhet.\n"
    ),
    "ansokan.txt": "Ansökan om kommunalt partnerskap stänger den 15 mars.\n",
}
PDF_PAGES = [
    ["Kommunala partnerskap i Botswana"],
    ["Lunds kommun och Francistown i Botswana arbetar med dricksvatten och avfall 2022."],
]
# (Svensk part, Partner, Land, År, Källor) per row, sorted as the registry sorts
EXPECTED = [
    ("Forshaga kommun", "Lundazi", "Zambia", "", "forshaga.md"),
    ("Kalix kommun", "Masaka", "Uganda", "2019", "kalix_masaka.txt"),
    ("Lunds kommun", "Francistown", "Botswana", "2022", "lund_francistown.pdf s. 2"),
    ("Robertsfors kommun", "Machakos", "Kenya", "2021", "robertsfors_machakos.md"),
]
HREF = re.compile(r'href="([^"]*)"')


def text_pdf(pages: list[list[str]]) -> bytes:
    """A minimal PDF written by hand: one page per entry, one line of Helvetica per string."""
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(len(pages)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(pages)),
        font,
    ]
    for i, lines in enumerate(pages):
        ops = "BT /F1 11 Tf 14 TL 72 770 Td " + " ".join(f"({line}) Tj T*" for line in lines)
        data = f"{ops} ET".encode("cp1252")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R >> >> >>" % (5 + 2 * i)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(data), data))
    return raw_pdf(objects)


def make_assistant(tmp: Path, documents: dict[str, str], pdf: bool) -> Assistant:
    corpus = tmp / "corpus"
    for name, text in documents.items():
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_text(text, encoding="utf-8")
    if pdf:
        (corpus / "lund_francistown.pdf").write_bytes(text_pdf(PDF_PAGES))
    settings = Settings(index_dir=tmp / "idx", corpus_dir=corpus, embedding_backend="hashing")
    assistant = Assistant.from_settings(settings)
    assert not assistant.ingest().failed
    return assistant


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    return make_assistant(tmp_path_factory.mktemp("partnerskap"), DOCUMENTS, pdf=True)


@pytest.fixture
def view(assistant: Assistant) -> PartnershipsView:
    return PartnershipsView(assistant)


def rows(view: PartnershipsView, *filters: str) -> list[tuple[str, ...]]:
    loaded = load(view.assistant, *filters)
    return [tuple(table_cells(g)) for g in loaded.groups]


def short(row: tuple[str, ...]) -> tuple[str, ...]:
    """A row without its themes, which may hold more than the one the document names."""
    return (*row[:3], *row[4:])


# -- the table ------------------------------------------------------------------------------


def test_table_has_one_row_per_partnership(view: PartnershipsView) -> None:
    all_rows = rows(view, ALL, ALL, ALL, "")
    assert [short(r) for r in all_rows] == EXPECTED
    themes = {r[0]: r[3].split(", ") for r in all_rows}
    assert {"plast", "avfall"} <= set(themes["Kalix kommun"])
    assert "klimat" in themes["Forshaga kommun"]
    assert "jämställdhet" in themes["Robertsfors kommun"]

    html = table_html(load(view.assistant))
    assert html.count("<tr>") == 1 + len(EXPECTED)
    assert all(f"<th>{c}</th>" in html for c in COLUMNS)
    assert "<td>Forshaga kommun</td><td>Lundazi</td><td>Zambia</td>" in html


@pytest.mark.parametrize(
    ("filters", "swedish"),
    [
        (("plast", ALL, ALL, ""), ["Kalix kommun"]),
        (("avfall", ALL, ALL, ""), ["Kalix kommun", "Lunds kommun"]),
        ((ALL, "Kenya", ALL, ""), ["Robertsfors kommun"]),
        ((ALL, ALL, "2022", ""), ["Lunds kommun"]),
        ((ALL, ALL, ALL, "lundazi"), ["Forshaga kommun"]),
        ((ALL, ALL, ALL, "  Masaka "), ["Kalix kommun"]),
        (("avfall", "Botswana", "2022", "dricksvatten"), ["Lunds kommun"]),
        (("avfall", "Kenya", ALL, ""), []),
        ((None, None, None, None), [r[0] for r in EXPECTED]),
    ],
)
def test_each_filter_narrows_the_table(
    view: PartnershipsView, filters: tuple[str, ...], swedish: list[str]
) -> None:
    assert [r[0] for r in rows(view, *filters)] == swedish


def test_count_line_and_no_match(view: PartnershipsView) -> None:
    assert count_line(load(view.assistant)) == "4 partnerskap i 4 dokument"
    assert count_line(load(view.assistant, "avfall")) == "2 partnerskap i 2 dokument"
    none = load(view.assistant, "avfall", "Kenya")
    assert none.message == NO_MATCH and count_line(none) == "0 partnerskap"
    assert table_html(none) == f'<p class="kp-message">{html_escape(NO_MATCH)}</p>'

    count, html, path = view.show("vatten", ALL, ALL, "")
    assert count == "1 partnerskap i 1 dokument" and "Francistown" in html and path
    assert view.show("avfall", "Kenya", ALL, "")[2] is None  # nothing to download


def test_csv_of_the_filtered_rows(view: PartnershipsView) -> None:
    _, _, path = view.show("avfall", ALL, ALL, "")
    assert path is not None and path.name == CSV_NAME
    text = path.read_text(encoding="utf-8-sig")
    read = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0].startswith("swedish,partner,country,themes,years")
    assert [(r["swedish"], r["partner"], r["country"]) for r in read] == [
        ("Kalix kommun", "Masaka", "Uganda"),
        ("Lunds kommun", "Francistown", "Botswana"),
    ]
    assert read[1]["sources"] == "lund_francistown.pdf (s. 2)" and read[1]["years"] == "2022"

    again = view.show("avfall", ALL, ALL, "")[2]
    assert again == path  # the same rows reuse one file
    everything = view.show(ALL, ALL, ALL, "")[2]
    assert everything is not None and everything != path
    assert len(list(csv.DictReader(io.StringIO(everything.read_text("utf-8-sig"))))) == 4


def test_source_links_open_indexed_files_at_the_page(view: PartnershipsView) -> None:
    html = table_html(load(view.assistant))
    hrefs = HREF.findall(html)
    assert sorted(hrefs) == [
        "/dokument/kalix_masaka.txt",
        "/dokument/lund_francistown.pdf#page=2",
        "/dokument/natverk/forshaga.md",
        "/dokument/robertsfors_machakos.md",
    ]
    indexed = set(view.assistant.store.manifest.files)
    for href in hrefs:
        source = href.removeprefix("/dokument/").split("#")[0]
        assert source in indexed and view.assistant.resolve_source(source) is not None
    assert ">lund_francistown.pdf s. 2</a>" in html
    # the passage is the link's tooltip
    assert 'title="Lunds kommun och Francistown i Botswana arbetar med dricksvatten' in html


def test_document_text_is_escaped(view: PartnershipsView) -> None:
    html = table_html(load(view.assistant, text="Machakos"))
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # inside the tooltip

    group = load(view.assistant, text="Machakos").groups[0]
    (with_script,) = [m for m in group.sources if SCRIPT in m.sentence]
    md = peers_markdown([Peer(group, ("jämställdhet",), with_script, 1.0)])
    assert "<script" not in md and "&lt;script&gt;" in md
    assert "> Robertsfors kommun och Machakos i Kenya skrev &lt;script&gt;" in md
    assert "(/dokument/robertsfors_machakos.md)" in md


# -- the peer finder ------------------------------------------------------------------------


def test_peer_finder_ranks_the_plastic_partnership_first(view: PartnershipsView) -> None:
    md = view.find_peers("vi vill minska nedskräpningen och plastavfallet")
    items = re.findall(r"^\*\*(\d+)\. (.+?)\*\*", md, re.M)
    assert items[0] == ("1", "Kalix kommun – Masaka")
    assert ("2", "Lunds kommun – Francistown") in items
    first = md.split("**2.")[0]
    assert "Delade teman: plast, avfall" in first
    assert "> Kalix kommun och Masaka i Uganda arbetar med plast och avfall" in first
    assert "(/dokument/kalix_masaka.txt)" in first
    assert "Forshaga" not in md  # klimat shares nothing with the challenge


def test_peer_finder_asks_for_a_challenge_and_says_when_nothing_fits(
    view: PartnershipsView,
) -> None:
    assert view.find_peers("   ") == ASK_CHALLENGE
    assert view.find_peers("vi vill bygga en ny ishall") == NO_PEERS
    assert peers_markdown([]) == NO_PEERS


# -- choices, empty states, the whole page --------------------------------------------------


def test_filter_choices_come_from_taxonomy_and_registry(view: PartnershipsView) -> None:
    themes, countries, years = filter_choices(load(view.assistant).groups)
    assert themes[0] == ALL and {"plast", "avfall", "klimat", "jämställdhet"} <= set(themes)
    assert countries == [ALL, "Botswana", "Kenya", "Uganda", "Zambia"]
    assert years == [ALL, "2022", "2021", "2019"]
    assert keep_choice("Kenya", countries) == "Kenya"
    assert keep_choice("Vietnam", countries) == ALL and keep_choice(None, countries) == ALL


def test_empty_index_and_empty_registry_give_friendly_messages(tmp_path: Path) -> None:
    settings = Settings(
        index_dir=tmp_path / "idx", corpus_dir=tmp_path, embedding_backend="hashing"
    )
    empty = PartnershipsView(Assistant.from_settings(settings))
    count, html, path = empty.show(ALL, ALL, ALL, "")
    assert (count, path) == ("", None) and EMPTY_INDEX in html
    assert empty.find_peers("vi vill minska plasten") == EMPTY_INDEX
    assert empty.choices() == filter_choices([])

    no_partners = make_assistant(tmp_path / "b", {"ansokan.txt": DOCUMENTS["ansokan.txt"]}, False)
    count, html, path = PartnershipsView(no_partners).show(ALL, ALL, ALL, "")
    assert (count, path) == ("", None) and NO_PARTNERSHIPS in html
    assert isinstance(build_ui(no_partners), gr.Blocks)


def test_build_ui_has_the_chat_and_the_partnership_tab(assistant: Assistant) -> None:
    demo = build_ui(assistant)
    blocks = list(demo.blocks.values())
    assert [b.label for b in blocks if isinstance(b, gr.Tab)] == ["Chatt", "Partnerskap"]
    dropdowns = {b.label: b for b in blocks if isinstance(b, gr.Dropdown)}
    assert set(dropdowns) == {"Tema", "Land", "År"}
    assert all(d.value == ALL for d in dropdowns.values())
    labels = {b.value for b in blocks if isinstance(b, gr.Button)}
    assert {"Hitta liknande partnerskap", "Visa alla", "Skicka"} <= labels
    download = next(b for b in blocks if isinstance(b, gr.DownloadButton))
    assert download.label == "Ladda ner CSV" and download.interactive
    assert any(isinstance(b, gr.Chatbot) for b in blocks)
    textboxes = {b.label for b in blocks if isinstance(b, gr.Textbox)}
    assert "Beskriv er lokala utmaning" in textboxes
    html = next(b for b in blocks if isinstance(b, gr.HTML))
    assert "Francistown" in str(html.value)
