"""The partnership registry: which Swedish party works with which partner, where, on what.

Extraction is pure: chunks in, one record per partnership per supporting sentence out.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from .embedding import Embedder
from .models import Chunk
from .places import PlaceMention, find_places
from .themes import embedding_themes, match_themes, ordered, resolve_themes

# Bump when extraction changes, so that a stored registry is extracted again.
REGISTRY_VERSION = 1

_NAME_WORD = re.compile(r"[\w'’-]+")
_NAME_AFTER = re.compile(r"\s+((?:[A-ZÅÄÖÉ][\w'’-]*)(?: [A-ZÅÄÖÉ][\w'’-]*){0,4})")
_PARTICLES = {"es", "de", "da", "del", "la", "of", "al", "el"}  # "Dar es Salaam"
# Capitalised words that stand before a name but are not part of it.
_NOT_NAME = {
    "Även", "Både", "Och", "Samt", "Med", "Tillsammans", "Internationell", "Svensk", "Partner",
    "Partnern", "Partnerkommunen", "Samarbetsparten", "Staden", "Kommunen", "Regionen",
    "Countyt", "Part", "Land", "Tema", "Uppgift", "Exempel", "The", "And", "With", "In", "Both",
    "Arbetet", "Projektet", "Partnerskapet", "Samarbetet", "Landet", "Parterna", "Nätverket",
}
_ORGS = {"ICLD", "Sida", "SKR", "SKL", "EU", "FN", "UN", "OECD", "DAC", "SEI", "UNCDF", "MR"}
# Words that name a partner by its kind of local government: "Gulu District Local Government".
_SUFFIX = re.compile(r"\b(?:County|Councils?|Municipality|District|Government)\b")
_STRIP_SUFFIX = re.compile(
    r"(?:\s+(?:(?:City|Town|District|Municipal|Metropolitan|Local|County)\s+)?"
    r"(?:Councils?|Municipality|Government)|\s+(?:County|District|kommun|stad))+$"
    r"|^(?:City|Municipality) of\s+"
)
# What joins a partner to its country: "Masaka i Uganda", "Jinja (Uganda)", "Kibaha, Tanzania",
# "Kisumu County | Kenya", and in a PDF table a bare space: "Falun Mogale Sydafrika".
_CONNECTOR = re.compile(r"(?:\s+(?:i|in)\s+|\s*\(\s*|\s*,\s*|\s*\|\s*|\s+)$")
_INSTEAD = re.compile(r"\b(?:instead|i stället|istället)\b", re.I)
_NOT_PARTY_AFTER = re.compile(r"\s+(?:universitet|University|Environment|Institute|högskola)\b")
_FEDERATION = re.compile(r"\b[A-ZÅÄÖ][\w-]+ kommunalförbund\b")
# Words that refer back to a partnership already named: definite or possessive forms only,
# since "kommunala partnerskap" in general refers to none.
_ANAPHOR = re.compile(
    r"\b(?:\w*(?:projekt|partnerskap|samarbet)(?:et|en|ets|ens)|parterna|regionerna"
    r"|(?:båda|de två) kommunerna|the two municipalities"
    r"|(?:deras|dess|sitt|sin|their|its|the|this) (?:\w+ )?(?:\w*projekt|project|partnership"
    r"|cooperation))\b", re.I,
)
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

    @property
    def key(self) -> tuple[tuple[str, ...], str]:
        return self.swedish, partner_key(self.partner)


class Mention(NamedTuple):
    source: str
    page: int | None
    sentence: str
    chunk_id: str


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

    @property
    def documents(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.source for m in self.sources))


def partner_name(written: str) -> str:
    """The partner without "County", "City Council", "kommun": "Machakos County" -> "Machakos"."""
    name = " ".join(written.split()).replace("’", "'")
    while (stripped := _STRIP_SUFFIX.sub("", name)) != name and stripped:
        name = stripped
    return name


@lru_cache(maxsize=1 << 16)  # asked for every partnership in the registry, for each question
def partner_key(written: str) -> str:
    """What two spellings of one partner share: "Bihać", "Bihac" and "bihac" -> "bihac"."""
    name = unicodedata.normalize("NFKD", partner_name(written).casefold())
    return "".join(c for c in name if not unicodedata.combining(c))


# --- partnerships in one sentence, table row, heading or title ----------------------------------


class _Pair(NamedTuple):
    parties: tuple[str, ...]
    partner: str
    country: str
    start: int  # where the pair's own text starts, for tables flattened onto one line


class _Name(NamedTuple):
    start: int
    end: int
    country: str


class _Known(NamedTuple):
    """Partners learned from the corpus: key -> (name, country), and a pattern finding them."""

    partners: dict[str, tuple[str, str]]
    pattern: re.Pattern[str] | None


def _parties(text: str, mentions: list[PlaceMention]) -> list[tuple[int, int, str]]:
    """Swedish parties as (start, end, official name)."""
    out = []
    for m in mentions:
        if m.place.kind == "country" or _NOT_PARTY_AFTER.match(text, m.end):
            continue
        locating = re.search(r"\s*(?:\(|\bi)\s*$", text[: m.start])
        if locating and any(o.end == locating.start() for o in mentions):
            continue  # "Kalix kommun (Norrbotten)", "Kalix i Norrbotten" only locate Kalix
        out.append((m.start, m.end, m.place.official))
    out += [(f.start(), f.end(), f.group()) for f in _FEDERATION.finditer(text)]
    return sorted(out)


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


def _names(text: str, mentions: list[PlaceMention], parties: set[int]) -> list[_Name]:
    """Partner names written next to a country, or ending in County/Council/District."""
    blocked = [(m.start, m.end) for m in mentions]
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
        elif conn := _CONNECTOR.search(text, max(0, c.start - 20), c.start):
            span = _name_before(text, conn.start(), blocked)
            if span and conn.group().isspace():  # only "<party> <name> <country>" is a row
                before = text[: span[0]]
                row = before.rstrip(" ") != before and len(before.rstrip(" ")) in parties
                span = span if row and "\n" not in conn.group() else None
        if span:
            found.append(_Name(*span, c.place.name))
    for m in _SUFFIX.finditer(text):
        span = _name_before(text, m.end(), blocked)
        if span and not _SUFFIX.fullmatch(text[span[0] : span[1]]):
            found.append(_Name(*span, ""))
    return _dedupe(found)


def _dedupe(found: list[_Name]) -> list[_Name]:
    """Overlapping names collapse into the longest one that knows its country."""
    out: list[_Name] = []
    for n in sorted(found, key=lambda n: (not n.country, n.start, -n.end)):
        if not any(n.start < o.end and o.start < n.end for o in out):
            out.append(n)
    return sorted(out)


def _pair_up(text: str, names: list[_Name], parties: list[tuple[int, int, str]],
             only_country: str) -> list[_Pair]:
    """Each partner with the Swedish parties written between it and its neighbours."""
    if (instead := _INSTEAD.search(text)) and any(n.start > instead.end() for n in names):
        names = [n for n in names if n.start > instead.end()]  # "instead carried out with X"
    pairs: list[_Pair] = []
    for i, n in enumerate(names):
        lo = names[i - 1].end if i else 0
        hi = names[i + 1].start if i + 1 < len(names) else len(text)
        own = [p for p in parties if lo <= p[0] and p[1] <= n.start]
        own = own or [p for p in parties if n.end <= p[0] and p[1] <= hi]
        if own:
            swedish, start = tuple(sorted({p[2] for p in own})), min(n.start, own[0][0])
        elif pairs:  # "Arvika – Uasin Gishu County / Moi's Bridge": the same parties again
            swedish, start = pairs[-1].parties, pairs[-1].start
        else:
            continue
        pairs.append(_Pair(swedish, text[n.start : n.end], n.country or only_country, start))
    return pairs


def _find_pairs(text: str, known: _Known | None = None) -> list[_Pair]:
    """Partnerships stated in one piece of text. With `known` partners a name alone counts:
    "Kalix och Masaka genomförde …"."""
    mentions = find_places(text)
    if not (parties := _parties(text, mentions)):
        return []
    names = _names(text, mentions, {p[1] for p in parties})
    if not names and known and known.pattern:
        blocked = [(m.start, m.end) for m in mentions]
        for m in known.pattern.finditer(text):
            if not any(b0 < m.end() and m.start() < b1 for b0, b1 in blocked):
                country = known.partners[partner_key(m.group())][1]
                names.append(_Name(m.start(), m.end(), country))
        names = _dedupe(names)
    countries = {m.place.name for m in mentions if m.place.kind == "country"} - {"Sverige"}
    return _pair_up(text, names, parties, countries.pop() if len(countries) == 1 else "")


# --- extraction over chunks ----------------------------------------------------------------------


def _segments(text: str) -> list[tuple[int, int]]:
    """The chunk's lines (one sentence each), with a line that starts in lower case and a
    Markdown table row cut at a period inside a cell joined back to what they continue."""
    spans: list[tuple[int, int]] = []
    for m in re.finditer(r"[^\n]+", text):
        line, prev = m.group().lstrip(), text[spans[-1][0] : spans[-1][1]] if spans else ""
        cut_row = "|" in prev and not prev.rstrip().endswith("|") and line.startswith("|")
        if spans and (line[:1].islower() or cut_row):
            spans[-1] = (spans[-1][0], m.end())
        else:
            spans.append((m.start(), m.end()))
    return spans


def _slice(seg: str, pairs: list[_Pair], i: int) -> str:
    """The text of pair i: the whole segment, unless it holds a flattened table."""
    starts = sorted({p.start for p in pairs})
    if len(starts) == 1:
        return seg
    end = next((s for s in starts if s > pairs[i].start), len(seg))
    return seg[pairs[i].start : end].strip(" \n|-•*")


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


def _learn(pairs: Iterable[_Pair]) -> _Known:
    """The partners named in pairs, each with the country a pair states for it."""
    partners: dict[str, tuple[str, str]] = {}
    for pair in pairs:
        name = partner_name(pair.partner)
        if pair.country or partner_key(name) not in partners:
            partners[partner_key(name)] = (name, pair.country)
    names = sorted((n for n, _ in partners.values()), key=len, reverse=True)
    alternatives = "|".join(re.escape(n).replace("'", "['’]") for n in names)
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?=(?:s|:s)?(?!\w))") if names else None
    return _Known(partners, pattern)


def _drafts(c: Chunk, found: list[list[_Pair]],
            known: _Known) -> Iterator[tuple[_Pair, str]]:
    """(pair, supporting text) for one chunk. A sentence naming no partner still supports the
    partnership of the sentence before it, or of the heading or title, if it refers to it."""
    fallback = _find_pairs(c.heading, known) or _find_pairs(c.title, known)
    current: list[_Pair] = []
    for (a, b), pairs in zip(_segments(c.text), found, strict=True):
        seg = c.text[a:b].strip()
        if pairs := pairs or _find_pairs(seg, known):
            yield from ((p, _slice(seg, pairs, i)) for i, p in enumerate(pairs))
            # a table row is no antecedent for the next line; a sentence may be
            prose = re.search(r"[.!?][\"')\]]*$", seg) and "|" not in seg
            current = pairs if prose and len({p.partner for p in pairs}) == 1 else []
            continue
        names = {p[2] for p in _parties(seg, find_places(seg))}
        for context in (current, fallback):
            if len(context) == 1 and names <= set(context[0].parties) and (
                (names and context is current) or _ANAPHOR.search(seg)
                or re.search(rf"(?<!\w){re.escape(partner_name(context[0].partner))}", seg)
            ):
                yield context[0], seg
                break
        else:
            current = [] if names else current


def extract(chunks: Sequence[Chunk], embedder: Embedder | None = None) -> list[Partnership]:
    """One record per partnership per supporting sentence, in chunk order.

    Give it every chunk of the corpus at once: a partner learned in one document ("Lodwar
    (Kenya)") lets a sentence in another ("Borlänge och Lodwar …") count too.
    """
    found = {c.id: [_find_pairs(c.text[a:b]) for a, b in _segments(c.text)] for c in chunks}
    titles = [p for t in {c.title for c in chunks} for p in _find_pairs(t)]
    known = _learn([p for ps in found.values() for pairs in ps for p in pairs] + titles)
    drafts = [(c, pair, text) for c in chunks for pair, text in _drafts(c, found[c.id], known)]
    # embeddings only where the taxonomy finds nothing; a short sentence says too little
    extra: list[tuple[str, ...]] = [()] * len(drafts)
    todo = [i for i, (_, _, s) in enumerate(drafts) if len(s.split()) >= 6 and not match_themes(s)]
    if embedder and todo:
        for i, themes in zip(todo, embedding_themes([drafts[i][2] for i in todo], embedder),
                             strict=True):
            extra[i] = themes
    doc_years = _document_years(chunks)
    records: dict[tuple[Any, ...], Partnership] = {}
    for (c, pair, sentence), more in zip(drafts, extra, strict=True):
        years = _years(sentence) or _years(c.heading) or _years(c.title) or doc_years[c.source]
        amount = _AMOUNT.search(sentence)
        record = Partnership(
            swedish=pair.parties, partner=pair.partner,
            country=pair.country or known.partners.get(partner_key(pair.partner), ("", ""))[1],
            themes=ordered([*match_themes(f"{sentence}\n{c.heading}\n{c.title}"), *more]),
            years=tuple(sorted(years)), amount=amount.group() if amount else None,
            phase=_phase(sentence), source=c.source, page=c.page, sentence=sentence,
            chunk_id=c.id,
        )
        records.setdefault((*record.key, c.source, sentence), record)  # chunk overlap
    return list(records.values())


# --- merging, filtering, serialisation -----------------------------------------------------------


def merge(records: Iterable[Partnership]) -> list[PartnershipGroup]:
    """The same Swedish parties and partner, in any number of documents, become one group."""
    by_key: dict[tuple[tuple[str, ...], str], list[Partnership]] = {}
    for r in records:
        by_key.setdefault(r.key, []).append(r)
    groups = []
    for (swedish, _), rs in by_key.items():
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
            sources=tuple(dict.fromkeys(Mention(r.source, r.page, r.sentence, r.chunk_id)
                                        for r in rs)),
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
