"""Text from documents shown safely in the pages' Markdown, and links to cited documents."""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from kp_assistant.models import Citation

DOCUMENT_ROUTE = "/dokument"
_INLINE_MARKUP = re.compile(r"([\\`*_\[\]|~])")
_LIST_MARK = re.compile(r"^(?:([-+#])|(\d+)([.)]))")



def escape(text: str) -> str:
    """Text from documents, shown literally in Markdown on one line."""
    text = _INLINE_MARKUP.sub(r"\\\1", " ".join(html.escape(text, quote=False).split()))
    # a quote opening with "8." or "-" must not turn into a list
    return _LIST_MARK.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", text)


def code(text: str) -> str:
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def document_url(c: Citation) -> str:
    url = f"{DOCUMENT_ROUTE}/{quote(c.source, safe='/')}"
    return f"{url}#page={c.page}" if c.page and c.source.lower().endswith(".pdf") else url
