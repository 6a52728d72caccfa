"""Questions about the countries a partner may be in, answered from the lists that the
documents give, newest first, with the earlier versions.

"Får partnern ligga i Brasilien?" is not refused because no document mentions Brazil: the
documents list the countries a partner may be in, and that list is the answer. Such lists
change over time; documents say which one is current ("nuvarande", "at present") or older
("äldre", "earlier"), or date it. The answer follows the newest list and names the earlier
ones, each cited.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kp_assistant.answering.question import Lang, Question, last_sentence
from kp_assistant.language.places import countries_in, find_places, world_regions
from kp_assistant.models import Answer, Chunk, Citation

MIN_LISTED = 3  # a passage naming this many countries is taken for a list of them
MAX_LISTS = 4  # in one answer: the current ones, then earlier versions
MAX_CURRENT = 2
MAX_BESIDE = 2  # sentences outside the lists that name the asked country
# Words that place a statement in time relative to others: general vocabulary of both languages
_CURRENT = re.compile(
    r"\b(nuvarande|aktuell\w*|senaste|senare|nyare|numera|i dag|idag|i dagsläget|"
    r"current\w*|latest|later|newer|most recent|at present|presently|today)\b", re.I)
_OLDER = re.compile(
    r"\b(äldre|tidigare|föregående|förut|forna|gamla|earlier|older|previous\w*|former\w*|"
    r"until then|used to)\b", re.I)
_SENTENCE = re.compile(
    r"(?<=[.!?])\s+(?=[A-ZÅÄÖ0-9\"'(])"
    r"|(?<=[a-zåäö0-9)])\s+(?=(?:En|Ett|Den|Det|De|Dessa|Sedan|Senare|Tidigare|Nu|I dag|"
    r"The|A|An|This|These|Since|Later|Earlier|Today)\s)")
# Denials that follow what they deny ("Namibia saknas")
_AFTER_DENIED = re.compile(r"saknas|försvunnit|strukits|missing|removed|no longer", re.I)
# Where a sentence's clauses part: punctuation (not the commas of an enumeration), and the
# conjunctions that contrast
_CLAUSE = re.compile(r"[.!?;()]\s*|\s(?:men|utan att|but|whereas)\s", re.I)
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
# A question about a country's eligibility: possibility or permission, in either language
_MODAL = re.compile(
    r"\b(kan|får|går|gick|kunde|fick|tillåt\w*|möjlig\w*|can|could|may|allowed|eligible|"
    r"possible)\b", re.I)
_PERMISSION = re.compile(r"\s*(kan|får|går|can|may|is it possible|are we allowed)\b", re.I)
# "Vilka länder …", "samarbetsländer", "countries": the question is about the list itself
_COUNTRY_NOUN = re.compile(r"\b(\w*länder(na)?|land|countr(y|ies))\b", re.I)
_NEGATION = re.compile(
    r"\b(inte|ej|inget|inga|ingen|saknas|saknar|utan|försvunnit|strukits|not|no|none|"
    r"no longer|missing|removed|except|without)\b", re.I)

_FRAME: dict[tuple[str, Lang], str] = {
    ("yes", "sv"): "Ja, {x} finns med i den lista över länder som dokumenten beskriver som "
                   "nuvarande:",
    ("no", "sv"): "Nej, {x} finns inte med i den lista över länder som dokumenten beskriver "
                  "som nuvarande:",
    ("none", "sv"): "Nej, {x} finns inte med i någon av de listor över länder som dokumenten "
                    "ger. Den nyaste:",
    ("unsure", "sv"): "{x} finns inte med i den nyaste listan över länder som jag hittar, men "
                      "dokumenten säger inte tydligt vilken lista som gäller nu:",
    ("maybe", "sv"): "{x} finns med i den nyaste listan över länder som jag hittar, men "
                     "dokumenten säger inte tydligt vilken lista som gäller nu:",
    ("yes", "en"): "Yes, {x} is in the list of countries that the documents call current:",
    ("maybe", "en"): "{x} is in the newest list of countries I find, but the documents do not "
                     "say clearly which list applies now:",
    ("no", "en"): "No, {x} is not in the list of countries that the documents call current:",
    ("none", "en"): "No, {x} is in none of the lists of countries the documents give. The "
                    "newest:",
    ("unsure", "en"): "{x} is not in the newest list of countries I find, but the documents "
                      "do not say clearly which list applies now:",
    ("list", "sv"): "Den nyaste listan över länder i dokumenten:",
    ("list", "en"): "The newest list of countries in the documents:",
    ("earlier", "sv"): "Äldre eller andra listor i dokumenten:",
    ("earlier", "en"): "Older or other lists in the documents:",
    ("in", "sv"): "{x} fanns med",
    ("in", "en"): "{x} was included",
    ("out", "sv"): "{x} fanns inte med",
    ("out", "en"): "{x} was not included",
    ("also", "sv"): "Dokumenten nämner också {x} här:",
    ("also", "en"): "The documents also mention {x} here:",
    ("region", "sv"): "i {r}: {c}",
    ("region", "en"): "in {r}: {c}",
}


@dataclass
class CountryList:
    """Consecutive sentences of one passage that together name a set of countries."""

    chunk: Chunk
    parts: list[str] = field(default_factory=list)
    countries: set[str] = field(default_factory=set)
    recency: int = 0  # 1 said to be current (or later), -1 older, 0 not said
    year: int = 0  # the latest year the list or its heading gives, 0 if none

    @property
    def text(self) -> str:
        return " ".join(p.strip() for p in self.parts)

    def to_json(self) -> dict[str, Any]:
        c = self.chunk
        return {"chunk": [c.id, c.source, c.page, c.title, c.heading, c.doc_hash],
                "text": self.text, "countries": sorted(self.countries),
                "recency": self.recency, "year": self.year}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CountryList:
        cid, source, page, title, heading, doc_hash = d["chunk"]
        chunk = Chunk(cid, source, page, title, heading, d["text"], doc_hash)
        return cls(chunk, [d["text"]], set(d["countries"]), int(d["recency"]),
                   int(d["year"]))


def asked_countries(q: Question) -> list[str]:
    """The countries of a yes/no question about what is allowed: one that opens with a verb
    of possibility ("Kan vi … i Peru?", "Går det …?") or asks about the countries ("Är Peru
    ett av samarbetsländerna?"); "Måste vår partner i Peru …?" asks something else."""
    if not q.yes_no or not (_PERMISSION.match(last_sentence(q.text))
                            or _COUNTRY_NOUN.search(q.text)):
        return []
    return list(dict.fromkeys(m.place.name for m in find_places(q.text, {"country"})))


def asks_for_countries(q: Question) -> bool:
    """"Vilka länder kan vi samarbeta med?": the answer is the list itself. A part of the
    world alone ("… i Asien") does not make the question one about the list."""
    return bool(_COUNTRY_NOUN.search(q.text)) and bool(_MODAL.search(q.text)) and not q.yes_no


def extract_country_lists(chunks: Iterable[Chunk]) -> list[CountryList]:
    """Every list of countries in the chunks (done at ingest: the list that answers "Kan vi
    … i Peru?" need not be among the passages retrieved for the question)."""
    return [u for c in chunks for u in _units(c) if len(u.countries) >= MIN_LISTED]


def _units(chunk: Chunk) -> list[CountryList]:
    """Lists in a chunk, read sentence by sentence. Consecutive table rows or bullet items,
    with the sentence that leads into them, make one list; so do the pieces of a sentence
    broken over several lines. Any other sentence is a list by itself, with the sentence
    before it when that one says what the list is ("ICLD:s nuvarande sida talar om fyra
    kluster av länder."). A sentence that says it is current or older starts a list of its
    own, and clauses that deny ("saknas", "not") name countries that are not in the list."""
    parts = _segments(chunk.text)
    units: list[CountryList] = []
    unit: CountryList | None = None
    kind: str | None = None
    for i, part in enumerate(parts):
        named = _listed(part)
        lead_in = part.rstrip().endswith(":")
        if unit is not None and not named and _row_kind(part) == "table":
            continue  # a table's header or rule row
        if part.startswith("#") or not (named or lead_in):
            unit = None
            continue
        cue = _cue(part)
        this = _row_kind(part)
        broken = unit is not None and not re.search(r"[.!?:]\W*$", unit.parts[-1])
        joins = unit is not None and cue in (0, unit.recency) and (
            broken or kind is None or kind == this != "prose")
        if lead_in or not joins or unit is None:
            unit = CountryList(chunk, recency=cue)
            units.append(unit)
            before = parts[i - 1] if i else ""
            if not cue and _cue(before) and not _listed(before) \
                    and _COUNTRY_NOUN.search(before) and not before.startswith("#"):
                unit.parts.append(before)
                unit.recency = _cue(before)
        kind = None if lead_in else this
        unit.parts.append(part)
        unit.countries |= named
        unit.recency = unit.recency or cue
    for u in units:
        if u.recency == 0:
            u.recency = _cue(chunk.heading)
        years = [int(y) for y in _YEAR.findall(u.text)] or [
            int(y) for y in _YEAR.findall(f"{chunk.heading} {chunk.title}")]
        u.year = max(years, default=0)
    # a list of countries says so: "länder", "countries" in it or in its heading
    return [u for u in units if _COUNTRY_NOUN.search(f"{chunk.heading} {u.text}")]


def _segments(text: str) -> list[str]:
    """The sentences of a chunk's lines; table rows and headings stay whole. A sentence also
    ends where a capitalised function word follows a word without a full stop, as text
    taken from a PDF loses its punctuation between columns ("… och Zambia En senare …")."""
    out: list[str] = []
    for row in text.split("\n"):
        if row.startswith("#") or row.lstrip().startswith("|"):
            out.append(row)
        else:
            out.extend(p for p in _SENTENCE.split(row) if p.strip())
    return out


def _listed(row: str) -> set[str]:
    """The countries a line names, leaving out those a clause denies. A denial reaches the
    countries after a word such as "utan", "inte" or "not" ("nu utan Albanien"), and those
    before a word such as "saknas" or "missing" ("Namibia saknas i listan")."""
    out: set[str] = set()
    for part in _CLAUSE.split(row):
        denial = _NEGATION.search(part)
        for m in find_places(part, {"country"}):
            if denial is None:
                out.add(m.place.name)
            elif _AFTER_DENIED.fullmatch(denial.group(0)):
                if m.start >= denial.end():
                    out.add(m.place.name)
            elif m.end <= denial.start():
                out.add(m.place.name)
    return out


def _row_kind(row: str) -> str:
    stripped = row.lstrip()
    if stripped.startswith("|"):
        return "table"
    return "item" if re.match(r"[-*•–]\s", stripped) else "prose"


def _cue(text: str) -> int:
    current, older = bool(_CURRENT.search(text)), bool(_OLDER.search(text))
    return 0 if current == older else (1 if current else -1)


def arranged(lists: Sequence[CountryList], ranks: Mapping[str, int],
             twins: dict[int, list[CountryList]] | None = None,
             ) -> tuple[list[CountryList], list[CountryList]]:
    """The lists the documents call current, and the others newest first; within each, those
    the retriever ranked higher for the question first, and one per set of countries. The
    same list in other documents goes into `twins`, by the id of the one kept."""
    def key(u: CountryList) -> tuple[int, int]:
        return -u.year, ranks.get(u.chunk.id, len(ranks))

    def distinct(us: Iterable[CountryList]) -> list[CountryList]:
        out: list[CountryList] = []
        for u in us:
            same = next((v for v in out if u.countries == v.countries or u.text == v.text), None)
            if same is None:
                out.append(u)
            elif twins is not None and u.chunk.source not in {
                    w.chunk.source for w in [same, *twins.get(id(same), [])]}:
                twins.setdefault(id(same), []).append(u)
        return out

    current = distinct(sorted((u for u in lists if u.recency > 0),
                              key=lambda u: ranks.get(u.chunk.id, len(ranks))))
    return current, distinct(sorted((u for u in lists if u.recency <= 0), key=key))


def country_rule_answer(q: Question, lists: Sequence[CountryList], ranks: Mapping[str, int],
                        passages: Sequence[tuple[str, Chunk]] = ()) -> Answer | None:
    """Whether the asked country is in the list the documents call current (or, when none
    is, in the newest one), or the list itself for "vilka länder …", with the earlier
    versions; None when the documents list no countries. `passages` are the retrieved
    sentences, best first: those that name the asked country outside a list follow."""
    asked = asked_countries(q)
    if (not asked and not asks_for_countries(q)) or not lists:
        return None
    twins: dict[int, list[CountryList]] = {}
    current, others = arranged(lists, ranks, twins)
    # the older lists that name the asked countries (or any of an asked part of the world)
    # tell their history: they come first
    regions = world_regions(q.text)
    wanted = [{a} for a in asked] + [{p.name for p in countries_in(r)} for _, r in regions]
    others.sort(key=lambda u: -sum(bool(w & u.countries) for w in wanted))
    shown_lists = (current[:MAX_CURRENT] or others[:1])
    earlier = [u for u in others if u not in shown_lists][: MAX_LISTS - len(shown_lists)]
    if asked:
        head = _FRAME[(_verdict(asked, current, others), q.lang)].format(
            x=" / ".join(_shown(a, q) for a in asked))
    else:
        head = _FRAME[("list", q.lang)]
    citations: list[Citation] = []

    def cited(u: CountryList) -> str:
        # the same list in another document is cited beside it: each is a place to read it
        refs = []
        for v in [u, *twins.get(id(u), [])]:
            citations.append(Citation(n=len(citations) + 1, source=v.chunk.source,
                                      page=v.chunk.page, chunk_id=v.chunk.id, quote=v.text,
                                      score=1.0, title=v.chunk.title))
            refs.append(f"[{len(citations)}]")
        return f"{u.text}{_in_region(u, regions, q.lang)} {''.join(refs)}"

    parts = [head, *(f"- {cited(u)}" for u in shown_lists)]
    # sentences that name the asked country outside the lists: what it is named for
    listed = [u.text for u in lists]
    first = {t: c for t, c in reversed(passages)}  # a sentence in two chunks: the better
    beside = [(text, first[text]) for text in dict.fromkeys(t for t, _ in passages)
              if asked and not any(text in t or t in text for t in listed)
              and set(asked) <= {m.place.name for m in find_places(text, {"country"})}]
    if beside:
        parts.append(_FRAME[("also", q.lang)].format(x=" / ".join(_shown(a, q) for a in asked)))
        for text, chunk in beside[:MAX_BESIDE]:
            citations.append(Citation(n=len(citations) + 1, source=chunk.source, page=chunk.page,
                                      chunk_id=chunk.id, quote=text, score=1.0,
                                      title=chunk.title))
            parts.append(f"- {text.lstrip('•-*– ')} [{len(citations)}]")
    if earlier:
        parts.append(_FRAME[("earlier", q.lang)])
        for u in earlier:
            status = ""
            if asked:
                key = "in" if all(a in u.countries for a in asked) else "out"
                status = _FRAME[(key, q.lang)].format(x=" / ".join(asked)) + ": "
            parts.append(f"- {status}{cited(u)}")
    return Answer(question=q.text, text="\n".join(parts), grounded=True, citations=citations)


def _verdict(asked: Sequence[str], current: Sequence[CountryList],
             others: Sequence[CountryList]) -> str:
    """By the lists the documents call current: "yes" when one of them names every asked
    country, else "no". Without such a list: "none" when no list names them, "maybe" or
    "unsure" when the newest list does or does not, as no document says it is in force."""
    if current:
        return "yes" if all(any(a in u.countries for u in current) for a in asked) else "no"
    if not any(a in u.countries for a in asked for u in others):
        return "none"
    return "maybe" if others and all(a in others[0].countries for a in asked) else "unsure"


def _in_region(u: CountryList, regions: Sequence[tuple[str, str]], lang: Lang) -> str:
    """" (i Latinamerika: Colombia, Guatemala)" when the question names a part of the world."""
    out = []
    for surface, region in regions:
        inside = sorted(p.name for p in countries_in(region) if p.name in u.countries)
        out.append(_FRAME[("region", lang)].format(r=surface, c=", ".join(inside) or "–"))
    return f" ({'; '.join(out)})" if out else ""


def _shown(name: str, q: Question) -> str:
    """The country as the question wrote it."""
    for m in find_places(q.text, {"country"}):
        if m.place.name == name:
            return m.surface
    return name
