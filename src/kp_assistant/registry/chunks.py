"""Partnerships over the lines of a chunk: which line states which pair, which later line
refers back to it, and the partners a corpus teaches about itself."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from kp_assistant.documents.chunking import is_table_row, names_columns
from kp_assistant.language.places import find_places
from kp_assistant.models import Chunk
from kp_assistant.registry.extract import Known, Pair, find_pairs, parties_in
from kp_assistant.registry.rules import cancelled, partner_key, partner_name

# The partners of the sentence before, named again by reference.
_SAME_PARTNERS = re.compile(
    r"\b(?:samma (?:två |tre )?(?:partner|partnerkommuner|parter)\w*|de båda partnerna"
    r"|(?:the )?same (?:two |three )?partners?)\b",
    re.I,
)
# Words that refer back to a partnership already named: definite or possessive forms only,
# since "kommunala partnerskap" in general refers to none.
_ANAPHOR = re.compile(
    r"\b(?:\w*(?:projekt|partnerskap|samarbet)(?:et|en|ets|ens)|parterna|regionerna"
    r"|(?:båda|de två) kommunerna|the two municipalities"
    r"|(?:deras|dess|sitt|sin|their|its|the|this) (?:\w+ )?(?:\w*projekt|project|partnership"
    r"|cooperation))\b", re.I,
)



def segments(text: str) -> list[tuple[int, int]]:
    """The chunk's lines (one sentence each), with a line that starts in lower case and a
    Markdown table row cut at a period inside a cell joined back to what they continue."""
    spans: list[tuple[int, int]] = []
    for m in re.finditer(r"[^\n]+", text):
        line, prev = m.group().lstrip(), text[spans[-1][0] : spans[-1][1]] if spans else ""
        cut_row = "|" in prev and not prev.rstrip().endswith("|") and line.startswith("|")
        if spans and ((line[:1].islower() and not is_table_row(line)) or cut_row):
            spans[-1] = (spans[-1][0], m.end())
        else:
            spans.append((m.start(), m.end()))
    return spans


def table_columns(text: str) -> list[list[str]]:
    """For each segment of `text`: the column names of the table it is a row of, when the
    table opens with a row that names them (no number, no Swedish party in it); else []."""
    out: list[list[str]] = []
    columns: list[str] = []
    previous = False
    for a, b in segments(text):
        row = is_table_row(text[a:b])
        if row and not previous:
            columns = _header_cells(text[a:b])
        elif not row:
            columns = []
        previous = row
        out.append(columns)
    return out


def _header_cells(row: str) -> list[str]:
    if not names_columns(row) or find_places(row, {"kommun", "region"}):
        return []
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def _slice(seg: str, pairs: list[Pair], i: int) -> str:
    """The text of pair i: the whole segment, unless it holds a flattened table."""
    starts = sorted({p.start for p in pairs})
    if len(starts) == 1:
        return seg
    end = next((s for s in starts if s > pairs[i].start), len(seg))
    return seg[pairs[i].start : end].strip(" \n|-•*")



def learn(pairs: Iterable[Pair]) -> Known:
    """The partners named in pairs, each with the country a pair states for it."""
    partners: dict[str, tuple[str, str]] = {}
    for pair in pairs:
        name = partner_name(pair.partner)
        if pair.country or partner_key(name) not in partners:
            partners[partner_key(name)] = (name, pair.country)
    names = sorted((n for n, _ in partners.values()), key=len, reverse=True)
    alternatives = "|".join(re.escape(n).replace("'", "['’]") for n in names)
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?=(?:s|:s)?(?!\w))") if names else None
    return Known(partners, pattern)


def document_party(title: str) -> str | None:
    """The one Swedish party a document's title names, if it names exactly one."""
    if title.isupper():  # "NYHETER | TRANÅS": names are found in their usual case
        title = title.title()
    names = {p[2] for p in parties_in(title, find_places(title))}
    return names.pop() if len(names) == 1 else None


