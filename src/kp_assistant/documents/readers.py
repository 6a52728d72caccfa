"""Turn files into text pages: PDF, Word, HTML, Markdown and plain text."""

from __future__ import annotations

import codecs
import logging
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from io import BytesIO
from pathlib import Path

import docx
from bs4 import BeautifulSoup
from bs4.element import NavigableString, PreformattedString, Tag
from docx.table import Table

from kp_assistant.documents.ocr import OcrOptions, Progress
from kp_assistant.documents.pdf import read_pdf
from kp_assistant.errors import Refused, UnreadableDocument, short_detail
from kp_assistant.models import SUPPORTED_SUFFIXES, Page, ParsedDocument

log = logging.getLogger(__name__)

__all__ = ["SUPPORTED_SUFFIXES", "read_document"]
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
# Word XML compresses about 10:1; a much higher ratio only comes from crafted archives.
MAX_ZIP_RATIO = 100

_Raw = tuple[str | None, list[Page]]  # (title from metadata, pages before normalisation)


def read_document(
    path: Path, *, ocr: OcrOptions | None = None, progress: Progress | None = None
) -> ParsedDocument:
    """Read one file. Raises UnreadableDocument with a specific reason.

    With `ocr` enabled, PDF pages without a text layer are read by OCR; `progress` hears of
    every such page.
    """
    suffix = path.suffix.lower()
    try:
        if suffix not in _READERS:
            kind = f"'{suffix}'" if suffix else "(no extension)"
            raise Refused(f"unsupported file type {kind}")
        data = path.read_bytes()
        if not data:
            raise Refused("empty file")
        if suffix == ".pdf":
            meta_title, raw_pages = read_pdf(data, ocr, progress)
        else:
            meta_title, raw_pages = _READERS[suffix](data)
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


def _read_text(data: bytes) -> _Raw:
    return None, [Page(None, _decode(data))]


def _read_markdown(data: bytes) -> _Raw:
    text = _decode(data)
    for pattern, replacement in _MD_NOISE:
        text = pattern.sub(replacement, text)
    return None, [Page(None, text)]


# --- HTML --------------------------------------------------------------------------------------

_DROP_TAGS = ["script", "style", "noscript", "template", "nav", "header", "footer", "aside"]
_DROP_TAGS += ["form", "iframe", "svg"]
_BOILERPLATE = re.compile(r"(?i)cookie|consent|gdpr|breadcrumb|menu|navbar|skip-link|share|social")
_BOILERPLATE_ROLES = {"navigation", "banner", "contentinfo", "search", "menu"}
_CONTENT_TAGS = ["main", "article", "h1"]
_BLOCK_TAGS = {"p", "div", "section", "article", "main", "ul", "ol", "li", "table", "tbody"}
_BLOCK_TAGS |= {"thead", "blockquote", "pre", "dl", "dt", "dd", "figure", "figcaption", "br", "hr"}


def _read_html(data: bytes) -> _Raw:
    soup = BeautifulSoup(data, "html.parser")
    for tag in soup.find_all(_DROP_TAGS) + soup.find_all(_is_boilerplate):
        if isinstance(tag, Tag) and not tag.decomposed:
            tag.decompose()
    title = soup.title.get_text() if soup.title else ""
    if not title.strip() and (h1 := soup.find("h1")):
        title = h1.get_text(" ")
    root = soup.find("main") or soup.find("article") or soup.body or soup
    lines = _html_lines(root) if isinstance(root, Tag) else iter(())
    return _squash(title), [Page(None, "\n".join(lines))]


def _is_boilerplate(tag: Tag) -> bool:
    marks = " ".join([str(tag.get("id") or ""), *tag.get_attribute_list("class")])
    if not (_BOILERPLATE.search(marks) or tag.get("role") in _BOILERPLATE_ROLES):
        return False
    # A wrapper such as <div class="page with-menu"> may hold the content itself.
    return tag.name not in {"html", "body", "main", "article"} and not tag.find(_CONTENT_TAGS)


def _html_lines(node: Tag, prefix: str = "") -> Iterator[str]:
    """Yield one line per heading, paragraph, list item and table row, in document order."""
    inline: list[str] = []

    def flush() -> Iterator[str]:
        if text := _squash("".join(inline)):
            yield prefix + text
        inline.clear()

    for child in node.children:
        if isinstance(child, NavigableString):
            if not isinstance(child, PreformattedString):  # comments, doctype, CDATA
                inline.append(str(child))
        elif not isinstance(child, Tag):
            continue
        elif child.name in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            yield from flush()
            if heading := _squash(child.get_text(" ")):
                yield f"{'#' * int(child.name[1])} {heading}"
        elif child.name == "tr":
            yield from flush()
            if cells := [_squash(c.get_text(" ")) for c in child.find_all(["th", "td"])]:
                yield " | ".join(cells)
        elif child.name in _BLOCK_TAGS:
            yield from flush()
            yield from _html_lines(child, "- " if child.name == "li" else prefix)
        else:
            inline.append(child.get_text())
    yield from flush()


# --- Word --------------------------------------------------------------------------------------


def _read_docx(data: bytes) -> _Raw:
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        raise Refused("not a valid .docx (not a zip archive)") from None
    # zipfile stops reading a member at its declared size, so the declared sizes can be trusted.
    unpacked = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members)
    if unpacked > MAX_UNZIPPED_BYTES or unpacked > MAX_ZIP_RATIO * max(packed, 100_000):
        raise Refused("suspicious archive (zip bomb?)")
    lines: list[str] = []
    try:
        for block in docx.Document(BytesIO(data)).iter_inner_content():
            if isinstance(block, Table):
                lines.extend(_docx_rows(block))
            elif text := _squash(block.text):
                lines.append(_docx_prefix(block.style.name if block.style else None) + text)
    except Exception as e:  # python-docx raises KeyError, ValueError, lxml errors on bad parts
        raise Refused(f"not a valid .docx ({short_detail(e)})") from None
    return None, [Page(None, "\n".join(lines))]


def _docx_rows(table: Table) -> Iterator[str]:
    for row in table.rows:
        cells = [_squash(cell.text) for cell in row.cells]
        # A merged cell is returned once for every column it spans.
        kept = [c for i, c in enumerate(cells) if c and (i == 0 or c != cells[i - 1])]
        if kept:
            yield " | ".join(kept)


def _docx_prefix(style: str | None) -> str:
    style = (style or "").lower()
    if style.startswith(("title", "rubrik", "heading")):
        level = re.search(r"\d", style)
        return "#" * min(int(level.group()) if level else 1, 6) + " "
    return "- " if style.startswith("list") else ""


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


def _squash(text: str) -> str:
    return " ".join(text.split())


def _title(meta_title: str | None, pages: list[Page], path: Path) -> str:
    meta = _squash(unicodedata.normalize("NFC", meta_title or ""))
    # scanners and image converters often store the file name as the title: it tells nothing
    if meta and not _JUNK_TITLE.search(meta) and meta != path.stem:
        return meta
    text = "\n".join(p.text for p in pages)
    if heading := re.search(r"^#{1,6}[ \t]+(.+)$", text, re.M):
        return heading.group(1).strip()
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if first_line and len(first_line) < 120:
        return first_line
    return _squash(re.sub(r"[_-]+", " ", path.stem)) or path.name


_READERS: dict[str, Callable[[bytes], _Raw]] = {".pdf": read_pdf, ".docx": _read_docx}
_READERS |= {".txt": _read_text, ".md": _read_markdown, ".markdown": _read_markdown}
_READERS |= {".html": _read_html, ".htm": _read_html}
