"""Passages as shown in an answer, and the citations that point at them."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from kp_assistant.documents.chunking import is_table_row, is_table_rule, names_columns
from kp_assistant.index.keyword import tokenize
from kp_assistant.models import Chunk, Citation, Hit

if TYPE_CHECKING:
    from kp_assistant.answering.evidence import Candidate

_LIST_ITEM = re.compile(r"^\s*(?:[-*•–]|\d+[.)])\s+")
# Words that open a sentence which speaks of the one before ("Där ska …", "They …"). "Den",
# "de" and "det" are left out: they open dates ("Den 3 maj") and general statements as often.
_REFERS_BACK = re.compile(
    r"^(?:där|dessa|detta|denna|dess|deras|han|hon|därför|this|these|they|there|it|he|she|"
    r"their|its)\b", re.I)


MAX_LIST_LINES = 8  # of a list or of what a colon announces
MAX_TAIL_CHARS = 400


def passage(x: Candidate, following: Callable[[Chunk], Sequence[str]] | None = None) -> str:
    """The sentence with what it needs to be understood: a list's lead-in and the rest of the
    list, what a colon announces, a short sentence's next line, a next line that refers back,
    a question's next line (its answer, in a list of questions and answers).

    `following` gives the lines after a chunk (the next chunk of the same page, without the
    lines both share), for a list that runs on past the end of its chunk.
    """
    lines = x.hit.chunk.text.split("\n")
    if x.sentence.startswith("|"):
        # a header row at the end of its chunk: the rows are in the next one
        more = following(x.hit.chunk) if following is not None and \
            x.index + 2 >= len(lines) else []
        return _table_passage(x.sentence, [*lines, *more], x.index)
    if is_table_row(x.sentence):  # "a | b", as HTML, Word and PDF tables are read
        more = following(x.hit.chunk) if following is not None and \
            x.index + 1 >= len(lines) else []
        return _row_passage(x.sentence, [*lines, *more], x.index)
    item = bool(_LIST_ITEM.match(x.sentence))
    lead = lead_in(lines, x.index) if item else None
    parts = [x.sentence] if lead is None else [lead, x.sentence]
    after = lines[x.index + 1 :]
    colon = x.sentence.rstrip().endswith(":")
    # a question is shown with its answer, a short line with what follows it
    needs_next = x.sentence.rstrip().endswith("?") or len(x.sentence.split()) < 8
    runs_on = (item or colon) and len(after) < MAX_LIST_LINES
    read_on = runs_on or (needs_next and not after)
    if following is not None and read_on:
        after = [*after, *following(x.hit.chunk)]
    if item or colon:
        parts.extend(_continuation(after, lists_only=item,
                                   kind=_marker(x.sentence) if item else None))
    elif after and not after[0].startswith("#") and not after[0].rstrip().endswith("?") and (
            needs_next or _REFERS_BACK.match(after[0])):  # the next question is another matter
        # a caption over a table: the row naming its columns comes with rows under it
        parts.append(_row_passage(after[0], after, 0) if is_table_row(after[0]) else after[0])
        if after[0].rstrip().endswith(":"):  # the next line announces a list: show it too
            rest = after[1:]
            if following is not None and not read_on and len(rest) < MAX_LIST_LINES:
                rest = [*rest, *following(x.hit.chunk)]
            parts.extend(_continuation(rest, lists_only=False))
    return " ".join(parts)


def lead_in(lines: Sequence[str], index: int) -> str | None:
    """The line announcing the list (ending in ':') that the item at `index` belongs to."""
    for prev in reversed(lines[:index]):
        if prev.rstrip().endswith(":"):
            return prev
        if not _LIST_ITEM.match(prev):
            return None
    return None


def is_list_item(line: str) -> bool:
    return bool(_LIST_ITEM.match(line))


def _table_passage(row: str, lines: Sequence[str], at: int) -> str:
    """A table row with what says what its cells are: a body row with the table's header row,
    a header row with the rows under it (within the limits above)."""
    after = lines[at + 1 :]
    if after and is_table_rule(after[0]):  # the header row itself
        rows: list[str] = []
        for ln in after[1 : 1 + MAX_LIST_LINES]:
            if not ln.startswith("|") or (rows and len(row) + sum(map(len, rows)) + len(ln)
                                          > MAX_TAIL_CHARS):
                break
            rows.append(ln)
        return " ".join([row, *rows])
    for i in range(at - 1, 0, -1):
        if not lines[i].startswith("|"):
            break
        if is_table_rule(lines[i]) and lines[i - 1].startswith("|"):
            return f"{lines[i - 1]} {row}"
    return row


def _row_passage(row: str, lines: Sequence[str], at: int) -> str:
    """A row of a table without Markdown's rule under its header: a body row with the
    table's first row when that names the columns (no number in it), not with the next row,
    which is another matter; the row naming the columns with the rows under it (within the
    limits above), as a Markdown header row is shown."""
    start = at
    while start > 0 and is_table_row(lines[start - 1]):
        start -= 1
    header = lines[start]
    if not names_columns(header):
        return row
    if start < at:
        return f"{header} — {row}"
    rows: list[str] = []
    # the next chunk of a table opens with its header again
    for ln in [ln for ln in lines[at + 1 :] if ln != row][:MAX_LIST_LINES]:
        if not is_table_row(ln) or (
                rows and len(row) + sum(map(len, rows)) + len(ln) > MAX_TAIL_CHARS):
            break
        rows.append(ln)
    return f"{row} — {' / '.join(rows)}" if rows else row


def _continuation(after: Sequence[str], *, lists_only: bool,
                  kind: str | None = None) -> list[str]:
    """The lines that carry on a list (its items) or a colon (items, or else the next lines
    up to a heading), within the limits above.

    An item may run over several lines (a bullet of several sentences, as PDFs give them);
    its further lines are left out, marked "…", so that the items after it are shown too.
    The list ends at the first line that no further item (of `kind`, the list's marker)
    follows.
    """
    out: list[str] = []
    items = bool(after) and bool(_LIST_ITEM.match(after[0]))
    kind = kind or (_marker(after[0]) if items else None)
    size = 0
    for i, ln in enumerate(after[:MAX_LIST_LINES]):
        if ln.startswith("#"):
            break
        if (items or lists_only) and not _LIST_ITEM.match(ln):
            # a line announcing something else ends the list, and so does an item of
            # another list ("3." after bullets)
            if ln.rstrip().endswith(":") or not _item_follows(
                    after[i + 1 : i + 1 + _ITEM_LINES], kind):
                break
            if out and out[-1] != "…":
                out.append("…")  # the rest of the item before
            continue
        if size + len(ln) > MAX_TAIL_CHARS and out:
            break
        out.append(ln)
        size += len(ln)
    return out[:-1] if out and out[-1] == "…" else out


_ITEM_LINES = 3  # further lines of one item, at most, before the list counts as ended


def _item_follows(lines: Sequence[str], kind: str | None) -> bool:
    """Whether an item of the list (with its marker kind, when known) comes next."""
    for ln in lines:
        if ln.startswith("#") or ln.rstrip().endswith(":"):
            return False
        if _LIST_ITEM.match(ln):
            return kind is None or _marker(ln) == kind
    return False


def _marker(line: str) -> str:
    """The kind of an item's marker: the bullet itself, or "1." / "1)" for numbers."""
    mark = line.lstrip().split(maxsplit=1)[0]
    return re.sub(r"\d+", "1", mark)


def next_lines(current: Chunk, following: Chunk | None) -> list[str]:
    """The lines of `following` that come after `current`, when it continues the same page
    under the same heading (chunks share a few lines at their border)."""
    if following is None or following.source != current.source \
            or following.page != current.page or following.heading != current.heading:
        return []
    mine = current.text.split("\n")
    theirs = following.text.split("\n")
    for n in range(min(len(mine), len(theirs)), 0, -1):
        if mine[-n:] == theirs[:n]:
            return theirs[n:]
    return theirs


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


def hit_citation(n: int, h: Hit, limit: int = 300, quote: str | None = None) -> Citation:
    """A passage as a citation, quoting `quote` (a sentence of it) or else the whole passage
    shortened to `limit`: for "related" passages, further reading and quoted sentences."""
    return Citation(
        n=n,
        source=h.chunk.source,
        page=h.chunk.page,
        chunk_id=h.chunk.id,
        quote=quote if quote is not None else shorten(" ".join(h.chunk.text.split("\n")), limit),
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