def drafts(c: Chunk, found: list[list[Pair]], known: Known, party: str | None = None,
           document: Pair | None = None) -> Iterator[tuple[Pair, str, str]]:
    """(pair, supporting text, kind) for one chunk. The kind is "states" when the text names
    the pair, "refers" when it names no partner but refers back to the partnership of the
    sentence before it or of the heading or title, and "about" when it only stands in a
    passage about that one partnership, naming nobody else; `document` is the partnership of
    a document that states no other, which every passage of it is about. A sentence that
    names "the same partners" for another party states those pairs for it."""
    fallback = find_pairs(c.heading, known, default=party) or find_pairs(c.title, known)
    current: list[Pair] = []
    before = list(fallback)  # the pairs named last, for "samma partner"
    strayed = False  # a line has named another party since the last pair: the text moved on
    for (a, b), pairs, columns in zip(segments(c.text), found, table_columns(c.text),
                                      strict=True):
        seg = c.text[a:b].strip()
        if pairs := pairs or find_pairs(seg, known, columns=columns):
            strayed = False
            yield from ((p, _slice(seg, pairs, i), "states") for i, p in enumerate(pairs))
            # a sentence, or a caption over the lines below it, is an antecedent for the next
            # line; a table row is not
            prose = re.search(r"[.!?][\"')\]]*$", seg) and "|" not in seg
            caption = "|" not in seg and len(seg) <= _CAPTION and not prose
            current = pairs if (prose or caption) and len({p.partner for p in pairs}) == 1 else []
            before = pairs if prose else before
            continue
        names = {p[2] for p in parties_in(seg, find_places(seg))}
        if names and before and _SAME_PARTNERS.search(seg) and not cancelled(seg):
            # "Samma partner samarbetar också med Y kommun": Y works with those partners too
            for p in {p.partner: p for p in before}.values():
                yield p._replace(parties=tuple(sorted(names))), seg, "states"
            continue
        for context in (current, fallback):
            if len(context) == 1 and names <= set(context[0].parties) and (
                (names and context is current) or _ANAPHOR.search(seg)
                or re.search(rf"(?<!\w){re.escape(partner_name(context[0].partner))}", seg)
            ):
                yield context[0], seg, "refers"
                break
        else:
            current = [] if names else current
            # a line in a passage about one partnership that names nobody else describes it
            context = current or fallback or ([document] if document and not strayed else [])
            strayed = strayed or not names <= set(context[0].parties if context else ())
            if len(context) == 1 and names <= set(context[0].parties) and not _other_partner(
                    seg, context[0], known):
                yield context[0], seg, "about"


# The longest line that may be a caption over the lines below it ("Projekt med Lusaka 2012–2015").
_CAPTION = 80


def _other_partner(text: str, pair: Pair, known: Known) -> bool:
    """Whether the text names a partner the corpus knows other than the pair's."""
    if known.pattern is None:
        return False
    own = partner_key(pair.partner)
    return any(not (own.startswith(key) or key.startswith(own))  # "Lusaka" is "Lusaka City"
               for key in {partner_key(m.group()) for m in known.pattern.finditer(text)})


def places_of(partners: Iterable[str], chunks: Iterable[Chunk]) -> dict[str, set[str]]:
    """Partner key -> keys of the places the documents say it lies in: "stadsdelen Kadıköy i
    Istanbul" places Kadıköy in Istanbul. Such a place named beside its partner ("Kadıköy,
    Istanbul") locates it; it is no partner of its own."""
    names = sorted({partner_name(p) for p in partners if partner_name(p)}, key=len, reverse=True)
    if not names:
        return {}
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")[\w-]*\s+(?:i|in)\s+"
                         r"([A-ZÅÄÖ][\w-]+(?:\s[A-ZÅÄÖ][\w-]+)?)")
    out: dict[str, set[str]] = {}
    for c in chunks:
        for m in pattern.finditer(c.text):
            out.setdefault(partner_key(m.group(1)), set()).add(partner_key(m.group(2)))
    return out
