"""Readers on real files: the dev corpus, and damaged or unusual files built in tmp_path."""

from __future__ import annotations

import unicodedata
import zipfile
from pathlib import Path

import docx
import pytest
from docx.enum.style import WD_STYLE_TYPE
from pypdf import PdfWriter
from pypdf.generic import ContentStream, DictionaryObject, NameObject

from conftest import DEV_CORPUS, need_shared
from kp_assistant.documents.readers import SUPPORTED_SUFFIXES, read_document
from kp_assistant.errors import UnreadableDocument
from make_bad_corpus import zip_bomb

PROGRAMME_PDF = "dev_programbeskrivning_kommunala_partnerskap.pdf"


def dev_file(name: str) -> Path:
    need_shared()
    path = DEV_CORPUS / name
    assert path.is_file(), f"dev corpus file missing: {path}"
    return path


def reason_for(path: Path) -> str:
    with pytest.raises(UnreadableDocument) as caught:
        read_document(path)
    assert caught.value.path == str(path)
    reason: str = caught.value.reason
    return reason


def write_text_pdf(path: Path, pages: list[list[str]], title: str | None = None) -> Path:
    """A PDF with one text line per entry, in Helvetica; an empty list gives a blank page."""
    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
            NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
        }
    )
    for lines in pages:
        page = writer.add_blank_page(595, 842)
        if lines:
            ops = ["BT /F1 11 Tf 14 TL 72 770 Td", *(f"({line}) Tj T*" for line in lines), "ET"]
            content = ContentStream(None, None)
            content.set_data("\n".join(ops).encode("cp1252"))
            fonts = DictionaryObject({NameObject("/F1"): font})
            page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
            page.replace_contents(content)
    if title:
        writer.add_metadata({"/Title": title})
    writer.write(path)
    return path


# --- PDF ---------------------------------------------------------------------------------------


def test_dev_corpus_is_present() -> None:
    need_shared()
    assert any(DEV_CORPUS.glob("*.pdf")), f"no PDF in the dev corpus {DEV_CORPUS}"


def test_pdf_from_dev_corpus_keeps_pages_and_swedish_letters() -> None:
    doc = read_document(dev_file(PROGRAMME_PDF))

    assert [p.number for p in doc.pages] == [1, 2, 3, 4, 5]
    assert doc.title == "Programbeskrivning: Kommunala partnerskap"
    text = {p.number: p.text for p in doc.pages}
    assert "3. Mål och demokratiska kärnområden" in text[2]
    assert "5.1 Förberedelse" in text[3]
    assert "Moçambique" in text[4]
    assert "5.1 Förberedelse" not in text[2] + text[4]
    # Hard line wraps are joined, double spaces from justified text collapsed.
    assert "demokratisamarbeten mellan svenska kommuner och regioner" in text[1]
    assert "Programmet finansieras av Sida. Från och med 2009" in text[1]
    # List items stay on their own lines.
    assert "\n• Nätverk för klimatet\n" in text[5]
    # Page numbers ("s. 2/5") and the running header on later pages are dropped.
    assert "s. 2/5" not in text[2]
    assert not text[2].startswith("Programbeskrivning")
    assert all(unicodedata.is_normalized("NFC", t) for t in text.values())


def test_pdf_metadata_title_hyphenation_and_true_page_numbers(tmp_path: Path) -> None:
    path = write_text_pdf(
        tmp_path / "made.pdf",
        [
            [
                "Bakgrund",
                "Kommunerna får stöd för att utveckla den lokala demokratin i nära sam-",
                "arbete med partnerkommunen och med kultur- och fritidsförvaltningen, som",
                "leder EU-",
                "projektet tillsammans med kultur-",
                "och fritidsnämnden.",
            ],
            [],
            ["Sidan tre har också text."],
        ],
        title="Min titel",
    )

    doc = read_document(path)

    assert doc.title == "Min titel"
    assert [p.number for p in doc.pages] == [1, 3]
    assert doc.pages[0].text == (
        "Bakgrund\n"
        "Kommunerna får stöd för att utveckla den lokala demokratin i nära samarbete med "
        "partnerkommunen och med kultur- och fritidsförvaltningen, som leder EU-projektet "
        "tillsammans med kultur- och fritidsnämnden."
    )
    assert doc.pages[1].text == "Sidan tre har också text."


