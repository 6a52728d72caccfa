"""Word documents (.docx): paragraphs with their heading levels, and tables row by row."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from io import BytesIO

import docx
from docx.table import Table

from kp_assistant.documents.readers import Raw, squash
from kp_assistant.errors import Refused, short_detail
from kp_assistant.models import Page

MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
# Word XML compresses about 10:1; a much higher ratio only comes from crafted archives.
MAX_ZIP_RATIO = 100


def read_docx(data: bytes) -> Raw:
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
            elif text := squash(block.text):
                lines.append(_docx_prefix(block.style.name if block.style else None) + text)
    except Exception as e:  # python-docx raises KeyError, ValueError, lxml errors on bad parts
        raise Refused(f"not a valid .docx ({short_detail(e)})") from None
    return None, [Page(None, "\n".join(lines))]


def _docx_rows(table: Table) -> Iterator[str]:
    for row in table.rows:
        cells = [squash(cell.text) for cell in row.cells]
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
