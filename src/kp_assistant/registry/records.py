"""The partnership registry: which Swedish party works with which partner, where, on what.

Extraction is pure: chunks in, one record per partnership per supporting sentence out.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from kp_assistant.embedding import Embedder
from kp_assistant.language.gazetteer import countries_named, fold
from kp_assistant.language.places import find_places
from kp_assistant.models import Chunk
from kp_assistant.registry.chunks import (
    document_party,
    drafts,
    learn,
    places_of,
    segments,
    table_columns,
)
from kp_assistant.registry.extract import Pair, find_pairs
from kp_assistant.registry.rules import TABLE_HEADER, partner_key, partner_name

__all__ = [
    "REGISTRY_VERSION", "Mention", "Partnership", "PartnershipGroup", "extract", "filter_groups",
    "from_json", "merge", "partner_key", "partner_name", "rows_to_csv", "to_json", "to_rows",
]
from kp_assistant.registry.themes import embedding_themes, match_themes, ordered, resolve_themes

# Bump when extraction changes, so that a stored registry is extracted again.
REGISTRY_VERSION = 6

_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d|-tal)")
_RANGE = re.compile(r"\b((?:19|20)\d{2})\s*[–-]\s*(?:[a-zåäö]+\s+)?((?:19|20)\d{2})\b")
_AGENDA = re.compile(r"agenda\s*2030|2030[\s-]*agend\w*", re.I)
_DATE = re.compile(
    r"\b\d{1,2}\s+(?:jan|feb|mar|apr|maj|may|jun|jul|aug|sep|okt|oct|nov|dec)[a-z]*\s+"
    r"((?:19|20)\d{2})\b", re.I,
)
_AMOUNT = re.compile(
    r"(?:(?:drygt|närmare|nära|knappt|cirka|ca\.?|över|mer än|upp till|högst)\s+)?"
    r"(?<![\d,.])\d{1,3}(?:[ \u00a0]\d{3})*(?:[,.]\d+)?\s*"
    r"(?:miljoner|miljon|million|mnkr|mkr|msek|tkr|kronor|kr|sek)\b(?:\s+(?:kronor|kr|sek)\b)?",
    re.I,
)
_PREPARATION = re.compile(r"förbered\w*|förstudie\w*|preparat\w*", re.I)
_PROJECT = re.compile(r"\b(?:projekt|project)\w*", re.I)


@dataclass(frozen=True)
class Partnership:
    swedish: tuple[str, ...]  # official names, sorted: a three-party partnership stays one
    partner: str  # as written ("Machakos County")
    country: str  # Swedish name; "" when no document states it
    themes: tuple[str, ...]
    years: tuple[int, ...]
    amount: str | None
    phase: str | None  # "förberedelse" or "projekt"
    source: str
    page: int | None
    sentence: str  # the supporting text, always a substring of the chunk's text
    chunk_id: str
    states: bool = True  # the sentence names the pair itself (not only refers back to it)
    about: bool = False  # the sentence only stands in a passage about this one partnership

    @property
    def key(self) -> tuple[tuple[str, ...], str]:
        return self.swedish, partner_key(self.partner)


class Mention(NamedTuple):
    source: str
    page: int | None
    sentence: str
    chunk_id: str
    states: bool = True  # the sentence names the pair; False: it refers back to it


@dataclass(frozen=True)
class PartnershipGroup:
    """One partnership with every sentence that mentions it, across documents."""

    swedish: tuple[str, ...]
    partner: str  # the usual name, without "County" etc.
    country: str
    themes: tuple[str, ...]
    years: tuple[int, ...]
    amounts: tuple[str, ...]
    phases: tuple[str, ...]
    sources: tuple[Mention, ...]
    # sentences of passages about this partnership that neither state nor refer back to it:
    # what it works on, for questions about a topic; they set no theme, year or amount
    context: tuple[Mention, ...] = ()

    @property
    def key(self) -> tuple[tuple[str, ...], str]:
        return self.swedish, partner_key(self.partner)

    @property
    def documents(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.source for m in self.sources))



def _years(text: str) -> set[int]:
    text = _AGENDA.sub("", text)
    years = {int(y) for y in _YEAR.findall(text)}
    for a, b in _RANGE.findall(text):
        if 0 < int(b) - int(a) <= 10:
            years |= set(range(int(a), int(b) + 1))
    return {y for y in years if y >= 1990}  # "grundades 1963" is history, not the partnership


def _phase(text: str) -> str | None:
    if _PREPARATION.search(text):
        return "förberedelse"
    return "projekt" if _PROJECT.search(text) else None


def _document_years(chunks: Sequence[Chunk]) -> dict[str, set[int]]:
    """The year of a dated document: the first full date ("1 juni 2020") in its first chunk."""
    first: dict[str, Chunk] = {}
    for c in chunks:
        if c.source not in first or c.id < first[c.source].id:
            first[c.source] = c
    return {src: {int(y) for y in _DATE.findall(c.text)[:1]} for src, c in first.items()}



def _single_partnerships(chunks: Sequence[Chunk],
                         found: dict[str, list[list[Pair]]]) -> dict[str, Pair]:
    """The one partnership a document states, for documents that state exactly one."""
    by_source: dict[str, dict[tuple[tuple[str, ...], str], Pair]] = {}
    for c in chunks:
        pairs = by_source.setdefault(c.source, {})
        for p in (p for ps in found[c.id] for p in ps):
            pairs.setdefault((p.parties, partner_key(p.partner)), p)
    return {src: next(iter(pairs.values())) for src, pairs in by_source.items() if len(pairs) == 1}


def _chunk_pairs(c: Chunk, party: str | None) -> list[list[Pair]]:
    """The pairs of each segment; lines below a table header are read as its rows, and the
    rows of a table that opens with a row naming its columns by those columns."""
    header = TABLE_HEADER.search(c.text)
    return [find_pairs(c.text[a:b], header=bool(header and a >= header.start()), default=party,
                       columns=columns)
            for (a, b), columns in zip(segments(c.text), table_columns(c.text), strict=True)]


def extract(chunks: Sequence[Chunk], embedder: Embedder | None = None) -> list[Partnership]:
    """One record per partnership per supporting sentence, in chunk order.

    Give it every chunk of the corpus at once: a partner learned in one document ("Lodwar
    (Kenya)") lets a sentence in another ("Borlänge och Lodwar …") count too.
    """
    about = {t: document_party(t) for t in {c.title for c in chunks}}
    found = {c.id: _chunk_pairs(c, about[c.title]) for c in chunks}
    titles = [p for t in about for p in find_pairs(t)]
    known = learn([p for ps in found.values() for pairs in ps for p in pairs] + titles)
    single = _single_partnerships(chunks, found)
    found_drafts = [(c, pair, text, kind) for c in chunks for pair, text, kind in drafts(
        c, found[c.id], known, about[c.title], single.get(c.source))]
    # embeddings only where the taxonomy finds nothing; a short sentence says too little
    extra: list[tuple[str, ...]] = [()] * len(found_drafts)
    todo = [i for i, d in enumerate(found_drafts) if len(d[2].split()) >= 6
            and d[3] != "about" and not match_themes(d[2])]
    if embedder and todo:
        for i, themes in zip(todo, embedding_themes([found_drafts[i][2] for i in todo], embedder),
                             strict=True):
            extra[i] = themes
    doc_years = _document_years(chunks)
    located = _Locator()
    records: dict[tuple[Any, ...], Partnership] = {}
    for (c, pair, sentence, kind), more in zip(found_drafts, extra, strict=True):
        if kind == "about":
            key = (pair.parties, partner_key(pair.partner), c.source, sentence)
            records.setdefault(key, Partnership(
                swedish=pair.parties, partner=pair.partner, country="", themes=(), years=(),
                amount=None, phase=None, source=c.source, page=c.page, sentence=sentence,
                chunk_id=c.id, states=False, about=True))
            continue
        years = _years(sentence) or _years(c.heading) or _years(c.title) or doc_years[c.source]
        amount = _AMOUNT.search(sentence)
        record = Partnership(
            swedish=pair.parties, partner=pair.partner,
            country=(pair.country or known.partners.get(partner_key(pair.partner), ("", ""))[1]
                     or located(pair.partner, c)),
            themes=ordered([*match_themes(f"{sentence}\n{c.heading}\n{c.title}"), *more]),
            years=tuple(sorted(years)), amount=amount.group() if amount else None,
            phase=_phase(sentence), source=c.source, page=c.page, sentence=sentence,
            chunk_id=c.id, states=kind == "states",
        )
        # chunk overlap; a sentence that states or refers wins over the same one "about"
        key = (*record.key, c.source, sentence)
        if key not in records or records[key].about:
            records[key] = record
    places = places_of((r.partner for r in records.values()), chunks)
    return [r for r in records.values() if not _locates(r, places)]


def _locates(r: Partnership, places: dict[str, set[str]]) -> bool:
    """The partner is where another partner named in the same sentence lies ("Kadıköy,
    Istanbul")."""
    named = fold(r.sentence)
    return any(partner_key(r.partner) in where and name in named
               for name, where in places.items() if name != partner_key(r.partner))


class _Locator:
    """The country of a partner that no document places: the one country that has a town of
    that name (GeoNames) and that the passage naming the partner mentions too."""

    def __init__(self) -> None:
        self._mentioned: dict[str, frozenset[str]] = {}

    def __call__(self, partner: str, c: Chunk) -> str:
        named = countries_named(partner_name(partner))
        if not named:
            return ""
        if c.id not in self._mentioned:
            text = f"{c.title}\n{c.heading}\n{c.text}"
            self._mentioned[c.id] = frozenset(m.place.name for m in find_places(text, {"country"}))
        here = named & self._mentioned[c.id]
        return next(iter(here)) if len(here) == 1 else ""


# --- merging, filtering, serialisation -----------------------------------------------------------


def merge(records: Iterable[Partnership]) -> list[PartnershipGroup]:
    """The same Swedish parties and partner, in any number of documents, become one group."""
    by_key: dict[tuple[tuple[str, ...], str], list[Partnership]] = {}
    for r in records:
        by_key.setdefault(r.key, []).append(r)
    groups = []
    for (swedish, _), everything in by_key.items():
        rs = [r for r in everything if not r.about]
        if not rs:  # a title may name a pair no sentence states: the registry holds none
            continue
        names = Counter(partner_name(r.partner) for r in rs)
        countries = Counter(r.country for r in rs if r.country)
        groups.append(PartnershipGroup(
            swedish=swedish,
            partner=min(names, key=lambda n: (-names[n], len(n))),
            country=countries.most_common(1)[0][0] if countries else "",
            themes=ordered(t for r in rs for t in r.themes),
            years=tuple(sorted({y for r in rs for y in r.years})),
            amounts=tuple(dict.fromkeys(r.amount for r in rs if r.amount)),
            phases=tuple(dict.fromkeys(r.phase for r in rs if r.phase)),
            sources=tuple(dict.fromkeys(Mention(r.source, r.page, r.sentence, r.chunk_id,
                                                r.states) for r in rs)),
            context=tuple(dict.fromkeys(Mention(r.source, r.page, r.sentence, r.chunk_id, False)
                                        for r in everything if r.about)),
        ))
    return sorted(groups, key=lambda g: (g.swedish, g.partner.casefold()))


def filter_groups(
    groups: Iterable[PartnershipGroup],
    theme: str | None = None,
    country: str | None = None,
    year: int | str | None = None,
    text: str | None = None,
) -> list[PartnershipGroup]:
    """The groups matching every filter given; theme and country may be Swedish or English.

    A theme outside the taxonomy is looked for as a word in the supporting sentences.
    """
    out = list(groups)
    needles = [text] if text else []
    if theme and (wanted := resolve_themes(theme)):
        out = [g for g in out if wanted & set(g.themes)]
    elif theme:
        needles.append(theme)
    if country:
        names = {m.place.name for m in find_places(country, {"country"})} or {country.strip()}
        out = [g for g in out if g.country.casefold() in {n.casefold() for n in names}]
    if year:
        out = [g for g in out if int(year) in g.years]
    for needle in (n.strip().casefold() for n in needles):
        out = [g for g in out if needle in "\n".join(
            [*g.swedish, g.partner, g.country, *g.themes, *(m.sentence for m in g.sources)]
        ).casefold()]
    return out


def to_rows(groups: Iterable[PartnershipGroup]) -> list[dict[str, Any]]:
    """One flat row per partnership for a table, CSV or JSON; `sources` stays a list."""
    return [
        {
            "swedish": "; ".join(g.swedish),
            "partner": g.partner,
            "country": g.country,
            "themes": "; ".join(g.themes),
            "years": "; ".join(map(str, g.years)),
            "amounts": "; ".join(g.amounts),
            "phases": "; ".join(g.phases),
            "documents": len(g.documents),
            "sources": [m._asdict() for m in g.sources],
        }
        for g in groups
    ]


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV; the sources become "file (s. N)" separated by semicolons."""
    out = io.StringIO()
    fields = ["swedish", "partner", "country", "themes", "years", "amounts", "phases", "sources"]
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        sources = "; ".join(dict.fromkeys(
            f"{m['source']} (s. {m['page']})" if m["page"] else m["source"] for m in r["sources"]
        ))
        writer.writerow({**r, "sources": sources})
    return out.getvalue()


def to_json(records: Iterable[Partnership]) -> str:
    payload = {"version": REGISTRY_VERSION, "records": [asdict(r) for r in records]}
    return json.dumps(payload, ensure_ascii=False, indent=1)


def from_json(text: str) -> list[Partnership]:
    """Records saved by to_json; one of another version reads as empty (extract again)."""
    payload = json.loads(text)
    if payload.get("version") != REGISTRY_VERSION:
        return []
    return [
        Partnership(**{**r, **{k: tuple(r[k]) for k in ("swedish", "themes", "years")}})
        for r in payload["records"]
    ]
