"""Complete answers to "which / how many partnerships …" questions, from the registry.

Retrieval sees only the best few passages, so a list built from them silently misses the
rest. The registry holds every partnership found at ingest; a question that names a theme,
a country, a partner or a Swedish party is answered by filtering it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from kp_assistant.answering.evidence import GENERIC_NAMES
from kp_assistant.answering.question import REFUSAL, Lang, Question
from kp_assistant.language.places import countries, countries_in, find_places, world_regions
from kp_assistant.models import Answer, Citation
from kp_assistant.registry.aggregate_both import answer_both, asks_both, both_sources
from kp_assistant.registry.records import Mention, PartnershipGroup, filter_groups, partner_key
from kp_assistant.registry.themes import (
    match_themes,
    mentions_topic,
    resolve_themes,
    taxonomy,
    topic_words,
    words_of,
)

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
__all__ = [
    "Filters", "answer_both", "answer_from_registry", "asks_both", "both_sources",
    "cite_mention", "filters_for", "line_for", "select", "short",
]
MAX_LINES = 25
MAX_SOURCES = 4


@dataclass(frozen=True)
class Filters:
    themes: frozenset[str]
    countries: frozenset[str]
    names: frozenset[str]  # partner keys or Swedish parties named in the question
    years: frozenset[int]
    topic: tuple[tuple[str, ...], ...] = ()  # "arbetar med …": alternatives of words
    unheld: frozenset[str] = frozenset()  # names the documents use that no partnership holds


def filters_for(q: Question, groups: Sequence[PartnershipGroup],
                in_corpus: Callable[[str], bool] | None = None) -> Filters | None:
    """What an aggregate question asks about, or None when the registry cannot answer it.

    `in_corpus` tells whether the documents use a word at all. A name the registry does not
    hold leaves the question to the passages ("samarbetar med Arequipa", "inom ett nätverk"),
    unless it is a genitive the documents use ("Handbokens exempel"): that says where to look,
    and the registry still answers if it finds partnerships for the rest.
    """
    if not (q.wants_list or (q.wants == "count" and _COUNT_NOUNS.search(q.text))):
        return None
    found = find_places(q.text, {"country"})
    regions = world_regions(q.text)
    countries = {m.place.name for m in found}
    countries |= {p.name for _, region in regions for p in countries_in(region)}
    names = _named_parties(q.text, groups)
    named_words = {w for n in names for w in n.casefold().split()}
    understood = named_words | {w.casefold() for m in found for w in m.surface.split()}
    understood |= {w.casefold() for m in find_places(q.text, {"kommun", "region"})
                   if m.place.official in names for w in m.surface.split()}
    understood |= {w.casefold() for surface, _ in regions for w in surface.split()}
    # a capitalised word of a theme the question names ("Agenda 2030") is the theme, no party
    themes = resolve_themes(q.text)
    theme_words = {w for t in taxonomy() if t.key in themes for term in t.terms for w in term}
    understood |= theme_words
    # a name the registry does not hold ("Arequipa", a network, a Swedish municipality with no
    # partnership found) is a condition no filter here can apply: listing without it would
    # answer another question, so the passages decide
    unheld = {e for e in q.entities if e not in understood and e.removesuffix("s") not in understood
              and e not in GENERIC_NAMES and not _place_compound(e)}
    # only a name in the genitive ("Handbokens exempel") says where to look; any
    # other may be the partner asked about ("samarbetar med Arequipa")
    if unheld and (in_corpus is None or not all(
            _genitive(e, q.text) and in_corpus(e) for e in unheld)):
        return None
    filters = Filters(
        frozenset(themes),
        frozenset(countries),
        frozenset(names),
        frozenset(int(y) for y in q.years if y not in theme_words),  # not "Agenda 2030"
        # a question about a named partnership asks what it does: the topic is no filter
        () if names else tuple(alt for alt in (tuple(w for w in a if w not in named_words)
                                               for a in topic_words(q.text)) if alt),
        frozenset(unheld),
    )
    # a year alone ("vilka fick medel 2020") is about grant lists, which the registry lacks
    if not (filters.themes or filters.countries or filters.names or filters.topic):
        return None
    return filters


def _genitive(name: str, text: str) -> bool:
    """The name stands in the genitive before a noun: "Portalens vägledning", "ICLD:s"."""
    return re.search(rf"\b{re.escape(name)}\b\s+[a-zåäö]", text, re.I) is not None and (
        name.endswith("s") or re.search(rf"\b{re.escape(name)}:s\b", text, re.I) is not None)


def _place_compound(word: str) -> bool:
    """A compound led by a place ("Moldavienprojektet", "Kenyanätverket") describes something
    by the place; it is no name of a party."""
    return any(word.startswith(name) and len(word) - len(name) >= 4
               for p in countries() for name in (p.name.casefold(), p.official.casefold()))


def select(q: Question, groups: Sequence[PartnershipGroup], f: Filters) -> list[PartnershipGroup]:
    """Groups that match every kind of filter named (any value within a kind)."""
    out = list(groups)
    if f.countries:  # in the registry's order, whatever the order of the set
        wanted = {g.country for c in sorted(f.countries) for g in filter_groups(out, country=c)}
        out = [g for g in out if g.country in wanted]
    if f.names:
        out = [g for g in out if f.names & ({partner_key(g.partner)} | set(g.swedish))]
    if f.years:
        out = [g for g in out if f.years & set(g.years)]
    if f.themes or f.topic:
        # a theme of the taxonomy or a topic word in a sentence about it is enough to list;
        # rank by how much of the question a partnership shares
        scored = [(len(f.themes & set(g.themes)) + (theme_mention(g, f) is not None), g)
                  for g in out]
        out = [g for score, g in sorted(scored, key=lambda sg: -sg[0]) if score]
    if _ONLY_REGIONS.search(q.text) and not _ONLY_MUNICIPALITIES.search(q.text):
        out = [g for g in out if any(_is_region(p) for p in g.swedish)]
    return list(dict.fromkeys(out))


def answer_from_registry(q: Question, groups: Sequence[PartnershipGroup],
                         in_corpus: Callable[[str], bool] | None = None,
                         ranks: Mapping[str, int] | None = None) -> Answer | None:
    """`ranks` are the retriever's ranks of chunks for the question (chunk id -> 0, 1, …):
    among partnerships that match alike, and among the sentences of one, those in the
    passages the retriever ranks higher come first."""
    f = filters_for(q, groups, in_corpus)
    if f is None:
        return None
    chosen = select(q, groups, f)
    if ranks:
        chosen = by_rank(chosen, f, ranks)
    if not chosen and (f.unheld or not (f.countries or f.names or f.years)):
        # "… inom ett nätverk", "… om fiske": perhaps the passages say
        # what the registry does not (its themes come from the sentences that state a pair)
        return None
    if not chosen:
        # the registry holds every partnership found, so none matching means none stated
        return Answer(question=q.text, text=REFUSAL[q.lang], grounded=False)
    citations: list[Citation] = []
    lines = []
    for g in chosen[:MAX_LINES]:
        refs = []
        # per document the first sentence that states the pair: each is a place to read more
        sources = _ranked(g.sources, ranks or {})
        per_doc = {m.source: m for m in reversed(sources)}
        per_doc |= {m.source: m for m in reversed(sources) if m.states}
        cited = list(dict.fromkeys(per_doc[m.source] for m in sources))[:MAX_SOURCES]
        for m in cited:
            citations.append(cite_mention(m, len(citations) + 1))
            refs.append(f"[{len(citations)}]")
        line = f"- {line_for(g, q.lang, cited[0])} {''.join(refs)}"
        if (f.themes or f.topic) and (shown := theme_mention(g, f, ranks)) \
                and shown != cited[0]:
            citations.append(cite_mention(shown, len(citations) + 1))
            label = "tema" if q.lang == "sv" else "theme"
            line += f"; {label}: «{short(shown.sentence)}» [{len(citations)}]"
        lines.append(line)
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


def by_rank(chosen: Sequence[PartnershipGroup], f: Filters,
            ranks: Mapping[str, int]) -> list[PartnershipGroup]:
    """Partnerships in order of how many asked themes they share, then of the best retrieval
    rank of a sentence about them: the retriever has read the question, the registry not."""
    def shared(g: PartnershipGroup) -> int:
        return len(f.themes & set(g.themes)) + (theme_mention(g, f) is not None)

    def best(g: PartnershipGroup) -> int:
        return min((ranks[m.chunk_id] for m in g.sources if m.chunk_id in ranks),
                   default=len(ranks))

    themed = bool(f.themes or f.topic)
    return sorted(chosen, key=lambda g: (-shared(g) if themed else 0, best(g)))


def _ranked(mentions: Sequence[Mention], ranks: Mapping[str, int]) -> list[Mention]:
    """Mentions in passages the retriever found first, by its rank; the others as they were."""
    return sorted(mentions, key=lambda m: ranks.get(m.chunk_id, len(ranks)))


def theme_mention(g: PartnershipGroup, f: Filters,
                  ranks: Mapping[str, int] | None = None) -> Mention | None:
    """The sentence about the partnership that shows the asked theme or topic: the first in
    the retriever's order when `ranks` is given."""
    # a topic whose words the partnership's sentences lack altogether is in none of them:
    # most partnerships are ruled out by one look at their words
    topic = bool(f.topic) and mentions_topic(group_words(g), f.topic)
    if topic or f.themes:
        # the sentences about the partnership, then those that only stand beside them
        for m in [*_ranked(g.sources, ranks or {}), *_ranked(g.context, ranks or {})]:
            if (topic and mentions_topic(m.sentence, f.topic)) or (
                f.themes and f.themes & set(match_themes(m.sentence))
            ):
                return m
    if f.themes & set(g.themes):  # the theme came from a heading, a title or the embedding
        return g.sources[0]
    return None


@lru_cache(maxsize=1 << 16)
def group_words(g: PartnershipGroup) -> frozenset[str]:
    """Every word of the partnership's sentences."""
    return frozenset().union(*(words_of(m.sentence) for m in (*g.sources, *g.context)))


def line_for(g: PartnershipGroup, lang: Lang, stated: Mention | None = None) -> str:
    """ "Kalix kommun – Masaka (Uganda); teman: plast, miljö; 2020: «the sentence»"."""
    where = f" ({g.country})" if g.country else ""
    bits = [f"{' + '.join(g.swedish)} – {g.partner}{where}"]
    if g.themes:
        bits.append(("themes: " if lang == "en" else "teman: ") + ", ".join(g.themes))
    if g.years:
        bits.append(", ".join(map(str, g.years)))
    quote = " ".join((stated or g.sources[0]).sentence.split())
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


def cite_mention(m: Mention, n: int, score: float = 1.0) -> Citation:
    """A registry passage as a citation; registry matches are exact, hence score 1."""
    return Citation(n=n, source=m.source, page=m.page, chunk_id=m.chunk_id, quote=m.sentence,
                    score=score)


def short(text: str, limit: int = 220) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"
