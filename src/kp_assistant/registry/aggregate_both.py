"""Lists of municipalities named in every one of two or more dated decisions ("både i mars
2017 och i oktober 2023"), read from the decisions' own documents."""

from __future__ import annotations

import re
from collections.abc import Sequence

from kp_assistant.answering.question import Question
from kp_assistant.language.places import find_places
from kp_assistant.models import Answer, Chunk, Citation

_BOTH = re.compile(r"\bbåde\b.+\boch\b|\bboth\b.+\band\b", re.I)
_DATED = re.compile(
    r"\b(jan|feb|mar|apr|maj|may|jun|jul|aug|sep|okt|oct|nov|dec)[a-zé]*\s+((?:19|20)\d{2})\b",
    re.I,
)


def asks_both(q: Question) -> bool:
    """Whether the question asks what two or more dated decisions have in common: only then
    does `answer_both` need the chunks (reading them all takes seconds in a large index)."""
    return len(_DATED.findall(q.text)) >= 2 and bool(_BOTH.search(q.text))


def both_sources(q: Question, first_chunks: Sequence[Chunk]) -> set[str]:
    """The documents dated to any decision the question names, from their first chunks:
    `answer_both` over only their chunks answers as it does over every chunk."""
    entry = _BY_DATE[0] if _BY_DATE else None  # one read: another thread may replace it
    if entry is not None and entry[0] is first_chunks:  # the store's list, until it changes
        by_date = entry[1]
    else:
        by_date = {}
        for c in first_chunks:
            for date in _head_dates(c):
                by_date.setdefault(date, set()).add(c.source)
        _BY_DATE[:] = [(first_chunks, by_date)]
    dates = [(m.group(1).lower()[:3], m.group(2)) for m in _DATED.finditer(q.text)]
    return set().union(*(by_date.get(date, set()) for date in dates))


_BY_DATE: list[tuple[Sequence[Chunk], dict[tuple[str, str], set[str]]]] = []


def answer_both(q: Question, chunks: Sequence[Chunk]) -> Answer | None:
    """Municipalities and regions named in every one of two or more dated decisions."""
    if not asks_both(q):
        return None
    dates = [(m.group(1).lower()[:3], m.group(2)) for m in _DATED.finditer(q.text)]
    by_doc: dict[str, list[Chunk]] = {}
    for c in chunks:
        by_doc.setdefault(c.source, []).append(c)
    named: list[dict[str, tuple[Chunk, str]]] = []
    for month, year in dates:
        docs = [src for src, cs in by_doc.items() if _dated(cs, month, year)]
        if not docs:
            return None
        found: dict[str, tuple[Chunk, str]] = {}
        for src in docs:
            for c in by_doc[src]:
                for line in c.text.split("\n"):
                    for m in find_places(line, {"kommun", "region"}):
                        if line.rfind("(", 0, m.start) <= line.rfind(")", 0, m.start):
                            found.setdefault(m.place.official, (c, line))
        named.append(found)
    common = [p for p in named[0] if all(p in other for other in named[1:])]
    if not common:
        return None
    citations: list[Citation] = []
    lines = []
    for place in common:
        refs = []
        for found in named:
            c, line = found[place]
            citations.append(
                Citation(
                    n=len(citations) + 1,
                    source=c.source,
                    page=c.page,
                    chunk_id=c.id,
                    quote=line,
                    score=1.0,
                    title=c.title,
                )
            )
            refs.append(f"[{len(citations)}]")
        lines.append(f"- {place} {''.join(refs)}")
    when = " / ".join(f"{m} {y}" for m, y in dates)
    head = (
        f"{len(common)} kommuner eller regioner finns med i alla besluten ({when}):"
        if q.lang == "sv"
        else f"{len(common)} municipalities or regions appear in every decision ({when}):"
    )
    return Answer(
        question=q.text, text="\n".join([head, *lines]), grounded=True, citations=citations
    )


def _dated(chunks: Sequence[Chunk], month: str, year: str) -> bool:
    """Whether a document is dated to the month: its title or opening lines name it."""
    return (month, year) in _head_dates(min(chunks, key=lambda c: c.id))


def _head_dates(first: Chunk) -> set[tuple[str, str]]:
    """(month, year) of every date in a document's title or opening lines."""
    head = f"{first.title}\n{first.heading}\n{first.text[:400]}".lower()
    return {(m.group(1).lower()[:3], m.group(2)) for m in _DATED.finditer(head)}
