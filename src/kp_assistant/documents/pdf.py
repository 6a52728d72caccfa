"""PDF pages to text: the text layer through pypdf, OCR for pages without one (ocr.py).

Page furniture (page numbers, running headers and footers) is dropped and hard-wrapped lines
are joined back into paragraphs, for text layers and OCR text alike.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from io import BytesIO
from typing import TYPE_CHECKING

from pypdf import PageObject, PasswordType, PdfReader
from pypdf.errors import DependencyError

from kp_assistant.documents.chunking import is_table_row
from kp_assistant.documents.ocr import OcrOptions, Progress, ocr_pdf_pages
from kp_assistant.documents.ocr import missing as ocr_missing
from kp_assistant.documents.pdf_tables import Fragment, fragment_from, with_tables
from kp_assistant.errors import Refused, short_detail
from kp_assistant.models import Page

if TYPE_CHECKING:
    from kp_assistant.documents.readers import Raw

log = logging.getLogger(__name__)

_PAGE_NUMBER = re.compile(r"(?:s\.|sid(?:an?)?|page|p\.)?\s*\d{1,3}(?:\s*(?:/|av|of)\s*\d+)?", re.I)
_LIST_START = re.compile(r"(?:[-•–*▪●◦]|\d{1,2}(?:[.)]|(?:\.\d{1,2})+\.?))\s")
# "kultur- och\nfritid": a hyphen before a conjunction marks a shared compound part, not a wrap.
_KEEP_HYPHEN_BEFORE = frozenset({"och", "eller", "samt", "respektive", "and", "or", "to"})


def read_pdf(data: bytes, ocr: OcrOptions | None = None, progress: Progress | None = None) -> Raw:
    if b"%PDF-" not in data[:1024]:
        raise Refused("not a valid PDF (no %PDF header)")
    # pypdf raises many exception types on damaged files (KeyError, ValueError, zlib.error,
    # RecursionError, …), so its calls are guarded broadly: no traceback may reach the user.
    try:
        reader = PdfReader(BytesIO(data))
        # Many "encrypted" PDFs only restrict printing and open with the empty password.
        opened = not reader.is_encrypted or reader.decrypt("") != PasswordType.NOT_DECRYPTED
        page_list = list(reader.pages) if opened else []
    except DependencyError:
        raise Refused("encrypted PDF (needs the 'cryptography' package to decrypt)") from None
    except Exception as e:
        detail = "truncated file" if b"%%EOF" not in data[-2048:] else short_detail(e)
        raise Refused(f"not a valid PDF ({detail})") from None
    if not opened:
        raise Refused("encrypted PDF (password required)")
    texts: dict[int, list[str]] = {}
    failure = ""
    for number, page in enumerate(page_list, start=1):
        try:
            texts[number] = _page_lines(page)
        except Exception as e:  # one damaged page should not cost the whole document
            log.warning("page %d: text extraction failed: %s", number, e)
            failure = failure or short_detail(e)
    scanned = [n for n, lines in texts.items() if _needs_ocr(lines, page_list[n - 1])]
    confidence = _ocr_into(texts, scanned, data, ocr, progress) if scanned and ocr else {}
    if not any(any(lines) for lines in texts.values()):
        if failure:
            raise Refused(f"not a valid PDF (text extraction failed: {failure})")
        if not page_list:
            raise Refused("not a valid PDF (no pages)")
        if ocr and ocr.enabled:
            raise Refused("no text layer, and OCR found no text on its pages")
        raise Refused("no text layer (scanned or image-only PDF; OCR it first)")
    _drop_page_furniture(texts)
    pages = [Page(n, _unwrap(lines), confidence.get(n)) for n, lines in texts.items()]
    return _pdf_title(reader), pages


def _page_lines(page: PageObject) -> list[str]:
    """The page's lines as pypdf reads them, its tables one row per line (pdf_tables.py)."""
    fragments: list[Fragment] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if (f := fragment_from(text, cm, tm, size)) is not None:
            fragments.append(f)

    lines = [" ".join(line.split()) for line in page.extract_text(visitor_text=visit).splitlines()]
    try:
        return with_tables(lines, fragments)
    except Exception as e:  # reading tables is a refinement: it never costs the page
        log.warning("tables not read: %s", short_detail(e))
        return lines


def _needs_ocr(lines: list[str], page: PageObject) -> bool:
    """No text layer, or only a stray line of text over a picture (a stamped scan)."""
    words = sum(len(line.split()) for line in lines)
    return words == 0 or (words < 5 and _has_image(page))


def _has_image(page: PageObject) -> bool:
    try:
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources else None
        return any(
            x.get_object().get("/Subtype") == "/Image"
            for x in (xobjects.get_object().values() if xobjects else ())
        )
    except Exception:  # a damaged resource dictionary: treat as no image
        return False


