"""Finding partnerships in text: the Swedish party and the partner a relation joins.

Pure functions over strings; `registry.extract` runs them over every chunk of a corpus.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from kp_assistant.language.places import PlaceMention, find_places
from kp_assistant.registry import rules
from kp_assistant.registry.rules import partner_key

_NAME_WORD = re.compile(r"[\w'’-]+")
_NAME_AFTER = re.compile(
    r"\s+(?:(?:staden|kommunen|provinsen|distriktet|regionen|orten) )?"
    r"((?:[A-ZÅÄÖÉ][\w'’-]*)(?: [A-ZÅÄÖÉ][\w'’-]*){0,4})"
)
_PARTICLES = {"es", "de", "da", "del", "la", "of", "al", "el"}  # "Dar es Salaam"
# Capitalised words that stand before a name but are not part of it.
_NOT_NAME = {
    "Även", "Både", "Och", "Samt", "Med", "Tillsammans", "Internationell", "Svensk", "Partner",
    "Partnern", "Partnerkommunen", "Samarbetsparten", "Staden", "Kommunen", "Regionen",
    "Countyt", "Part", "Land", "Tema", "Uppgift", "Exempel", "The", "And", "With", "In", "Both",
    "Arbetet", "Projektet", "Internationellt", "Kommunala", "Programmet", "Partnerskapet",
    "Samarbetet", "Landet", "Parterna", "Nätverket",
}
_ORGS = {"ICLD", "Sida", "SKR", "SKL", "EU", "FN", "UN", "OECD", "DAC", "SEI", "UNCDF", "MR"}
# Words that name a partner by its kind of local government: "Gulu District Local Government".
_SUFFIX = re.compile(r"\b(?:County|Councils?|Municipality|District|Government)\b")
# What joins a partner to its country: "Masaka i Uganda", "Jinja (Uganda)", "Kibaha, Tanzania",
# "Kisumu County | Kenya", and in a PDF table a bare space: "Falun Mogale Sydafrika".
_CONNECTOR = re.compile(r"(?:\s+(?:i|in)\s+(?:(?:norra|södra|östra|västra|centrala|nordvästra"
                        r"|nordöstra|sydvästra|sydöstra|northern|southern|eastern|western"
                        r"|central) )?|\s*\(\s*|\s*,\s*|\s*\|\s*|\s+)$")
_INSTEAD = re.compile(r"\b(?:instead|i stället|istället)\b", re.I)
_NOT_PARTY_AFTER = re.compile(
    r"\s+(?:universitet|University|Environment|Institute|högskola|Energi|Energy|Vatten|Water"
    r"|Bostäder|Hamn|AB)\b"
)
_NOT_PARTY_BEFORE = re.compile(r"\bAB\s+$")
_FEDERATION = re.compile(
    r"\b[A-ZÅÄÖ][\w-]+ kommunalförbund\b|\bRegionförbundet (?:i )?[A-ZÅÄÖ][\w-]+(?: län)?\b"
)
# What locates a place rather than naming a party: "Kalix (Norrbotten)", "Kalix i Norrbotten",
# "Hörby, a municipality in Skåne".
_LOCATING = re.compile(
    r"\s*(?:,\s*(?:a|an|en|ett)\s+(?:[\w-]+\s+){0,3}?)?(?:\(|\bi\b|\bin\b)\s*$"
)
# --- partnerships in one sentence, table row, heading or title ----------------------------------


class Pair(NamedTuple):
    parties: tuple[str, ...]
    partner: str
    country: str
    start: int  # where the pair's own text starts, for tables flattened onto one line


class _Name(NamedTuple):
    start: int
    end: int
    country: str


class Known(NamedTuple):
    """Partners learned from the corpus: key -> (name, country), and a pattern finding them."""

    partners: dict[str, tuple[str, str]]
    pattern: re.Pattern[str] | None


def parties_in(text: str, mentions: list[PlaceMention]) -> list[tuple[int, int, str]]:
    """Swedish parties as (start, end, official name)."""
    federations = [(f.start(), f.end(), f.group()) for f in _FEDERATION.finditer(text)]
    out = []
    for m in mentions:
        if (m.place.kind == "country" or _NOT_PARTY_AFTER.match(text, m.end)
                or _NOT_PARTY_BEFORE.search(text[: m.start])
                or any(f0 < m.end and m.start < f1 for f0, f1, _ in federations)):
            continue
        locating = _LOCATING.search(text[: m.start])
        if locating and any(o.end == locating.start() for o in mentions):
            continue  # "Ljusdals kommun (Gävleborg)", "Ljusdal i Gävleborg" only locate Ljusdal
        out.append((m.start, m.end, m.place.official))
    return sorted(out + federations)


def _name_before(text: str, end: int, blocked: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The run of capitalised words ending at `end`, cut after any place mention inside it."""
    words = list(_NAME_WORD.finditer(text, max(0, end - 120), end))
    start, count = end, 0
    for i in range(len(words) - 1, -1, -1):
        w = words[i].group()
        if text[words[i].end() : start] != ("" if start == end else " ") or count == 5:
            break
        if w[0].isupper():
            count += 1
        elif not (count and w in _PARTICLES and i and words[i - 1].group()[0].isupper()):
            break
        start = words[i].start()
    for b_start, b_end in blocked:
        if b_start < end and b_end > start:
            start = max(start, b_end)
    name = text[start:end].split()
    while name and name[0] in _NOT_NAME:
        name.pop(0)
    if not name or " ".join(name) in _ORGS:
        return None
    return end - len(" ".join(name)), end