def test_pdf_running_header_and_footer_with_page_numbers_are_dropped(tmp_path: Path) -> None:
    pages = [
        [f"ICLD rapport {2020 + n}", f"Text om partnerskap nummer {n} med Kalix.",
         f"Rapport om kommunala partnerskap, sida {n} av 3"]
        for n in (1, 2, 3)
    ]
    doc = read_document(write_text_pdf(tmp_path / "r.pdf", pages))

    # the header (its year differs per page) stays once, on page 1; the footer goes everywhere
    assert doc.pages[0].text.startswith("ICLD rapport 2021\n")
    assert [p.text for p in doc.pages[1:]] == [
        "Text om partnerskap nummer 2 med Kalix.", "Text om partnerskap nummer 3 med Kalix."
    ]
    assert all("sida" not in p.text for p in doc.pages)
    # one page alone has nothing that repeats: its lines stay
    single = read_document(write_text_pdf(tmp_path / "s.pdf", pages[:1]))
    assert single.pages[0].text.endswith("sida 1 av 3")


def test_pdf_with_user_password_is_refused(tmp_path: Path) -> None:
    writer = PdfWriter(clone_from=dev_file(PROGRAMME_PDF))
    writer.encrypt(user_password="hemligt", owner_password="ägare")
    writer.write(tmp_path / "locked.pdf")

    assert reason_for(tmp_path / "locked.pdf") == "encrypted PDF (password required)"


def test_pdf_encrypted_with_empty_user_password_reads(tmp_path: Path) -> None:
    writer = PdfWriter(clone_from=dev_file(PROGRAMME_PDF))
    writer.encrypt(user_password="", owner_password="ägare")
    writer.write(tmp_path / "restricted.pdf")

    doc = read_document(tmp_path / "restricted.pdf")

    assert len(doc.pages) == 5
    assert "5.1 Förberedelse" in doc.pages[2].text


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_blank_page(595, 842)
    writer.write(tmp_path / "scan.pdf")

    reason = reason_for(tmp_path / "scan.pdf")

    assert reason == "no text layer (scanned or image-only PDF; OCR it first)"


