"""Turn files into text pages: PDF, Word, HTML, Markdown and plain text."""

from __future__ import annotations

import codecs
import importlib
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from kp_assistant.errors import Refused, UnreadableDocument
from kp_assistant.models import SUPPORTED_SUFFIXES, Page, ParsedDocument

if TYPE_CHECKING:
    from kp_assistant.documents.ocr import OcrOptions, Progress

log = logging.getLogger(__name__)

__all__ = ["SUPPORTED_SUFFIXES", "read_document"]
Raw = tuple[str | None, list[Page]]  # (title from metadata, pages before normalisation)


def read_document(
    path: Path, *, ocr: OcrOptions | None = None, progress: Progress | None = None
) -> ParsedDocument:
    """Read one file. Raises UnreadableDocument with a specific reason.

    With `ocr` enabled, PDF pages without a text layer are read by OCR; `progress` hears of
    every such page.
    """
    suffix = path.suffix.lower()
    try:
        if suffix not in _FORMATS:
            kind = f"'{suffix}'" if suffix else "(no extension)"
            raise Refused(f"unsupported file type {kind}")
        data = path.read_bytes()
        if not data:
            raise Refused("empty file")
        read = _reader(suffix)
        meta_title, raw_pages = read(data, ocr, progress) if suffix == ".pdf" else read(data)
        pages = [replace(p, text=text) for p in raw_pages if (text := _clean(p.text))]
        if not pages:
            raise Refused("no text found")
    except Refused as e:
        raise UnreadableDocument(str(path), str(e)) from None
    except OSError as e:
        raise UnreadableDocument(str(path), f"cannot read file ({e.strerror or e})") from None
    except RecursionError:  # e.g. thousands of unclosed <div>s
        raise UnreadableDocument(str(path), "structure nested too deeply to read") from None
    return ParsedDocument(title=_title(meta_title, pages, path), pages=pages)


# --- Plain text and Markdown -------------------------------------------------------------------

_MD_NOISE = [
    (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links and images become their text
    (re.compile(r"\*\*(.+?)\*\*|__(.+?)__"), r"\1\2"),
    (re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])"), r"\1"),
    (re.compile(r"`([^`\n]+)`"), r"\1"),
]


# C0 and C1 control characters other than tab, line breaks and form feed
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def _decode(data: bytes) -> str:
    encodings = ["utf-8-sig", "cp1252"]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings.insert(1, "utf-16")
    elif utf16 := _utf16_without_bom(data[:4096]):
        encodings.insert(0, utf16)  # its NUL bytes would otherwise pass as valid UTF-8
    text = None
    for encoding in encodings:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        text = data.decode("latin-1")  # cp1252 leaves five bytes undefined; latin-1 maps them all
    sample = text[:1_000_000]
    if len(_CONTROL.findall(sample)) > len(sample) / 100:
        raise Refused("binary data, not text")
    return text


def _utf16_without_bom(head: bytes) -> str | None:
    """Latin script in UTF-16 has a NUL in every second byte."""
    if len(head) < 16:
        return None
    even, odd = head[0::2].count(0) / (len(head) // 2), head[1::2].count(0) / (len(head) // 2)
    if odd > 0.7 and even < 0.1:
        return "utf-16-le"
    if even > 0.7 and odd < 0.1:
        return "utf-16-be"
    return None


def _read_text(data: bytes) -> Raw:
    return None, [Page(None, _decode(data))]


def _read_markdown(data: bytes) -> Raw:
    text = _decode(data)
    for pattern, replacement in _MD_NOISE:
        text = pattern.sub(replacement, text)
    return None, [Page(None, text)]


# --- Shared ------------------------------------------------------------------------------------

_CHAR_FIXES = str.maketrans(
    {"\u00a0": " ", "\u202f": " ", "\u2007": " ", "\u00ad": None, "\u200b": None, "\ufeff": None}
    | {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl"}
)
_JUNK_TITLE = re.compile(r"^(microsoft \w+ - |untitled$)|\.(docx?|pdf|pptx?)$", re.I)


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text).translate(_CHAR_FIXES)
    text = re.sub(r"[ \t]+\n", "\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def squash(text: str) -> str:
    return " ".join(text.split())


def _title(meta_title: str | None, pages: list[Page], path: Path) -> str:
    meta = squash(unicodedata.normalize("NFC", meta_title or ""))
    # scanners and image converters often store the file name as the title: it tells nothing
    if meta and not _JUNK_TITLE.search(meta) and meta != path.stem:
        return meta
    text = "\n".join(p.text for p in pages)
    if heading := re.search(r"^#{1,6}[ \t]+(.+)$", text, re.M):
        return heading.group(1).strip()
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if first_line and len(first_line) < 120:
        return first_line
    return squash(re.sub(r"[_-]+", " ", path.stem)) or path.name


# module and function per file type: a format's library (pypdf, bs4, python-docx) is imported
# when the first file of that type is read, so a reader process is ready in a few milliseconds
_FORMATS = {
    ".txt": (__name__, "_read_text"),
    ".md": (__name__, "_read_markdown"),
    ".markdown": (__name__, "_read_markdown"),
    ".html": ("kp_assistant.documents.html", "read_html"),
    ".htm": ("kp_assistant.documents.html", "read_html"),
    ".docx": ("kp_assistant.documents.word", "read_docx"),
    ".pdf": ("kp_assistant.documents.pdf", "read_pdf"),
}


def _reader(suffix: str) -> Callable[..., Raw]:
    module, name = _FORMATS[suffix]
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