def _names(text: str, mentions: list[PlaceMention], parties: list[tuple[int, int, str]],
           related: bool) -> list[_Name]:
    """Partner names: written next to a country, ending in County/Council/District, introduced
    by what they are ("staden X"), after a party and a dash ("A – X"), or, where the clause
    states a relation, joined to a party by "och" ("Mora och Kitwe har samarbetat")."""
    blocked = [(m.start, m.end) for m in mentions]
    ends = {p[1] for p in parties}
    found: list[_Name] = []
    for c in mentions:
        span: tuple[int, int] | None = None
        if c.place.kind != "country" or c.place.name == "Sverige":
            continue
        if c.surface[0].islower():  # a Swedish adjective: "kenyanska Machakos"
            if (m := _NAME_AFTER.match(text, c.end)) and m.group(1) not in _ORGS:
                span = m.span(1)
        elif c.surface.endswith("s") and c.surface[:-1] in (c.place.name, c.place.official):
            continue  # a genitive, "Tanzanias största stad", locates no name
        elif conn := _CONNECTOR.search(text, max(0, c.start - 40), c.start):
            span = _name_before(text, conn.start(), blocked)
            if span and conn.group().isspace():  # only "<party> <name> <country>" is a row
                before = text[: span[0]]
                row = before.rstrip(" ") != before and len(before.rstrip(" ")) in ends
                span = span if row and "\n" not in conn.group() else None
        if span:
            found.append(_Name(*span, c.place.name))
    for m in _SUFFIX.finditer(text):
        span = _name_before(text, m.end(), blocked)
        if span and not _SUFFIX.fullmatch(text[span[0] : span[1]]):
            found.append(_Name(*span, ""))
    for pattern in (rules.INTRODUCED, rules.HYPHEN_TYPE):
        found += [_Name(*m.span(1), "") for m in pattern.finditer(text)
                  if not rules.LOCATES.search(text, max(0, m.start() - 4), m.start())]
    for start, end, _ in parties:
        if dash := rules.DASH.match(text, end):
            found += _run_at(text, dash.end())
        if related and (join := _AND_AFTER.match(text, end)):
            found += _run_at(text, join.end())
        join = _AND_BEFORE.search(text, max(0, start - 8), start) if related else None
        if join and (span := _name_before(text, join.start(), blocked)):
            found.append(_Name(*span, ""))
    found = [n for n in _dedupe(found) if not _overlaps(n, blocked) and _is_name(text, n)
             and not rules.LOCATED_IN.search(text[max(0, n.start - 20) : n.start])]
    return _coordinated(text, found, blocked)


_AND_AFTER = re.compile(r"\s+(?:och|and)\s+(?:(?:staden|provinsen|kommunen|distriktet) )?")
_AND_BEFORE = re.compile(r"\s+(?:och|and)\s+$")
_COORD_BEFORE = re.compile(r"(?:\s*,\s*|\s+(?:och|and)\s+)$")


def _run_at(text: str, at: int) -> list[_Name]:
    """The name that starts at `at`, without a capitalised word that begins the next cell."""
    spans = rules.list_names(text[at : at + 200])
    return [_Name(at + spans[0].start, at + spans[0].end, "")] if spans else []


