"""Turn files into text pages: PDF, Word, HTML, Markdown and plain text."""

from __future__ import annotations

from pathlib import Path

from .models import ParsedDocument

SUPPORTED_SUFFIXES = frozenset({".pdf", ".txt", ".md", ".markdown", ".html", ".htm", ".docx"})


def read_document(path: Path) -> ParsedDocument:
    """Read one file. Raises UnreadableDocument with a specific reason."""
    raise NotImplementedError