def test_truncated_pdf(tmp_path: Path) -> None:
    data = dev_file(PROGRAMME_PDF).read_bytes()
    (tmp_path / "half.pdf").write_bytes(data[: len(data) // 2])

    assert reason_for(tmp_path / "half.pdf") == "not a valid PDF (truncated file)"


def test_pdf_that_is_not_a_pdf(tmp_path: Path) -> None:
    (tmp_path / "fake.pdf").write_text("<html>an error page saved as PDF</html>")

    assert reason_for(tmp_path / "fake.pdf") == "not a valid PDF (no %PDF header)"


# --- Text and Markdown -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.txt", "empty.pdf", "empty.docx", "empty.html"])
def test_zero_byte_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"")

    assert reason_for(tmp_path / name) == "empty file"


def test_whitespace_only_file(tmp_path: Path) -> None:
    (tmp_path / "blank.md").write_text(" \n\t\n\u00a0\n", encoding="utf-8")

    assert reason_for(tmp_path / "blank.md") == "no text found"


def test_cp1252_text(tmp_path: Path) -> None:
    text = "Beslut för Växjö och Örebro – budget 300 000 € för året"
    (tmp_path / "old.txt").write_bytes(text.encode("cp1252"))

    doc = read_document(tmp_path / "old.txt")

    assert doc.pages == [doc.pages[0]]
    assert doc.pages[0].number is None
    assert doc.pages[0].text == text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_unicode_text_with_bom(tmp_path: Path, encoding: str) -> None:
    text = "Partnerskap i Moçambique\n\nSamarbetet gäller skolor och vård."
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    (tmp_path / "notes.txt").write_bytes(data)

    doc = read_document(tmp_path / "notes.txt")

    assert doc.pages[0].text == text
    assert doc.title == "Partnerskap i Moçambique"


def test_text_is_nfc_and_without_non_breaking_spaces(tmp_path: Path) -> None:
    decomposed = unicodedata.normalize("NFD", "Åtgärder för 300\u00a0000 kronor")
    (tmp_path / "nfd.txt").write_text(decomposed, encoding="utf-8")

    assert read_document(tmp_path / "nfd.txt").pages[0].text == "Åtgärder för 300 000 kronor"


def test_plain_text_is_not_converted(tmp_path: Path) -> None:
    (tmp_path / "raw.txt").write_text("Se **viktigt** och [länk](https://icld.se)\n")

    assert read_document(tmp_path / "raw.txt").pages[0].text == (
        "Se **viktigt** och [länk](https://icld.se)"
    )


def test_markdown_keeps_headings_and_strips_inline_noise(tmp_path: Path) -> None:
    (tmp_path / "faq.md").write_text(
        "Inledning utan rubrik\n\n"
        "# Frågor och svar\n\n"
        "## Vem får söka?\n\n"
        "Enligt **riktlinjerna** kan *kommuner* söka, se [programsidan](https://icld.se/kp) "
        "och `mall.docx`.\n\n"
        "- **Europa:** Kosovo\n"
        "* Asien\n"
        "1. från den 15 februari\n",
        encoding="utf-8",
    )

    doc = read_document(tmp_path / "faq.md")

    assert doc.title == "Frågor och svar"
    assert doc.pages[0].text.splitlines()[2:] == [
        "# Frågor och svar",
        "",
        "## Vem får söka?",
        "",
        "Enligt riktlinjerna kan kommuner söka, se programsidan och mall.docx.",
        "",
        "- Europa: Kosovo",
        "* Asien",
        "1. från den 15 februari",
    ]


def test_title_falls_back_to_file_stem(tmp_path: Path) -> None:
    (tmp_path / "beslut_om-stod_2019.txt").write_text("ord " * 60, encoding="utf-8")

    assert read_document(tmp_path / "beslut_om-stod_2019.txt").title == "beslut om stod 2019"


# --- HTML --------------------------------------------------------------------------------------

BOILERPLATE_HTML = """<!doctype html>
<html><head><title>Utlysning 2024 | Portalen</title>
<style>.x { color: red }</style><script>var tracking = "SCRIPTTEXT";</script></head>
<body>
<div id="cookie-consent">Vi använder kakor COOKIETEXT <button>OK</button></div>
<header><a href="/">LOGOTEXT</a></header>
<nav><ul><li><a href="/">NAVTEXT Start</a></li></ul></nav>
<div class="breadcrumbs"><a href="/">CRUMBTEXT</a></div>
<main>
  <h1>Ansök om  kommunalt
      partnerskap</h1>
  <p>Ansökan görs <strong>digitalt</strong> via
     Mina&nbsp;sidor.</p>
  <!-- COMMENTTEXT -->
  <h3>Bilagor</h3>
  <ul><li>Letter of Intent</li><li>Budget <em>i SEK</em></li></ul>
  <noscript>NOSCRIPTTEXT</noscript>
  <div class="share-links">SHARETEXT</div>
</main>
<aside>ASIDETEXT</aside>
<footer><p>FOOTERTEXT © 2024</p></footer>
</body></html>
"""


def test_html_keeps_main_text_and_drops_boilerplate(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text(BOILERPLATE_HTML, encoding="utf-8")

    doc = read_document(tmp_path / "page.html")

    assert doc.title == "Utlysning 2024 | Portalen"
    assert doc.pages[0].number is None
    assert doc.pages[0].text.splitlines() == [
        "# Ansök om kommunalt partnerskap",
        "Ansökan görs digitalt via Mina sidor.",
        "### Bilagor",
        "- Letter of Intent",
        "- Budget i SEK",
    ]


def test_html_title_from_first_h1_and_body_without_main(tmp_path: Path) -> None:
    (tmp_path / "bare.htm").write_text(
        "<html><body><div class='menu'>Meny</div><div class='page with-menu'><h1>Nätverk</h1>"
        "<div>Fri text<br>rad två</div><table><tr><th>Kommun</th><th>Land</th></tr>"
        "<tr><td>Lund</td><td>Botswana</td></tr></table></div></body></html>",
        encoding="utf-8",
    )

    doc = read_document(tmp_path / "bare.htm")

    assert doc.title == "Nätverk"
    assert doc.pages[0].text.splitlines() == [
        "# Nätverk",
        "Fri text",
        "rad två",
        "Kommun | Land",
        "Lund | Botswana",
    ]


def test_html_nested_too_deeply(tmp_path: Path) -> None:
    (tmp_path / "deep.html").write_text("<body>" + "<div>" * 5000 + "text", encoding="utf-8")

    assert reason_for(tmp_path / "deep.html") == "structure nested too deeply to read"


def test_html_from_dev_corpus() -> None:
    doc = read_document(dev_file("dev_natverk_klimat.html"))
    text = doc.pages[0].text
    lines = text.splitlines()

    assert doc.title == "Nätverk för klimatet | Partnerskapsportalen"
    assert lines[0] == "# Nätverk för klimatet – kommunala partnerskap med klimatfokus"
    assert "## Kommunernas roll" in lines
    assert "- Tidsram: 2022–2025" in lines
    assert "Robertsfors kommun | Machakos County | Kenya | " in text
    assert "partnership@icld.se" in text
    for boilerplate in [
        "Vi använder kakor",  # cookie banner
        "Hoppa till huvudinnehållet",  # skip link
        "Publikationer",  # main menu
        "Brödsmulor",
        "Genvägar",  # sidebar
        "Dela sidan",  # share bar
        "Tillgänglighetsredogörelse",  # footer
        "Sök på webbplatsen",
    ]:
        assert boilerplate not in text


# --- Word --------------------------------------------------------------------------------------


def test_docx_from_dev_corpus() -> None:
    doc = read_document(dev_file("dev_partnerskap_lund_francistown.docx"))
    lines = doc.pages[0].text.splitlines()

    assert doc.title == "Partnerskapsblad: Lunds kommun och Francistown (Botswana)"
    assert lines[0] == "# Partnerskapsblad: Lunds kommun och Francistown (Botswana)"
    heading = lines.index("# Nyckeluppgifter")
    assert lines[heading + 1] == "Uppgift | Innehåll"
    assert lines[heading + 2] == "Svensk part | Lunds kommun"
    assert lines.index("# Hur partnerskapet kom till") > heading + 2
    assert any(line.startswith("- Lunds universitet och Raoul Wallenberg") for line in lines)


def test_docx_built_with_headings_and_table(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("Partnerskap Kalix–Masaka", level=0)
    document.add_paragraph("Inledande text om samarbetet.")
    document.add_heading("Nyckeluppgifter", level=1)
    table = document.add_table(rows=3, cols=2)
    for row, (key, value) in zip(
        table.rows, [("Svensk part", "Kalix kommun"), ("Land", "Uganda"), ("", "")], strict=True
    ):
        row.cells[0].text, row.cells[1].text = key, value
    merged = table.add_row().cells
    merged[0].merge(merged[1]).text = "Gäller 2019–2022"
    document.styles.add_style("Rubrik 2", WD_STYLE_TYPE.PARAGRAPH)
    document.add_paragraph("Bakgrund", style="Rubrik 2")
    document.add_paragraph("Projektet handlar om avfall.")
    document.save(str(tmp_path / "built.docx"))

    doc = read_document(tmp_path / "built.docx")

    assert doc.title == "Partnerskap Kalix–Masaka"
    assert doc.pages == [doc.pages[0]]
    assert doc.pages[0].number is None
    assert doc.pages[0].text.splitlines() == [
        "# Partnerskap Kalix–Masaka",
        "Inledande text om samarbetet.",
        "# Nyckeluppgifter",
        "Svensk part | Kalix kommun",
        "Land | Uganda",
        "Gäller 2019–2022",
        "## Bakgrund",
        "Projektet handlar om avfall.",
    ]


def test_docx_that_is_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "old.docx").write_bytes(b"\xd0\xcf\x11\xe0 an old binary .doc renamed")

    assert reason_for(tmp_path / "old.docx") == "not a valid .docx (not a zip archive)"


def test_docx_zip_without_word_parts(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "other.docx", "w") as archive:
        archive.writestr("readme.txt", "not a Word document")

    assert reason_for(tmp_path / "other.docx").startswith("not a valid .docx (")


def test_docx_zip_bomb_over_size_limit(tmp_path: Path) -> None:
    zip_bomb(tmp_path / "bomb.docx", 300)

    assert (tmp_path / "bomb.docx").stat().st_size < 5 * 1024 * 1024
    assert reason_for(tmp_path / "bomb.docx") == "suspicious archive (zip bomb?)"


def test_docx_zip_bomb_by_ratio(tmp_path: Path) -> None:
    zip_bomb(tmp_path / "dense.docx", 20)

    assert reason_for(tmp_path / "dense.docx") == "suspicious archive (zip bomb?)"


# --- Other failures ----------------------------------------------------------------------------


def test_unsupported_suffix(tmp_path: Path) -> None:
    (tmp_path / "data.xyz").write_text("text")

    assert reason_for(tmp_path / "data.xyz") == "unsupported file type '.xyz'"
    assert ".xyz" not in SUPPORTED_SUFFIXES
    assert {".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt"} == SUPPORTED_SUFFIXES


def test_no_suffix(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("text")

    assert reason_for(tmp_path / "README") == "unsupported file type (no extension)"


def test_suffix_is_case_insensitive(tmp_path: Path) -> None:
    (tmp_path / "NOTES.TXT").write_text("Anteckning", encoding="utf-8")

    assert read_document(tmp_path / "NOTES.TXT").pages[0].text == "Anteckning"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    (tmp_path / "folder.md").mkdir()

    assert reason_for(tmp_path / "gone.pdf") == "cannot read file (No such file or directory)"
    assert reason_for(tmp_path / "folder.md") == "cannot read file (Is a directory)"


LAZY = """
import sys
from pathlib import Path
from kp_assistant.documents.readers import read_document

read_document(Path(sys.argv[1]))
print(" ".join(sorted(m for m in ("bs4", "docx", "pypdf", "lxml") if m in sys.modules)))
"""


def test_a_format_library_is_imported_only_for_its_files(tmp_path: Path) -> None:
    # the reader process starts for every ingest; text files must not wait for the PDF library
    import subprocess
    import sys

    (tmp_path / "a.md").write_text("# Rubrik\n\nText.\n", encoding="utf-8")
    (tmp_path / "b.html").write_text("<h1>Rubrik</h1><p>Text.</p>", encoding="utf-8")

    def imported(name: str) -> str:
        done = subprocess.run([sys.executable, "-c", LAZY, str(tmp_path / name)],
                              capture_output=True, text=True, timeout=120, check=True)
        return done.stdout.strip()

    assert imported("a.md") == ""
    html = imported("b.html")
    assert "bs4" in html and "pypdf" not in html