def _overlaps(n: _Name, blocked: list[tuple[int, int]]) -> bool:
    return any(b0 < n.end and n.start < b1 for b0, b1 in blocked)


def _partner_column(columns: Sequence[str], leading: bool, bars: int) -> bool:
    """Whether the cell after `bars` bars of a row lies in a column named as the partners'."""
    index = bars - 1 if leading else bars
    name = columns[index] if 0 <= index < len(columns) else ""
    return bool(rules.PARTNER_COLUMN.search(name)) and not rules.SWEDISH_COLUMN.search(name)


def _is_name(text: str, n: _Name) -> bool:
    words = text[n.start : n.end].split()
    return (bool(words) and words[0] not in _NOT_NAME and " ".join(words) not in _ORGS
            and not rules.ORGANISATION_AFTER.match(text, n.end))


def _coordinated(text: str, names: list[_Name], blocked: list[tuple[int, int]]) -> list[_Name]:
    """Names listed before a found one share its kind and country: "X och Y i Sydafrika"."""
    out = list(names)
    todo = list(names)
    while todo:
        n = todo.pop()
        if not (sep := _COORD_BEFORE.search(text, max(0, n.start - 6), n.start)):
            continue
        span = _name_before(text, sep.start(), blocked)
        if span and not any(o.start < span[1] and span[0] < o.end for o in out):
            new = _Name(*span, n.country)
            if _is_name(text, new):
                out.append(new)
                todo.append(new)
    return sorted(out)


def _dedupe(found: list[_Name]) -> list[_Name]:
    """Overlapping names collapse into the longest one that knows its country."""
    out: list[_Name] = []
    for n in sorted(found, key=lambda n: (not n.country, n.start, -n.end)):
        if not any(n.start < o.end and o.start < n.end for o in out):
            out.append(n)
    return sorted(out)


def _group(text: str, parties: list[tuple[int, int, str]],
           backwards: bool) -> list[tuple[int, int, str]]:
    """The parties nearest a name that are written as one group: "Region Dalarna, Mora och"."""
    if not parties:
        return []
    ordered = parties[::-1] if backwards else parties
    group = [ordered[0]]
    for p in ordered[1:]:
        a, b = (p, group[-1]) if backwards else (group[-1], p)
        if not rules.PARTY_JOIN.fullmatch(text[a[1] : b[0]]):
            break
        group.append(p)
    return group


def _pair_up(text: str, names: list[_Name], parties: list[tuple[int, int, str]],
             only_country: str) -> list[Pair]:
    """Each partner with the nearest group of Swedish parties between it and its neighbours;
    a bare comma between them states no relation ("Mora, Kitwe, som …")."""
    if (instead := _INSTEAD.search(text)) and any(n.start > instead.end() for n in names):
        names = [n for n in names if n.start > instead.end()]  # "instead carried out with X"
    table = "|" in text
    pairs: list[Pair] = []
    for i, n in enumerate(names):
        lo = names[i - 1].end if i else 0
        hi = names[i + 1].start if i + 1 < len(names) else len(text)
        own = _group(text, [p for p in parties if lo <= p[0] and p[1] <= n.start], True)
        if own and not table and rules.BARE_LIST.fullmatch(text[own[0][1] : n.start]):
            own = []
        if not own:
            own = _group(text, [p for p in parties if n.end <= p[0] and p[1] <= hi], False)
            if own and not table and rules.BARE_LIST.fullmatch(text[n.end : own[0][0]]):
                own = []
        if own:
            swedish, start = tuple(sorted({p[2] for p in own})), min(n.start, *(p[0] for p in own))
        elif pairs:  # "Sala – Kilifi County / Malindi": the same parties again
            swedish, start = pairs[-1].parties, pairs[-1].start
        else:
            continue
        pairs.append(Pair(swedish, text[n.start : n.end], n.country or only_country, start))
    return pairs


