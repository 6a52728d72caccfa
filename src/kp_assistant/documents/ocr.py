"""OCR for PDF pages without a text layer: pypdfium2 renders the page, tesseract reads it.

Runs inside the reader process (sandbox.py), so a slow or crashing OCR costs one file. Results
are cached per file content, page by page, so neither a re-run nor a retry after a timeout
reads a page twice.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kp_assistant.documents.ocr_tables import Layout, Word, layout, reading_order

log = logging.getLogger(__name__)

# Part of the cache key: bump it when recognition or its post-processing changes.
OCR_VERSION = "3"
CACHE_DIR = "ocr-cache"  # inside the index folder
# A first pass below this mean confidence (or with almost no words) tries the page turned.
_RETRY_BELOW = 80.0
_FEW_WORDS = 8

Progress = Callable[[int, int], None]  # (pages done, pages to OCR)


@dataclass(frozen=True)
class OcrOptions:
    """What the reader needs to OCR; picklable, sent to the reader process with each file."""

    enabled: bool = True
    lang: str = "swe+eng"
    dpi: int = 300
    cache_dir: Path | None = None
    page_timeout: float = 300.0  # tesseract is killed after this long on one page


@dataclass(frozen=True)
class OcrPage:
    lines: list[str] = field(default_factory=list)  # "" between paragraphs
    confidence: float = 0.0  # mean word confidence, 0-100
    words: int = 0
    rotated: int = 0  # degrees the image was turned clockwise before reading


@functools.cache
def missing() -> str | None:
    """Why OCR cannot run here, or None when tesseract and its Swedish and English data exist."""
    if shutil.which("tesseract") is None:
        return "tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-swe)"
    import pytesseract

    try:
        have = set(pytesseract.get_languages(config=""))
    except Exception as exc:  # a broken installation
        return f"tesseract does not run ({' '.join(str(exc).split())[:80]})"
    lacking = [lang for lang in ("swe", "eng") if lang not in have]
    if lacking:
        need = " ".join(f"tesseract-ocr-{lang}" for lang in lacking)
        return f"tesseract lacks language data {'+'.join(lacking)} (apt-get install {need})"
    return None


def ocr_pdf_pages(
    data: bytes, numbers: Sequence[int], options: OcrOptions, progress: Progress | None = None
) -> dict[int, OcrPage]:
    """OCR the given 1-based pages of a PDF. Pages already in the cache are not read again."""
    import pypdfium2 as pdfium

    # tesseract's own threads made a page 4x slower on a loaded 2-core machine (19.7 s against
    # 4.9 s at 150 dpi); one thread per reader process is also what a shared server wants
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    cache = _Cache(options, data)
    out: dict[int, OcrPage] = {}
    todo = [n for n in numbers if cache.get(n) is None]
    if todo:
        log.info("OCR of %d page(s) (%d cached)", len(todo), len(numbers) - len(todo))
    pdf = pdfium.PdfDocument(data) if todo else None
    try:
        for done, number in enumerate(numbers, start=1):
            page = cache.get(number)
            if page is None:
                assert pdf is not None
                image = pdf[number - 1].render(scale=options.dpi / 72, grayscale=True).to_pil()
                page = read_image(image.convert("L"), options.lang, options.page_timeout)
                cache.put(number, page)
                log.info("OCR page %d: %d words, confidence %.0f", number, page.words,
                         page.confidence)
            out[number] = page
            if progress:
                progress(done, len(numbers))
    finally:
        if pdf is not None:
            pdf.close()
    return out


def read_image(image: Any, lang: str = "swe+eng", timeout: float = 300.0) -> OcrPage:
    """Read one grey page image; a page lying on its side or upside down is turned first."""
    low, high = image.getextrema()
    if high - low < 16:  # a blank page: nothing for tesseract to find
        return OcrPage()
    prepared = layout(image)
    page = _recognise(prepared, lang, timeout)
    if page.confidence >= _RETRY_BELOW and page.words >= _FEW_WORDS:
        return page
    angle = _orientation(prepared.image, timeout)
    if angle:
        turned = _recognise(layout(image.rotate(-angle, expand=True, fillcolor=255)), lang,
                            timeout)
        if turned.words * turned.confidence > page.words * page.confidence:
            return OcrPage(turned.lines, turned.confidence, turned.words, angle)
    return page


def _recognise(page: Layout, lang: str, timeout: float) -> OcrPage:
    import pytesseract

    data = pytesseract.image_to_data(page.image, lang=lang, config="--psm 3",
                                     output_type=pytesseract.Output.DICT, timeout=timeout)
    words: list[Word] = []
    confidences: list[float] = []
    for i, text in enumerate(data["text"]):
        conf = float(data["conf"][i])
        if conf < 0 or not text.strip():
            continue
        left, top = data["left"][i], data["top"][i]
        box = (left, top, left + data["width"][i], top + data["height"][i])
        words.append(Word(text.strip(), box,
                          (data["block_num"][i], data["par_num"][i], data["line_num"][i])))
        confidences.append(conf)
    mean = statistics.fmean(confidences) if confidences else 0.0
    return OcrPage(reading_order(words, page), round(mean, 1), len(confidences))


def _orientation(image: Any, timeout: float) -> int:
    """Clockwise degrees that make the page upright, by tesseract's orientation detection."""
    import pytesseract

    try:
        osd = pytesseract.image_to_osd(image, config="--psm 0", timeout=timeout,
                                       output_type=pytesseract.Output.DICT)
    except pytesseract.TesseractError:  # too little text to tell
        return 0
    angle = int(osd.get("rotate", 0))
    return angle if angle in (90, 180, 270) else 0


class _Cache:
    """One JSON file per file content and OCR setup, rewritten after every page read."""

    def __init__(self, options: OcrOptions, data: bytes) -> None:
        self.path: Path | None = None
        self.pages: dict[str, dict[str, Any]] = {}
        if options.cache_dir is None:
            return
        key = hashlib.sha256(data).hexdigest()[:32]
        setup = f"{OCR_VERSION}-{options.lang}-{options.dpi}-{_tesseract_version()}"
        self.path = options.cache_dir / f"{key}-{hashlib.sha1(setup.encode()).hexdigest()[:8]}.json"
        try:
            self.pages = json.loads(self.path.read_text(encoding="utf-8"))["pages"]
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable OCR cache %s: %s", self.path.name, exc)

    def get(self, number: int) -> OcrPage | None:
        raw = self.pages.get(str(number))
        try:
            return OcrPage(**raw) if raw is not None else None
        except TypeError:
            return None

    def put(self, number: int, page: OcrPage) -> None:
        self.pages[str(number)] = asdict(page)
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"pages": self.pages}, ensure_ascii=False), "utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:  # the next run OCRs the page again; nothing else is lost
            log.warning("cannot write OCR cache %s: %s", self.path, exc)


@functools.cache
def _tesseract_version() -> str:
    import pytesseract

    try:
        return str(pytesseract.get_tesseract_version())
    except Exception:
        return "unknown"

