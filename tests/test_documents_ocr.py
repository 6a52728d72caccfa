"""OCR of scanned PDFs with the real tesseract: image-only PDFs made here from PDFs with text."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from conftest import hashing
from kp_assistant.assistant import Assistant
from kp_assistant.documents.ocr import CACHE_DIR, OcrOptions, missing
from kp_assistant.documents.readers import read_document
from kp_assistant.documents.sandbox import Sandbox
from kp_assistant.errors import UnreadableDocument
from kp_assistant.models import FileEvent
from test_documents_readers import write_text_pdf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from make_scans import scan_pdf, write_scan

pytestmark = pytest.mark.skipif(
    missing() is not None, reason=f"OCR needs tesseract with Swedish and English: {missing()}"
)

OLD_REFUSAL = "no text layer (scanned or image-only PDF; OCR it first)"
# Three pages with a running header and footer; page 2 wraps a word with a hyphen.
PAGES = [
    ["Rapport om partnerskapet", "Kalix kommun samarbetar med Masaka i Uganda om avfall.",
     "Unga i båda kommunerna lär sig mer om plast och miljö.", "Rapport sida 1 av 3"],
    ["Rapport om partnerskapet", "Under 2021 fick projektet stöd för studieresor och ett kommunalt",
     "ungdomsråd som träffas fyra gånger per år med politiker från båda part-",
     "nerkommunerna i Masaka och Kalix.", "Rapport sida 2 av 3"],
    ["Rapport om partnerskapet", "Lund och Francistown arbetar med dricksvatten i Botswana.",
     "Rapport sida 3 av 3"],
]
OFF = OcrOptions(enabled=False)


def digital(tmp_path: Path, name: str = "digital.pdf") -> Path:
    return write_text_pdf(tmp_path / name, PAGES)


def scanned(tmp_path: Path, name: str = "skannad.pdf", **options: float) -> Path:
    source = digital(tmp_path, f"original-{name}")
    target = scan_pdf(source, tmp_path / name, dpi=200, **options)  # type: ignore[arg-type]
    source.unlink()
    return target


def ocr_options(tmp_path: Path) -> OcrOptions:
    return OcrOptions(dpi=200, cache_dir=tmp_path / CACHE_DIR)


def test_image_only_pdf_is_read_with_ocr(tmp_path: Path) -> None:
    scan = scanned(tmp_path)
    assert not PdfReader(scan).pages[0].extract_text().strip()  # really no text layer
    progress: list[tuple[int, int]] = []

    doc = read_document(scan, ocr=ocr_options(tmp_path),
                        progress=lambda done, total: progress.append((done, total)))

    assert [p.number for p in doc.pages] == [1, 2, 3]
    assert "Kalix kommun samarbetar med Masaka" in doc.pages[0].text
    assert "Francistown" in doc.pages[2].text
    assert "partnerkommunerna" in doc.pages[1].text  # the hyphenated line end is joined
    # the running header stays once, on page 1 (it is the title); the footer goes everywhere
    assert doc.pages[0].text.startswith("Rapport om partnerskapet")
    assert all("Rapport om partnerskapet" not in p.text for p in doc.pages[1:])
    assert all("sida" not in p.text for p in doc.pages)
    assert doc.title == "Rapport om partnerskapet"
    assert all(p.ocr_confidence is not None and p.ocr_confidence > 80 for p in doc.pages)
    assert progress == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_image_only_page_inside_a_digital_pdf(tmp_path: Path) -> None:
    scan = scanned(tmp_path)
    writer = PdfWriter()
    text_pages = PdfReader(digital(tmp_path)).pages
    writer.add_page(text_pages[0])
    writer.add_page(PdfReader(scan).pages[1])
    writer.add_page(text_pages[2])
    writer.write(tmp_path / "blandad.pdf")

    doc = read_document(tmp_path / "blandad.pdf", ocr=ocr_options(tmp_path))

    assert [p.number for p in doc.pages] == [1, 2, 3]
    assert [p.ocr_confidence is not None for p in doc.pages] == [False, True, False]
    assert "ungdomsråd" in doc.pages[1].text
    # without OCR the scanned page is simply missing; the numbers of the others stay
    plain = read_document(tmp_path / "blandad.pdf", ocr=OFF)
    assert [p.number for p in plain.pages] == [1, 3]


def test_ocr_off_gives_the_old_refusal(tmp_path: Path) -> None:
    scan = scanned(tmp_path)
    with pytest.raises(UnreadableDocument) as caught:
        read_document(scan, ocr=OFF)
    assert caught.value.reason == OLD_REFUSAL

    settings = hashing(tmp_path, tmp_path, ocr="off")
    summary = Assistant.from_settings(settings).ingest([tmp_path])
    assert summary.failed == {"skannad.pdf": OLD_REFUSAL}


@pytest.mark.parametrize("angle", [90, 2.0], ids=["on its side", "crooked and noisy"])
def test_rotated_page_is_still_read(tmp_path: Path, angle: float) -> None:
    scan = scanned(tmp_path, angle=angle, noise=10 if angle < 45 else 0)

    doc = read_document(scan, ocr=ocr_options(tmp_path))

    assert "Kalix kommun samarbetar med Masaka" in doc.pages[0].text
    assert "dricksvatten" in doc.pages[2].text


def test_blank_scan_is_refused_with_its_reason(tmp_path: Path) -> None:
    from PIL import Image

    write_scan([Image.new("L", (800, 1100), 255)], tmp_path / "tom.pdf", dpi=100)

    with pytest.raises(UnreadableDocument) as caught:
        read_document(tmp_path / "tom.pdf", ocr=ocr_options(tmp_path))
    assert caught.value.reason == "no text layer, and OCR found no text on its pages"


def test_unchanged_scan_is_not_ocrd_again(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    scanned(corpus)
    assistant = Assistant.from_settings(hashing(tmp_path, corpus, ocr_dpi=200))
    events: list[FileEvent] = []

    first = assistant.ingest([corpus], on_event=events.append)
    assert first.added == ["skannad.pdf"]
    assert [e.reason for e in events if e.status == "ocr"][-1] == "OCR 3/3"

    events.clear()
    again = assistant.ingest([corpus], on_event=events.append)
    assert again.unchanged == ["skannad.pdf"] and not [e for e in events if e.status == "ocr"]

    # Even a rebuild reads the pages from the cache: mark the cached text, and it comes back.
    (cache,) = (tmp_path / "index" / CACHE_DIR).glob("*.json")
    cached = json.loads(cache.read_text(encoding="utf-8"))
    cached["pages"]["3"]["lines"] = ["Ur cachen: Lund och Francistown."]
    cache.write_text(json.dumps(cached), encoding="utf-8")
    started = time.monotonic()
    assistant.ingest([corpus], rebuild=True)
    assert time.monotonic() - started < 30
    texts = [c.text for c in assistant.store.chunks_of({"skannad.pdf"})]
    assert any("Ur cachen" in t for t in texts)


def test_citations_and_stats_say_ocr(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    scanned(corpus)
    (corpus / "annat.md").write_text("# Annat\n\nArvika samarbetar med Moisbridge i Kenya.\n",
                                     encoding="utf-8")
    settings = hashing(tmp_path, corpus, ocr_dpi=200, ocr_min_confidence=99.9)
    assistant = Assistant.from_settings(settings)
    assistant.ingest([corpus])

    answer = assistant.ask("Vad arbetar Lund och Francistown med?")

    (cited,) = [c for c in answer.citations if c.source == "skannad.pdf"]
    assert cited.page == 3 and cited.ocr and cited.ocr_uncertain
    assert cited.ocr_confidence is not None and 50 < cited.ocr_confidence < 99.9
    arvika = assistant.ask("Vilken kommun i Kenya samarbetar Arvika med?")
    other = (arvika.citations or arvika.related)[0]
    assert other.source == "annat.md" and not other.ocr and other.ocr_confidence is None
    ocr = assistant.stats()["ocr"]
    assert list(ocr) == ["skannad.pdf"] and ocr["skannad.pdf"]["pages"] == [1, 2, 3]
    assert ocr["skannad.pdf"]["uncertain_pages"] == [1, 2, 3]


def test_ocr_gets_its_own_time_bound(tmp_path: Path) -> None:
    scan = scanned(tmp_path)
    # too short for OCR, which therefore runs under the OCR bound instead
    started = time.monotonic()
    with Sandbox(timeout_s=1, memory_mb=2048, ocr=OcrOptions(dpi=200), ocr_timeout_s=300) as box:
        assert "Kalix" in box.read(scan).pages[0].text
    assert time.monotonic() - started > 1
    # and the OCR bound holds: nine dense pages at 300 dpi take far longer than 3 s
    long_scan = scan_pdf(write_text_pdf(tmp_path / "lang.pdf", PAGES * 3), tmp_path / "l.pdf")
    started = time.monotonic()
    with Sandbox(timeout_s=3, memory_mb=2048, ocr=OcrOptions(), ocr_timeout_s=3) as box, \
            pytest.raises(UnreadableDocument) as caught:
        box.read(long_scan)
    assert caught.value.reason == "OCR took longer than 3 s (limit KP_OCR_TIMEOUT)"
    assert time.monotonic() - started < 15
