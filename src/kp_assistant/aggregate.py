"""Complete answers to "which / how many partnerships …" questions, from the registry.

Retrieval sees only the best few passages, so a list built from them silently misses the
rest. The registry holds every partnership found at ingest; a question that names a theme,
a country, a partner or a Swedish party is answered by filtering it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .embedding import Embedder
from .models import Answer, Chunk, Citation
from .places import find_places
from .question import REFUSAL, Lang, Question
from .registry import Mention, PartnershipGroup, filter_groups, partner_key
from .themes import embedding_themes, match_themes, resolve_themes

_COUNT_NOUNS = re.compile(
    r"\b(partnerskap|kommuner|regioner|samarbeten|partnerships|"
    r"municipalities|regions)\b",
    re.I,
)
_ONLY_REGIONS = re.compile(r"\bregion(er|erna)?\b|\bregions\b", re.I)
_ONLY_MUNICIPALITIES = re.compile(r"\bkommuner(na)?\b|\bmunicipalities\b", re.I)
_HEAD = {
    "sv": "{n} partnerskap i {d} dokument:",
    "en": "{n} partnership{s} in {d} document{ds}:",
}
MAX_LINES = 25
MAX_SOURCES = 4


@dataclass(frozen=True)
class Filters:
    themes: frozenset[str]
    countries: frozenset[str]
    names: frozenset[str]  # partner keys or Swedish parties named in the question
    years: frozenset[int]


def filters_for(q: Question, groups: Sequence[PartnershipGroup]) -> Filters | None:
    """What an aggregate question asks about, or None when the registry cannot answer it."""
    if not (q.wants_list or (q.wants == "count" and _COUNT_NOUNS.search(q.text))):
        return None
    countries = {m.place.name for m in find_places(q.text, {"country"})}
    names = _named_parties(q.text, groups)
    filters = Filters(
        frozenset(resolve_themes(q.text)),
        frozenset(countries),
        frozenset(names),
        frozenset(int(y) for y in q.years),
    )
    # a year alone ("vilka fick medel 2020") is about grant lists, which the registry lacks
    if not (filters.themes or filters.countries or filters.names):
        return None
    return filters


def select(q: Question, groups: Sequence[PartnershipGroup], f: Filters) -> list[PartnershipGroup]:
    """Groups that match every kind of filter named (any value within a kind)."""
    out = list(groups)
    if f.countries:
        out = [g for c in f.countries for g in filter_groups(out, country=c)]
    if f.names:
        out = [g for g in out if f.names & ({partner_key(g.partner)} | set(g.swedish))]
    if f.years:
        out = [g for g in out if f.years & set(g.years)]
    if f.themes:
        # rank by how many of the asked themes a partnership shares; any one is enough to list
        out = [g for g in out if f.themes & set(g.themes)]
        out.sort(key=lambda g: -len(f.themes & set(g.themes)))
    if _ONLY_REGIONS.search(q.text) and not _ONLY_MUNICIPALITIES.search(q.text):
        out = [g for g in out if any(_is_region(p) for p in g.swedish)]
    return list(dict.fromkeys(out))


def answer_from_registry(q: Question, groups: Sequence[PartnershipGroup]) -> Answer | None:
    f = filters_for(q, groups)
    if f is None:
        return None
    chosen = select(q, groups, f)
    if not chosen:
        # the registry holds every partnership found, so none matching means none stated
        return Answer(question=q.text, text=REFUSAL[q.lang], grounded=False)
    citations: list[Citation] = []
    lines = []
    for g in chosen[:MAX_LINES]:
        refs = []
        # one passage per document that mentions it: each is a place to read more
        per_doc = {m.source: m for m in reversed(g.sources)}
        for m in [per_doc[d] for d in g.documents][:MAX_SOURCES]:
            citations.append(_cite(m, len(citations) + 1))
            refs.append(f"[{len(citations)}]")
        lines.append(f"- {line_for(g, q.lang)} {''.join(refs)}")
    docs = len({m.source for g in chosen for m in g.sources})
    head = _HEAD[q.lang].format(
        n=len(chosen), d=docs, s="" if len(chosen) == 1 else "s", ds="" if docs == 1 else "s"
    )
    more = len(chosen) - MAX_LINES
    tail = (
        [
            f"(+ {more} till i fliken Partnerskap)"
            if q.lang == "sv"
            else f"(+ {more} more in the Partnerskap tab)"
        ]
        if more > 0
        else []
    )
    return Answer(
        question=q.text, text="\n".join([head, *lines, *tail]), grounded=True, citations=citations
    )


def line_for(g: PartnershipGroup, lang: Lang) -> str:
    """ "Kalix kommun – Masaka (Uganda); teman: plast, miljö; 2020: «the sentence»"."""
    where = f" ({g.country})" if g.country else ""
    bits = [f"{' + '.join(g.swedish)} – {g.partner}{where}"]
    if g.themes:
        bits.append(("themes: " if lang == "en" else "teman: ") + ", ".join(g.themes))
    if g.years:
        bits.append(", ".join(map(str, g.years)))
    quote = " ".join(g.sources[0].sentence.split())
    if len(quote) > 220:
        quote = quote[:220].rsplit(" ", 1)[0] + " …"
    return "; ".join(bits) + f": «{quote}»"


def _named_parties(text: str, groups: Sequence[PartnershipGroup]) -> set[str]:
    swedish = {m.place.official for m in find_places(text, {"kommun", "region"})}
    known, partners_by_word = _parties_of(groups)
    words = {w.casefold() for w in re.findall(r"[\w'’-]+", text)}
    partners = {
        key
        for w in words
        for key, key_words in partners_by_word.get(w, ())
        if key_words <= words
    }
    return (swedish & known) | partners


_ByWord = dict[str, list[tuple[str, frozenset[str]]]]
_PARTIES: list[tuple[Sequence[PartnershipGroup], tuple[frozenset[str], _ByWord]]] = []


def _parties_of(groups: Sequence[PartnershipGroup]) -> tuple[frozenset[str], _ByWord]:
    """The Swedish parties of the registry, and its partner keys by their first word.

    Kept for the last registry seen (the store hands out the same list until it changes):
    working them out anew took time in proportion to the registry on every question.
    """
    entry = _PARTIES[0] if _PARTIES else None  # one read: another thread may replace it
    if entry is not None and entry[0] is groups:
        return entry[1]
    known = frozenset(p for g in groups for p in g.swedish)
    by_word: _ByWord = {}
    for key in dict.fromkeys(partner_key(g.partner) for g in groups):
        if key:
            key_words = frozenset(key.split())
            by_word.setdefault(key.split()[0], []).append((key, key_words))
    _PARTIES[:] = [(groups, (known, by_word))]
    return known, by_word


def _is_region(party: str) -> bool:
    return party.startswith("Region ") or party.endswith("regionen")


# -- "both in decision A and in decision B" ---------------------------------------------------

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


# -- peer finder ----------------------------------------------------------------------------

_PEER = re.compile(
    r"\b(vi vill|vi planerar|vi funderar|vi behöver|vi försöker|vår utmaning|vårt problem|"
    r"lära av|liknande|we want|we plan|we need|our challenge|learn from|similar)\b",
    re.I,
)


@dataclass(frozen=True)
class Peer:
    group: PartnershipGroup
    shared: tuple[str, ...]  # themes the challenge and the partnership share
    passage: Mention
    score: float


def is_peer_request(text: str) -> bool:
    return bool(_PEER.search(text))


def find_peers(
    challenge: str, groups: Sequence[PartnershipGroup], embedder: Embedder | None, k: int = 8
) -> list[Peer]:
    """Partnerships that worked on something like the challenge, best first.

    Score: shared themes (taxonomy, or the embedding's closest theme) plus the best
    similarity between the challenge and a sentence about the partnership.
    """
    wanted = set(match_themes(challenge))
    if embedder is not None and embedder.semantic and not wanted:
        wanted |= set(embedding_themes([challenge], embedder)[0])
    candidates = [g for g in groups if wanted & set(g.themes)] or list(groups)
    if not candidates:
        return []
    sims: list[list[float]] = [[0.0] * len(g.sources) for g in candidates]
    if embedder is not None and embedder.semantic:
        flat = [m.sentence for g in candidates for m in g.sources]
        q = embedder.embed_queries([challenge])[0]
        scores = embedder.embed_passages(flat) @ q
        it = iter(scores.tolist())
        sims = [[next(it) for _ in g.sources] for g in candidates]
    peers = []
    for g, sim in zip(candidates, sims, strict=True):
        best = max(range(len(sim)), key=sim.__getitem__)
        shared = tuple(t for t in g.themes if t in wanted)
        peers.append(Peer(g, shared, g.sources[best], len(shared) + sim[best]))
    peers.sort(key=lambda p: -p.score)
    return peers[:k]


def answer_peers(
    q: Question, groups: Sequence[PartnershipGroup], embedder: Embedder | None
) -> Answer | None:
    peers = find_peers(q.text, groups, embedder, k=5)
    peers = [p for p in peers if p.shared]
    if not peers:
        return None
    citations: list[Citation] = []
    lines = []
    for p in peers:
        m = p.passage
        citations.append(_cite(m, len(citations) + 1, round(p.score, 3)))
        label = "delade teman" if q.lang == "sv" else "shared themes"
        where = f" ({p.group.country})" if p.group.country else ""
        lines.append(
            f"- {' + '.join(p.group.swedish)} – {p.group.partner}{where}; "
            f"{label}: {', '.join(p.shared)}: «{_short(m.sentence)}» [{len(citations)}]"
        )
    head = (
        "Partnerskap som har arbetat med något liknande:"
        if q.lang == "sv"
        else "Partnerships that worked on something similar:"
    )
    return Answer(
        question=q.text, text="\n".join([head, *lines]), grounded=True, citations=citations
    )


def _cite(m: Mention, n: int, score: float = 1.0) -> Citation:
    """A registry passage as a citation; registry matches are exact, hence score 1."""
    return Citation(n=n, source=m.source, page=m.page, chunk_id=m.chunk_id, quote=m.sentence,
                    score=score)


def _short(text: str, limit: int = 220) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"
