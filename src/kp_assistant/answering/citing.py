"""Passages as shown in an answer, and the citations that point at them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kp_assistant.index.keyword import tokenize
from kp_assistant.models import Citation, Hit

if TYPE_CHECKING:
    from kp_assistant.answering.evidence import Candidate

_LIST_ITEM = re.compile(r"^\s*(?:[-*•–]|\d+[.)])\s+")


def passage(x: Candidate) -> str:
    """The sentence with what it needs to be understood: a list's lead-in, a short tail."""
    lines = x.hit.chunk.text.split("\n")
    parts = [x.sentence]
    if _LIST_ITEM.match(x.sentence):
        for prev in reversed(lines[: x.index]):
            if prev.rstrip().endswith(":"):
                parts.insert(0, prev)
                break
            if not _LIST_ITEM.match(prev):
                break
    if x.sentence.rstrip().endswith(":"):
        parts.extend(ln for ln in lines[x.index + 1 : x.index + 7] if _LIST_ITEM.match(ln))
    elif len(x.sentence.split()) < 8 and x.index + 1 < len(lines):
        nxt = lines[x.index + 1]
        if not nxt.startswith("#"):
            parts.append(nxt)
    return " ".join(parts)


def display(x: Candidate, shown: str) -> str:
    heading = x.hit.chunk.heading
    # a bare line such as "Robertsfors och Machakos (Kenya)." means little without its heading
    if heading and len(x.sentence.split()) < 8 and heading.lower() not in shown.lower():
        return f"{heading}: {shown}"
    return shown


def similar(a: str, b: str) -> bool:
    ta, tb = set(tokenize(a)), set(tokenize(b))
    if not ta or not tb:
        return a == b
    return len(ta & tb) / min(len(ta), len(tb)) > 0.7


def cite(
    chosen: Sequence[Candidate], passages: Sequence[str]
) -> tuple[list[Citation], dict[int, int]]:
    """One citation per chunk, numbered in order of first use; its quote gathers the passages."""
    by_chunk: dict[str, Citation] = {}
    markers: dict[int, int] = {}
    for x, text in zip(chosen, passages, strict=True):
        c = by_chunk.get(x.hit.chunk.id)
        if c is None:
            c = Citation(
                n=len(by_chunk) + 1,
                source=x.hit.chunk.source,
                page=x.hit.chunk.page,
                chunk_id=x.hit.chunk.id,
                quote=text,
                score=x.hit.score,
                title=x.hit.chunk.title,
            )
        elif text not in c.quote:
            c = Citation(
                c.n, c.source, c.page, c.chunk_id, f"{c.quote} … {text}", c.score, c.title
            )
        by_chunk[x.hit.chunk.id] = c
        markers[id(x)] = c.n
    return list(by_chunk.values()), markers


def hit_citation(n: int, h: Hit, limit: int = 300) -> Citation:
    """A whole passage as a citation: for "related" passages and further reading."""
    return Citation(
        n=n,
        source=h.chunk.source,
        page=h.chunk.page,
        chunk_id=h.chunk.id,
        quote=shorten(" ".join(h.chunk.text.split("\n")), limit),
        score=h.score,
        title=h.chunk.title,
    )


def related_citations(hits: Sequence[Hit], n: int = 3) -> list[Citation]:
    """The closest passages, shown as possibly related beside a refusal."""
    return [hit_citation(i, h) for i, h in enumerate(hits[:n], start=1)]


def shorten(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"
