"""HTML pages: the main content, one line per heading, paragraph, list item and table row."""

from __future__ import annotations

import re
from collections.abc import Iterator

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PreformattedString, Tag

from kp_assistant.documents.readers import Raw, squash
from kp_assistant.models import Page

_DROP_TAGS = ["script", "style", "noscript", "template", "nav", "header", "footer", "aside"]
_DROP_TAGS += ["form", "iframe", "svg"]
_BOILERPLATE = re.compile(r"(?i)cookie|consent|gdpr|breadcrumb|menu|navbar|skip-link|share|social")
_BOILERPLATE_ROLES = {"navigation", "banner", "contentinfo", "search", "menu"}
_CONTENT_TAGS = ["main", "article", "h1"]
_BLOCK_TAGS = {"p", "div", "section", "article", "main", "ul", "ol", "li", "table", "tbody"}
_BLOCK_TAGS |= {"thead", "blockquote", "pre", "dl", "dt", "dd", "figure", "figcaption", "br", "hr"}


def read_html(data: bytes) -> Raw:
    soup = BeautifulSoup(data, "html.parser")
    for tag in soup.find_all(_DROP_TAGS) + soup.find_all(_is_boilerplate):
        if isinstance(tag, Tag) and not tag.decomposed:
            tag.decompose()
    title = soup.title.get_text() if soup.title else ""
    if not title.strip() and (h1 := soup.find("h1")):
        title = h1.get_text(" ")
    root = soup.find("main") or soup.find("article") or soup.body or soup
    lines = _html_lines(root) if isinstance(root, Tag) else iter(())
    return squash(title), [Page(None, "\n".join(lines))]


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
        if text := squash("".join(inline)):
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
            if heading := squash(child.get_text(" ")):
                yield f"{'#' * int(child.name[1])} {heading}"
        elif child.name == "tr":
            yield from flush()
            if cells := [squash(c.get_text(" ")) for c in child.find_all(["th", "td"])]:
                yield " | ".join(cells)
        elif child.name in _BLOCK_TAGS:
            yield from flush()
            yield from _html_lines(child, "- " if child.name == "li" else prefix)
        else:
            inline.append(child.get_text())
    yield from flush()