def _ocr_into(
    texts: dict[int, list[str]], numbers: list[int], data: bytes, ocr: OcrOptions,
    progress: Progress | None,
) -> dict[int, float]:
    """Put the OCR text of `numbers` into `texts`; returns each OCR'd page's mean confidence."""
    has_text = any(any(texts[n]) for n in texts if n not in numbers)
    if not ocr.enabled:
        return {}
    if progress:
        progress(0, len(numbers))  # first of all: the reader's time bound changes now
    if reason := ocr_missing():
        if not has_text:
            raise Refused(f"no text layer (scanned or image-only PDF; {reason})")
        log.warning("%d page(s) without text layer skipped: %s", len(numbers), reason)
        return {}
    try:
        read = ocr_pdf_pages(data, numbers, ocr, progress)
    except MemoryError:
        raise
    except Exception as e:  # tesseract or pdfium failing on this file
        if not has_text:
            raise Refused(f"OCR failed ({short_detail(e)})") from None
        log.warning("OCR failed, %d page(s) without text layer skipped: %s", len(numbers), e)
        return {}
    confidence = {}
    for number, page in read.items():
        if page.words:
            texts[number] = list(page.lines)
            confidence[number] = page.confidence
    return confidence


def _drop_page_furniture(texts: dict[int, list[str]]) -> None:
    """Remove page numbers, running footers, and a running header except on page 1 (where it is
    often the title). Lines are compared by their letters only, so a header or footer that
    carries the page number, or that OCR read with other punctuation, still counts as repeated.
    """
    for lines in texts.values():
        _strip_blank_ends(lines)
        if lines and _PAGE_NUMBER.fullmatch(lines[-1]):
            lines.pop()
            _strip_blank_ends(lines)
        if lines and _PAGE_NUMBER.fullmatch(lines[0]):  # scans often number pages at the top
            del lines[0]
            _strip_blank_ends(lines)
    header, footer = _running_line(texts, 0), _running_line(texts, -1)
    for number, lines in texts.items():
        if footer and lines and _letters(lines[-1]) == footer:
            lines.pop()
        if header and lines and _letters(lines[0]) == header:
            lines[0:1] = [lines[0], ""] if number == min(texts) else []


def _running_line(texts: dict[int, list[str]], at: int) -> str:
    """The letters of a first (at=0) or last (at=-1) line that repeats on most pages, or ""."""
    seen = Counter(_letters(lines[at]) for lines in texts.values() if lines)
    if not seen:
        return ""
    key, count = seen.most_common(1)[0]
    return key if len(key) >= 3 and count >= 2 and count * 2 >= len(texts) else ""


def _letters(line: str) -> str:
    return "".join(c for c in line.lower() if c.isalpha())


def _strip_blank_ends(lines: list[str]) -> None:
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        del lines[0]


def _unwrap(lines: list[str]) -> str:
    """Join hard-wrapped lines into one line per paragraph; blank lines stay paragraph breaks.

    pypdf gives one line per printed line, so a line continues the previous one when that ends
    in a hyphen, or is nearly as long as the page's longest line, or the line starts in lower case.
    """
    width = max((len(line) for line in lines if not is_table_row(line)), default=0)
    out: list[str] = []
    for i, line in enumerate(lines):
        prev = lines[i - 1] if i else ""
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if not (prev and line) or _LIST_START.match(line) or is_table_row(line) \
                or is_table_row(prev):
            out.append(line)
        elif re.search(r"\w-$", prev):
            out[-1] = _join_hyphenated(out[-1], line)
        elif (line[0].islower() or len(prev) >= 0.7 * width >= 35) and not _is_heading(
            line, following
        ):
            out[-1] += " " + line
        else:
            out.append(line)
    return "\n".join(out)


def _is_heading(line: str, following: str) -> bool:
    """A short capitalised line without closing punctuation before a new sentence: "Bakgrund"."""
    short = len(line) < 60 and not re.search(r"[.,;:!?]$", line)
    return short and line[0].isupper() and following[:1].isupper()


def _join_hyphenated(head: str, tail: str) -> str:
    if tail.split()[0].lower() in _KEEP_HYPHEN_BEFORE:
        return f"{head} {tail}"
    # Drop the hyphen only between lower-case letters: "kom-\nmun", but "EU-\nprojekt".
    if head[-2].islower() and tail[0].islower():
        return head[:-1] + tail
    return head + tail


def _pdf_title(reader: PdfReader) -> str | None:
    try:
        return str(reader.metadata.title or "") if reader.metadata else None
    except Exception:  # a damaged info dictionary only costs the title
        return None


