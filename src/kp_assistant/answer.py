"""Compose a grounded answer from retrieved passages, without a language model.

The answer is built from sentences of the passages themselves. Each sentence in the answer
carries a [n] marker for its citation. When the passages do not support an answer, the
answer says so and lists the closest passages as possibly related.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .keyword import tokenize
from .models import Answer, Citation, Hit

Lang = str  # "sv" | "en"

_SV_HINTS = frozenset(
    "och att det som är för på med har kan vilka vilken vilket hur vad när var vem finns "
    "ska får måste kommun kommuner i om de den till mellan".split()
)
_EN_HINTS = frozenset(
    "the and which what who how when where is are can does do of to in with for municipality "
    "municipalities partner".split()
)
_LIST_START = re.compile(
    r"^\s*(vilka|vilken|which|what|list|lista|nämn|ange|finns det|are there|is there)\b", re.I
)
_LIST_NOUNS = re.compile(
    r"\b(kommun\w*|region\w*|partnerskap\w*|partner\w*|samarbeten|mottagare|"
    r"municipalit\w*|regions?|partnerships?|partners?|cities|towns)\b", re.I
)
_AMOUNT_Q = re.compile(r"\b(hur mycket|how much|belopp|summa|kostar|budget)\w*", re.I)
_COUNT_Q = re.compile(r"\b(hur många|how many|antal)\b", re.I)
_WHO_Q = re.compile(r"^\s*(vem|vilka personer|who)\b|\bkontaktperson\w*|\bvilka lärare\b", re.I)
_WHEN_Q = re.compile(r"\b(när|vilket datum|sista ansökningsdag|when|what date|deadline)\b", re.I)

_AMOUNT = re.compile(r"\d[\d\s.,]*\s*(kr\b|kronor|miljon\w*|mkr|msek|sek\b|million\w*|tkr)"
                     r"|\b(SEK|kr)\s*\d", re.I)
_NUMBER = re.compile(r"\b\d+([\s.,]\d+)*\b|\b(en|ett|två|tre|fyra|fem|sex|sju|åtta|nio|tio|"
                     r"elva|tolv|one|two|three|four|five|six|seven|eight|nine|ten|twelve)\b", re.I)
_DATE = re.compile(r"\b(\d{1,2}\s+(jan\w*|feb\w*|mars|march|apr\w*|maj|may|juni?|june|juli?|july|"
                   r"aug\w*|sep\w*|okt\w*|oct\w*|nov\w*|dec\w*))|\b(19|20)\d{2}\b|\blöpande\b|"
                   r"\bnär som helst\b|\bany time\b", re.I)
_PERSON = re.compile(r"\b([A-ZÅÄÖ][a-zåäöé]+) ([A-ZÅÄÖ][a-zåäöé]+)(?:-[A-ZÅÄÖ][a-zåäöé]+)?\b")
# Capitalised pairs that name organisations or places rather than people.
_NOT_PERSON = frozenset(
    "region kommun stad county district council municipality city icld sida sveriges "
    "agenda internationellt centrum lokal demokrati kommunala partnerskap".split()
)
_YEAR = re.compile(r"\b(19|20)\d{2}\b")
_ENTITY = re.compile(r"\b[A-ZÅÄÖ][\w'’-]*\w")

# Words that say what kind of thing is asked for; they do not tell the topic apart.
_FRAME_WORDS = frozenset(tokenize(
    "vilka vilken vilket kommun kommuner kommunen regioner region regionen svenska svensk "
    "partnerskap partnerskapet partner partnern arbetar arbeta jobbar underlaget dokumenten "
    "enligt finns which municipality municipalities swedish region regions partnership "
    "partnerships work works working documents according"
))

# Words that only shape a question ("hur stor", "how long"); they are never evidence.
_QUESTION_WORDS = frozenset(tokenize(
    "hur mycket många vad vilka vilken vilket när var vem vems varför finns fanns kan får fick "
    "måste ska skulle stor stort stora länge enligt underlaget dokumenten dokumentet stämmer "
    "fortfarande gäller idag dag "
    "which what how long many much who whom whose when where why does did do can could should "
    "according documents document there any"
)) | {"s"}

_REFUSAL = {
    "sv": "Jag hittar inget svar på den frågan i dokumenten.",
    "en": "I cannot find the answer to that question in the documents.",
}
_LIST_HEAD = {
    "sv": "Jag hittade {n} i dokumenten:",
    "en": "I found {n} in the documents:",
}


def detect_language(text: str) -> Lang:
    words = re.findall(r"\w+", text.lower())
    sv = sum(w in _SV_HINTS for w in words) + 2 * bool(re.search(r"[åäö]", text.lower()))
    en = sum(w in _EN_HINTS for w in words)
    return "en" if en > sv else "sv"


@dataclass
class Question:
    text: str
    lang: Lang
    terms: list[str]  # stemmed content words
    entities: list[str]  # proper names as written, lower-cased
    years: list[str]
    wants_list: bool
    wants: str  # "amount" | "count" | "person" | "date" | "any"

    @classmethod
    def parse(cls, text: str) -> Question:
        words = text.split()
        first = words[0] if words else ""
        entities = []
        for m in _ENTITY.finditer(text):
            word = re.sub(r"(:s|'s|’s)$", "", m.group(0))
            if m.start() == text.find(first) and first and word == first.rstrip("?,.:"):
                continue  # the first word is capitalised because it starts the question
            if tokenize(word) and word.lower() not in _SV_HINTS | _EN_HINTS:
                entities.append(word.lower())
        if _AMOUNT_Q.search(text):
            wants = "amount"
        elif _COUNT_Q.search(text):
            wants = "count"
        elif _WHO_Q.search(text):
            wants = "person"
        elif _WHEN_Q.search(text):
            wants = "date"
        else:
            wants = "any"
        return cls(
            text=text,
            lang=detect_language(text),
            terms=list(dict.fromkeys(
                t for t in tokenize(text) if t not in _QUESTION_WORDS and len(t) > 1
            )),
            entities=list(dict.fromkeys(entities)),
            years=_YEAR.findall(text) and [m.group(0) for m in _YEAR.finditer(text)],
            wants_list=bool(_LIST_START.search(text) and _LIST_NOUNS.search(text)),
            wants=wants,
        )


@dataclass
class Scored:
    sentence: str
    hit: Hit
    rank: int  # position of the hit in retrieval
    coverage: float  # weighted share of the question's terms the sentence contains
    score: float
    matched: set[str] = field(default_factory=set)


def term_matches(term: str, token: str) -> bool:
    """A stemmed question term matches a stemmed text token, also inside Swedish compounds.

    "avfall" matches "avfallshanter", "vatten" matches "dricksvatten"; short stems must match
    exactly so that "unga" does not match "ungefär".
    """
    if term == token:
        return True
    short, long_ = (term, token) if len(term) <= len(token) else (token, term)
    if len(short) < 5:
        return False
    return long_.startswith(short) or long_.endswith(short)


def _matched_terms(terms: Sequence[str], tokens: Sequence[str]) -> set[str]:
    toks = set(tokens)
    return {t for t in terms if t in toks or any(term_matches(t, k) for k in toks)}


class Composer:
    """Turns hits into an Answer. Document frequencies weigh question terms: rarer count more."""

    def __init__(self, df: Mapping[str, int], n_docs: int, *, min_support: float = 0.35,
                 max_sentences: int = 3) -> None:
        self.df = df
        self.n_docs = n_docs
        self.min_support = min_support
        self.max_sentences = max_sentences

    def idf(self, term: str) -> float:
        """Smoothed idf; a term the corpus has never seen gets the highest weight."""
        return math.log(1 + (self.n_docs + 1) / (self.df.get(term, 0) + 0.5))

    def compose(self, question: str, hits: Sequence[Hit]) -> Answer:
        q = Question.parse(question)
        weights = self._weights(q, hits)
        scored = self._score(q, hits, weights)
        if self.refusal_reason(q, scored, hits):
            return self._refuse(q, hits)
        if q.wants_list:
            listed = self._list_answer(q, scored)
            if listed:
                return listed
        chosen = self._select(q, scored, weights)
        if _coverage(chosen, weights) < self.min_support:
            return self._refuse(q, hits)
        return self._sentence_answer(q, chosen)

    # -- scoring --------------------------------------------------------------------------

    def _weights(self, q: Question, hits: Sequence[Hit]) -> dict[str, float]:
        """Weights of the question terms the corpus knows (or the passages contain).

        A word the corpus has never seen cannot be matched, so it would only lower every
        coverage score alike; whether its absence matters is decided in `refusal_reason`.
        """
        evidence = tokenize(" ".join(f"{h.chunk.title} {h.chunk.text}" for h in hits))
        present = _matched_terms(q.terms, evidence)
        return {
            t: self.idf(t) * (0.3 if t in _FRAME_WORDS else 1.0)
            for t in q.terms
            if self.df.get(t, 0) > 0 or t in present
        }

    def _score(self, q: Question, hits: Sequence[Hit],
               weights: Mapping[str, float]) -> list[Scored]:
        total = sum(weights.values()) or 1.0
        terms = list(weights)
        out: list[Scored] = []
        for rank, hit in enumerate(hits):
            context = tokenize(f"{hit.chunk.title} {hit.chunk.heading}")
            for sentence in hit.chunk.text.split("\n"):
                if len(sentence) < 15 or sentence.startswith("#"):
                    continue
                matched = _matched_terms(terms, tokenize(sentence))
                in_context = _matched_terms(terms, context) - matched
                coverage = (sum(weights[t] for t in matched)
                            + 0.5 * sum(weights[t] for t in in_context)) / total
                score = coverage + 0.25 * _answer_type_fit(q, sentence) + 0.15 / (1 + rank)
                out.append(Scored(sentence, hit, rank, coverage, score, matched | in_context))
        out.sort(key=lambda x: -x.score)
        return out

    def refusal_reason(self, q: Question, scored: Sequence[Scored],
                       hits: Sequence[Hit]) -> str:
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
        if q.wants in ("amount", "person") and not q.wants_list and not any(
            _answer_type_fit(q, x.sentence) > 0 and _names_overlap(q, x.sentence)
            for x in scored[:10]
        ):
            return f"no {q.wants} next to the question's names"
        return ""

    # -- composing ------------------------------------------------------------------------

    def _select(self, q: Question, scored: Sequence[Scored],
                weights: Mapping[str, float]) -> list[Scored]:
        """Greedy cover: each further sentence must add question terms or the wanted fact."""
        chosen: list[Scored] = []
        covered: set[str] = set()
        best = scored[0].score if scored else 0.0
        for x in scored:
            if len(chosen) >= self.max_sentences or x.score < 0.5 * best:
                break
            if any(_similar(x.sentence, c.sentence) for c in chosen):
                continue
            gain = sum(weights.get(t, 0.0) for t in x.matched - covered)
            if chosen and gain <= 0 and _answer_type_fit(q, x.sentence) == 0:
                continue
            chosen.append(x)
            covered |= x.matched
        return chosen

    def _sentence_answer(self, q: Question, chosen: Sequence[Scored]) -> Answer:
        citations, markers = _cite(chosen)
        text = " ".join(f"{x.sentence} [{markers[id(x)]}]" for x in chosen)
        return Answer(question=q.text, text=text, grounded=True, citations=citations)

    def _list_answer(self, q: Question, scored: Sequence[Scored]) -> Answer | None:
        from .places import find_places

        topic = [t for t in q.terms if t not in _FRAME_WORDS]
        lines: dict[str, list[Scored]] = {}
        for x in scored:
            if topic and not (set(topic) & x.matched):
                continue
            for m in find_places(x.sentence, {"kommun", "region"}):
                group = lines.setdefault(m.place.official, [])
                if len(group) < 2 and all(g.hit.chunk.source != x.hit.chunk.source for g in group):
                    group.append(x)
        if not lines:
            return None
        ordered = sorted(lines.items(), key=lambda kv: -max(g.score for g in kv[1]))
        citations, markers = _cite([g for _, group in ordered for g in group])
        body = [
            f"- {name}: {_shorten(group[0].sentence)} "
            + "".join(f"[{markers[id(g)]}]" for g in group)
            for name, group in ordered
        ]
        head = _LIST_HEAD[q.lang].format(n=_count_noun(len(ordered), q.lang))
        return Answer(question=q.text, text=head + "\n" + "\n".join(body), grounded=True,
                      citations=citations)

    def _refuse(self, q: Question, hits: Sequence[Hit]) -> Answer:
        related = [
            Citation(n=i, source=h.chunk.source, page=h.chunk.page, chunk_id=h.chunk.id,
                     quote=_shorten(h.chunk.text, 300), score=h.score, title=h.chunk.title)
            for i, h in enumerate(hits[:3], start=1)
        ]
        return Answer(question=q.text, text=_REFUSAL[q.lang], grounded=False, related=related)


def _coverage(chosen: Sequence[Scored], weights: Mapping[str, float]) -> float:
    total = sum(weights.values())
    if not chosen or total == 0:
        return 0.0
    covered = set().union(*(x.matched for x in chosen))
    return sum(weights[t] for t in covered) / total


def _stem(word: str) -> str:
    toks = tokenize(word)
    return toks[0] if toks else word


def _entity_in(entity: str, text: str) -> bool:
    base = entity[:-1] if len(entity) > 4 and entity.endswith("s") else entity
    return base in text


def _names_overlap(q: Question, sentence: str) -> bool:
    if not q.entities:
        return True
    low = sentence.lower()
    generic = {"icld", "sida", "sverige", "sweden"}
    names = [e for e in q.entities if e not in generic]
    return not names or any(_entity_in(e, low) for e in names)


def _answer_type_fit(q: Question, sentence: str) -> float:
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
    from .places import find_places

    places = {m.surface.split()[0] for m in find_places(sentence)}
    for m in _PERSON.finditer(sentence):
        first, last = m.group(1), m.group(2)
        if first.lower() in _NOT_PERSON or last.lower() in _NOT_PERSON:
            continue
        if first in places or last in places:
            continue
        return True
    return False


def _similar(a: str, b: str) -> bool:
    ta, tb = set(tokenize(a)), set(tokenize(b))
    if not ta or not tb:
        return a == b
    return len(ta & tb) / min(len(ta), len(tb)) > 0.7


def _cite(chosen: Sequence[Scored]) -> tuple[list[Citation], dict[int, int]]:
    """One citation per chunk, numbered in order of first use; quotes gather its sentences."""
    by_chunk: dict[str, Citation] = {}
    markers: dict[int, int] = {}
    for s in chosen:
        c = by_chunk.get(s.hit.chunk.id)
        if c is None:
            c = Citation(n=len(by_chunk) + 1, source=s.hit.chunk.source, page=s.hit.chunk.page,
                         chunk_id=s.hit.chunk.id, quote=s.sentence, score=s.hit.score,
                         title=s.hit.chunk.title)
        elif s.sentence not in c.quote:
            c = Citation(c.n, c.source, c.page, c.chunk_id, f"{c.quote} … {s.sentence}",
                         c.score, c.title)
        by_chunk[s.hit.chunk.id] = c
        markers[id(s)] = c.n
    return list(by_chunk.values()), markers


def _shorten(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + " …"


def _count_noun(n: int, lang: Lang) -> str:
    if lang == "en":
        return f"{n} municipalit{'y' if n == 1 else 'ies'} or region{'' if n == 1 else 's'}"
    return f"{n} {'kommun eller region' if n == 1 else 'kommuner eller regioner'}"


