"""Compose a grounded answer from retrieved passages, without a language model.

The answer is made of sentences from the passages themselves, each followed by a [n] marker
for its citation. When the passages do not support an answer, the answer says so and the
closest passages are returned as possibly related.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .keyword import tokenize
from .models import Answer, Citation, Hit
from .places import find_places
from .question import FRAME_WORDS, REFUSAL, Lang, Question

_AMOUNT = re.compile(
    r"\d[\d\s.,]*\s*(kr\b|kronor|miljon\w*|mkr|msek|sek\b|million\w*|tkr)"
    r"|\b(SEK|kr)\s*\d",
    re.I,
)
_NUMBER = re.compile(
    r"\b\d+([\s.,]\d+)*\b|\b(en|ett|två|tre|fyra|fem|sex|sju|åtta|nio|tio|"
    r"elva|tolv|one|two|three|four|five|six|seven|eight|nine|ten|twelve)\b",
    re.I,
)
_DATE = re.compile(
    r"\b(\d{1,2}\s+(jan\w*|feb\w*|mars|march|apr\w*|maj|may|juni?|june|juli?|july|"
    r"aug\w*|sep\w*|okt\w*|oct\w*|nov\w*|dec\w*))|\b(19|20)\d{2}\b|\blöpande\b|"
    r"\bnär som helst\b|\bany time\b",
    re.I,
)
_PERSON = re.compile(r"\b([A-ZÅÄÖ][a-zåäöé]+) ([A-ZÅÄÖ][a-zåäöé]+)\b")
# A name is taken for a person's only next to a role or a verb of saying.
_PERSON_CONTEXT = re.compile(
    r"\b(säger|sade|sa|berättar|berättade|enligt|menar|betonade|skriver|says|said|stressed|"
    r"\w*(ledar|person|samordnar|handläggar|lärar|rektor|ordförande|sekreterar|direktör|chef|"
    r"borgmästar|coordinator|manager|director|mayor|teacher|contact)\w*)\b",
    re.I,
)
_NOT_PERSON = frozenset(
    [
        "region",
        "kommun",
        "stad",
        "county",
        "district",
        "council",
        "municipality",
        "city",
        "icld",
        "sida",
        "sveriges",
        "agenda",
        "internationellt",
        "centrum",
        "lokal",
        "demokrati",
        "kommunala",
        "partnerskap",
        "bay",
    ]
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*•–]|\d+[.)])\s+")
_GENERIC_NAMES = frozenset({"icld", "sida", "sverige", "sweden", "swedish", "faq"})
_MONTHS = frozenset(
    tokenize(
        "januari februari mars april maj juni juli augusti september oktober november december "
        "january february march june july august october"
    )
)

_LIST_HEAD: dict[Lang, str] = {
    "sv": "Jag hittade {n} i {d}:",
    "en": "I found {n} in {d}:",
}


@dataclass
class Scored:
    sentence: str
    hit: Hit
    index: int  # position of the sentence in its chunk
    coverage: float  # weighted share of the question's terms the sentence (and heading) holds
    score: float
    matched: set[str] = field(default_factory=set)
    also: list[Scored] = field(default_factory=list)  # the same fact in other documents


class Composer:
    """Turns hits into an Answer. Document frequencies weigh question terms: rarer count more."""

    def __init__(
        self,
        df: Mapping[str, int],
        n_docs: int,
        *,
        min_support: float = 0.35,
        max_sentences: int = 3,
    ) -> None:
        self.df = df
        self.n_docs = n_docs
        self.min_support = min_support
        self.max_sentences = max_sentences

    def idf(self, term: str) -> float:
        return math.log(1 + (self.n_docs + 1) / (self.df.get(term, 0) + 0.5))

    def compose(self, question: str | Question, hits: Sequence[Hit]) -> Answer:
        q = question if isinstance(question, Question) else Question.parse(question)
        weights = self._weights(q, hits)
        scored = self._score(q, hits, weights)
        if self.refusal_reason(q, scored, hits):
            return self._refuse(q, hits)
        if q.wants_list:
            listed = self._list_answer(q, scored, weights)
            if listed:
                return listed
            if q.asks_for_places:
                return self._refuse(q, hits)  # a list of municipalities that names none
        chosen = _dated(q, self._select(q, scored, weights))
        undated = {t: w for t, w in weights.items() if t not in q.years}
        if _coverage(chosen, undated) < self.min_support:
            return self._refuse(q, hits)
        return self._sentence_answer(q, chosen)

    # -- scoring --------------------------------------------------------------------------

    def _weights(self, q: Question, hits: Sequence[Hit]) -> dict[str, float]:
        """Weights of the question terms the corpus knows or the passages contain.

        A word the corpus has never seen cannot be matched; it would only lower every
        coverage score alike. Whether its absence matters is decided in `refusal_reason`.
        """
        evidence = tokenize(" ".join(f"{h.chunk.title} {h.chunk.text}" for h in hits))
        present = q.matched(evidence)
        return {
            t: self.idf(t) * (0.3 if t in FRAME_WORDS else 1.0)
            for t in q.terms
            if self.df.get(t, 0) > 0 or t in present
        }

    def _score(
        self, q: Question, hits: Sequence[Hit], weights: Mapping[str, float]
    ) -> list[Scored]:
        total = sum(weights.values()) or 1.0
        out: list[Scored] = []
        for rank, hit in enumerate(hits):
            context = q.matched(tokenize(f"{hit.chunk.title} {hit.chunk.heading}"), weights)
            for i, sentence in enumerate(hit.chunk.text.split("\n")):
                if len(sentence) < 12 or sentence.startswith("#"):
                    continue
                matched = q.matched(tokenize(sentence), weights)
                coverage = (
                    sum(weights[t] for t in matched)
                    + 0.75 * sum(weights[t] for t in context - matched)
                ) / total
                score = coverage + 0.25 * _type_fit(q, sentence) + 0.15 / (1 + rank)
                out.append(Scored(sentence, hit, i, coverage, score, matched | context))
        out.sort(key=lambda x: -x.score)
        return out

    def refusal_reason(self, q: Question, scored: Sequence[Scored], hits: Sequence[Hit]) -> str:
        """Why the passages cannot answer the question, or "" when they may."""
        if not scored:
            return "no passages"
        evidence = " ".join(f"{h.chunk.title} {h.chunk.text}".lower() for h in hits)
        for year in q.years:
            if year not in evidence:
                return f"year {year} not in the passages"
        for entity in q.entities:
            if not _entity_in(entity, evidence) and self.df.get(_stem(entity), 0) == 0:
                return f"name '{entity}' unknown to the corpus"
        if (
            q.wants in ("amount", "person")
            and not q.wants_list
            and not any(_type_fit(q, x.sentence) > 0 and _names_overlap(q, x) for x in scored[:10])
        ):
            return f"no {q.wants} next to the question's names"
        return ""

    # -- composing ------------------------------------------------------------------------

    def _select(
        self, q: Question, scored: Sequence[Scored], weights: Mapping[str, float]
    ) -> list[Scored]:
        """Greedy cover: each further sentence must add question terms or the wanted fact."""
        chosen: list[Scored] = []
        covered: set[str] = set()
        best = scored[0].score if scored else 0.0
        multi_year = len(set(q.years)) > 1
        limit = max(self.max_sentences, len(set(q.years)))
        for x in scored:
            if len(chosen) >= limit or x.score < 0.3 * best:
                break
            years = {y for y in q.years if y in _chunk_text(x)}
            dated = {y for c in chosen for y in q.years if y in _chunk_text(c)}
            new_year = (multi_year and not years <= dated
                        and (q.wants == "any" or _type_fit(q, x.sentence) > 0))
            # a weaker sentence still counts when it is the only one about an asked year
            if x.score < 0.5 * best and not new_year:
                continue
            twin = next((c for c in chosen if _similar(x.sentence, c.sentence)), None)
            if twin is not None:
                sources = {twin.hit.chunk.source, *(a.hit.chunk.source for a in twin.also)}
                if x.hit.chunk.source not in sources and len(twin.also) < 2:
                    twin.also.append(x)  # cite every document that states it
                continue
            gain = sum(weights.get(t, 0.0) for t in x.matched - covered)
            if chosen and gain <= 0 and _type_fit(q, x.sentence) == 0:
                continue
            # several years asked for: a further sentence must bring one not yet covered
            if multi_year and chosen and dated < set(q.years) and not new_year:
                continue
            chosen.append(x)
            covered |= x.matched
        return chosen

    def _sentence_answer(self, q: Question, chosen: Sequence[Scored]) -> Answer:
        # a short sentence's passage takes in the next line; that line must not come twice
        kept: list[Scored] = []
        for x in chosen:
            if not any(x.hit.chunk.id == k.hit.chunk.id and x.sentence in _passage(k)
                       for k in kept):
                kept.append(x)
        chosen = kept
        cited = [y for x in chosen for y in (x, *x.also)]
        passages = [_passage(y) for y in cited]
        citations, markers = _cite(cited, passages)
        shown = dict(zip(map(id, cited), passages, strict=True))
        text = " ".join(
            f"{_display(x, shown[id(x)])} " + "".join(f"[{markers[id(y)]}]" for y in (x, *x.also))
            for x in chosen
        )
        return Answer(question=q.text, text=text, grounded=True, citations=citations)

    def _list_answer(
        self, q: Question, scored: Sequence[Scored], weights: Mapping[str, float]
    ) -> Answer | None:
        """One line per Swedish municipality or region named in a sentence on the topic."""
        # dates only narrow the documents; the topic is the theme, country or partner
        topic = {
            t: w
            for t, w in weights.items()
            if t not in FRAME_WORDS and t not in q.years and t not in _MONTHS
        }
        names = [_stem(e) for e in q.entities if e not in _GENERIC_NAMES]
        needed = 0.35 * sum(topic.values())
        lines: dict[str, list[Scored]] = {}
        for x in scored:
            if names:
                if not any(n in x.matched for n in names):
                    continue
            elif topic and sum(topic.get(t, 0.0) for t in x.matched) < needed:
                continue
            for m in find_places(x.sentence, {"kommun", "region"}):
                if _in_parentheses(x.sentence, m.start):
                    continue  # "Kalix kommun (Norrbotten)": the county only locates it
                group = lines.setdefault(m.place.official, [])
                if len(group) < 2 and all(g.hit.chunk.source != x.hit.chunk.source for g in group):
                    group.append(x)
        if not lines:
            return None
        ordered = sorted(lines.items(), key=lambda kv: -max(g.score for g in kv[1]))
        picked = [g for _, group in ordered for g in group]
        passages = [_passage(g) for g in picked]
        citations, markers = _cite(picked, passages)
        shown = dict(zip(map(id, picked), passages, strict=True))
        body = [
            f"- {name}: {_shorten(_display(group[0], shown[id(group[0])]))} "
            + "".join(f"[{markers[id(g)]}]" for g in group)
            for name, group in ordered
        ]
        docs = len({c.source for c in citations})
        head = _LIST_HEAD[q.lang].format(
            n=_count_noun(len(ordered), q.lang), d=_doc_noun(docs, q.lang)
        )
        return Answer(
            question=q.text, text=head + "\n" + "\n".join(body), grounded=True, citations=citations
        )

    def _refuse(self, q: Question, hits: Sequence[Hit]) -> Answer:
        related = [
            Citation(
                n=i,
                source=h.chunk.source,
                page=h.chunk.page,
                chunk_id=h.chunk.id,
                quote=_shorten(" ".join(h.chunk.text.split("\n")), 300),
                score=h.score,
                title=h.chunk.title,
            )
            for i, h in enumerate(hits[:3], start=1)
        ]
        return Answer(question=q.text, text=REFUSAL[q.lang], grounded=False, related=related)


def _passage(x: Scored) -> str:
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


def _display(x: Scored, passage: str) -> str:
    heading = x.hit.chunk.heading
    # a bare line such as "Robertsfors och Machakos (Kenya)." means little without its heading
    if heading and len(x.sentence.split()) < 8 and heading.lower() not in passage.lower():
        return f"{heading}: {passage}"
    return passage


def _coverage(chosen: Sequence[Scored], weights: Mapping[str, float]) -> float:
    total = sum(weights.values())
    if not chosen or total == 0:
        return 0.0
    covered = set().union(*(x.matched for x in chosen))
    return sum(weights.get(t, 0.0) for t in covered) / total


def _chunk_text(x: Scored) -> str:
    return f"{x.hit.chunk.title} {x.hit.chunk.heading} {x.hit.chunk.text}"


def _dated(q: Question, chosen: Sequence[Scored]) -> list[Scored]:
    """When the question names years, only passages from chunks that mention one count."""
    if not q.years:
        return list(chosen)
    return [
        x
        for x in chosen
        if any(
            y in f"{x.hit.chunk.title} {x.hit.chunk.heading} {x.hit.chunk.text}" for y in q.years
        )
    ]


def _stem(word: str) -> str:
    toks = tokenize(word)
    return toks[0] if toks else word


def _entity_in(entity: str, text: str) -> bool:
    base = entity[:-1] if len(entity) > 4 and entity.endswith("s") else entity
    return base in text


def _names_overlap(q: Question, x: Scored) -> bool:
    names = [e for e in q.entities if e not in _GENERIC_NAMES]
    if not names:
        return True
    where = f"{x.sentence} {x.hit.chunk.heading}".lower()
    return any(_entity_in(e, where) for e in names)


def _type_fit(q: Question, sentence: str) -> float:
    match q.wants:
        case "amount":
            return 1.0 if _AMOUNT.search(sentence) else 0.0
        case "count":
            return 1.0 if _NUMBER.search(sentence) else 0.0
        case "person":
            return 1.0 if _has_person(sentence) else 0.0
        case "date":
            return 1.0 if _DATE.search(sentence) else 0.0
    return 0.0


def _has_person(sentence: str) -> bool:
    if "|" in sentence or not _PERSON_CONTEXT.search(sentence):
        return False
    places = {w for m in find_places(sentence) for w in m.surface.split()}
    return any(
        m.group(1).lower() not in _NOT_PERSON
        and m.group(2).lower() not in _NOT_PERSON
        and m.group(1) not in places
        and m.group(2) not in places
        for m in _PERSON.finditer(sentence)
    )


def _in_parentheses(text: str, pos: int) -> bool:
    return text.rfind("(", 0, pos) > text.rfind(")", 0, pos)


def _similar(a: str, b: str) -> bool:
    ta, tb = set(tokenize(a)), set(tokenize(b))
    if not ta or not tb:
        return a == b
    return len(ta & tb) / min(len(ta), len(tb)) > 0.7


def _cite(
    chosen: Sequence[Scored], passages: Sequence[str]
) -> tuple[list[Citation], dict[int, int]]:
    """One citation per chunk, numbered in order of first use; its quote gathers the passages."""
    by_chunk: dict[str, Citation] = {}
    markers: dict[int, int] = {}
    for x, passage in zip(chosen, passages, strict=True):
        c = by_chunk.get(x.hit.chunk.id)
        if c is None:
            c = Citation(
                n=len(by_chunk) + 1,
                source=x.hit.chunk.source,
                page=x.hit.chunk.page,
                chunk_id=x.hit.chunk.id,
                quote=passage,
                score=x.hit.score,
                title=x.hit.chunk.title,
            )
        elif passage not in c.quote:
            c = Citation(
                c.n, c.source, c.page, c.chunk_id, f"{c.quote} … {passage}", c.score, c.title
            )
        by_chunk[x.hit.chunk.id] = c
        markers[id(x)] = c.n
    return list(by_chunk.values()), markers


def _shorten(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


def _count_noun(n: int, lang: Lang) -> str:
    if lang == "en":
        return f"{n} municipalit{'y' if n == 1 else 'ies'} or region{'' if n == 1 else 's'}"
    return f"{n} {'kommun eller region' if n == 1 else 'kommuner eller regioner'}"


def _doc_noun(n: int, lang: Lang) -> str:
    if lang == "en":
        return f"{n} document{'' if n == 1 else 's'}"
    return f"{n} dokument"