def find_pairs(text: str, known: Known | None = None, header: bool = False,
               default: str | None = None, columns: Sequence[str] = ()) -> list[Pair]:
    """Partnerships stated in one piece of text, clause by clause. With `known` partners a
    name alone counts: "Kalix och Masaka genomförde …". `header`: the text sits under a
    table header that names a Swedish column and a partner column. `default`: the one
    Swedish party the document is about, for a clause that states a relation to a partner
    without naming the party ("kommunen samarbetar sedan länge med Serowe i Botswana").
    `columns`: the header cells of the table the text is a row of, when it has one; a
    partner is then read only from a column the header calls one ("Partner", "Turkiska
    kommuner"), not from "Typ av stöd"."""
    if ("|" in text or header) and (rows := _table_pairs(text, header, columns)):
        return rows
    out: list[Pair] = []
    for span in rules.clauses(text):
        clause = text[span.start : span.end]
        if "|" not in clause and rules.cancelled(clause):
            continue
        found = _clause_pairs(clause, known, default)
        out += [p._replace(start=p.start + span.start) for p in found]
    return out


def _clause_pairs(text: str, known: Known | None, default: str | None) -> list[Pair]:
    mentions = find_places(text)
    # a heading or list line that is only a pair, "Mora och Kitwe", states it
    related = bool(rules.RELATION.search(text) or rules.BARE_PAIR.fullmatch(text.strip()))
    if not (parties := parties_in(text, mentions)):
        if not (default and rules.RELATION.search(text)):
            return []
        parties = [(0, 0, default)]
    names = _names(text, mentions, parties, related)
    if not names and known and known.pattern:
        blocked = [(m.start, m.end) for m in mentions]
        for m in known.pattern.finditer(text):
            if not any(b0 < m.end() and m.start() < b1 for b0, b1 in blocked):
                country = known.partners[partner_key(m.group())][1]
                names.append(_Name(m.start(), m.end(), country))
        names = _dedupe(names)
    countries = {m.place.name for m in mentions if m.place.kind == "country"} - {"Sverige"}
    return _pair_up(text, names, parties, countries.pop() if len(countries) == 1 else "")


def _country_in(mentions: list[PlaceMention], start: int, end: int) -> str:
    return next((m.place.name for m in mentions if m.place.kind == "country"
                 and start <= m.start < end and m.place.name != "Sverige"), "")


def _table_pairs(text: str, header: bool, columns: Sequence[str] = ()) -> list[Pair]:
    """Rows of a table: a party that ends its cell and the names that fill the next one
    ("Mora kommun | Uzhhorod | …", flattened: "… 2024 Nässjö kommun | Irpin | …"),
    or under a header, a party followed by its partners ("Mora Uzhhorod, Irpin")."""
    mentions = find_places(text)
    blocked = [(m.start, m.end) for m in mentions]
    pairs: list[Pair] = []
    parties = parties_in(text, mentions)
    # a column named by nationality gives every row its country: "Zambisk partner"
    first = parties[0][0] if parties else 0
    header_country = next((m.place.name for m in mentions if m.place.kind == "country"
                           and m.end <= first and m.surface != m.place.name
                           and m.place.name != "Sverige"), "")
    for _, end, _ in parties:
        group = _group(text, [p for p in parties if p[1] <= end], True)
        official = tuple(sorted({p[2] for p in group}))
        if cell := re.match(r"[ \t]*\|[ \t]*", text[end:]):
            at = end + cell.end()
            if columns and not _partner_column(columns, text.lstrip()[:1] == "|",
                                               text[:at].count("|")):
                continue
            stop = text.find("|", at)
            stop = stop if stop >= 0 else len(text)
        elif header and re.match(r" (?=\S)", text[end:]):
            at, stop = end + 1, (text.find("\n", end) + 1 or len(text) + 1) - 1
        else:
            continue
        country = header_country or _country_in(mentions, at, stop + 80)
        named = [(at + s.start, at + s.end, country) for s in rules.list_names(text[at:stop])]
        if paren := re.search(r"\((?:med|with|och|and)\s+([^)]*)\)", text[at:stop]):
            # "Poltava (med Jelgava, Lettland)": a third party with its own country
            shift = at + paren.start(1)
            own = _country_in(mentions, at + paren.start(), at + paren.end())
            named += [(shift + s.start, shift + s.end, own)
                      for s in rules.list_names(paren.group(1))]
        for start, stop_, where in named:
            name = _Name(start, stop_, where)
            if not _overlaps(name, blocked) and _is_name(text, name):
                pairs.append(Pair(official, text[name.start : name.end], name.country,
                                   group[-1][0]))
    return pairs
