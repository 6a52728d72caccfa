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

from .chunking import split_sentences
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
_PERSON = re.compile(r"\b[A-ZÅÄÖ][a-zåäöé]+ [A-ZÅÄÖ][a-zåäöé]+(?:-[A-ZÅÄÖ][a-zåäöé]+)?\b")
_YEAR = re.compile(r"\b(19|20)\d{2}\b")
_ENTITY = re.compile(r"\b[A-ZÅÄÖ][\w'’-]*\w")

# Words that say what kind of thing is asked for; they do not tell the topic apart.
_FRAME_WORDS = frozenset(tokenize(
    "vilka vilken vilket kommun kommuner kommunen regioner region regionen svenska svensk "
    "partnerskap partnerskapet partner partnern arbetar arbeta jobbar underlaget dokumenten "
    "enligt finns which municipality municipalities swedish region regions partnership "
    "partnerships work works working documents according"
))

# Sentences the list answer must not treat as evidence about a partnership.
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
            terms=list(dict.fromkeys(tokenize(text))),
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

    def __init__(self, df: Mapping[str, int], n_docs: int, *, min_support: float = 0.5,
                 max_sentences: int = 3) -> None:
        self.df = df
        self.n_docs = n_docs
        self.min_support = min_support
        self.max_sentences = max_sentences

    def compose(self, question: str, hits: Sequence[Hit]) -> Answer:
        q = Question.parse(question)
        scored = self._score(q, hits)
        refusal = self._refusal_reason(q, scored, hits)
        if refusal:
            return self._refuse(q, hits)
        if q.wants_list:
            listed = self._list_answer(q, scored)
            if listed:
                return listed
        return self._sentence_answer(q, scored)

    # -- scoring --------------------------------------------------------------------------

    def idf(self, term: str) -> float:
        """Smoothed idf; a term the corpus has never seen gets the highest weight."""
        return math.log(1 + (self.n_docs + 1) / (self.df.get(term, 0) + 0.5))

    def _weights(self, q: Question) -> dict[str, float]:
        return {t: self.idf(t) * (0.3 if t in _FRAME_WORDS else 1.0) for t in q.terms}

    def _score(self, q: Question, hits: Sequence[Hit]) -> list[Scored]:
        weights = self._weights(q)
        total = sum(weights.values()) or 1.0
        out: list[Scored] = []
        for rank, hit in enumerate(hits):
            context = tokenize(f"{hit.chunk.title} {hit.chunk.heading}")
            for sentence in split_sentences(hit.chunk.text):
                if len(sentence) < 15 or sentence.startswith("#"):
                    continue
                tokens = tokenize(sentence)
                matched = _matched_terms(q.terms, tokens)
                in_context = _matched_terms(q.terms, context) - matched
                coverage = (sum(weights[t] for t in matched)
                            + 0.5 * sum(weights[t] for t in in_context)) / total
                fit = _answer_type_fit(q, sentence)
                score = coverage + 0.25 * fit + 0.15 / (1 + rank)
                out.append(Scored(sentence, hit, rank, coverage, score, matched | in_context))
        out.sort(key=lambda s: -s.score)
        return out

    def _refusal_reason(self, q: Question, scored: list[Scored], hits: Sequence[Hit]) -> str:
        if not scored:
            return "no passages"
        evidence = " ".join(h.chunk.text.lower() for h in hits)
        for year in q.years:
            if year not in evidence:
                return f"year {year} not in evidence"
        for entity in q.entities:
            if not _entity_in(entity, evidence) and self.df.get(_stem(entity), 0) == 0:
                return f"unknown name {entity}"
        best = scored[0]
        if best.coverage < self.min_support:
            return "weak support"
        if q.wants in ("amount", "person") and not q.wants_list:
            top = [s for s in scored[:8] if _answer_type_fit(q, s.sentence) > 0
                   and _names_overlap(q, s.sentence)]
            if not top:
                return f"no {q.wants} near the question's names"
        return ""

    # -- composing ------------------------------------------------------------------------

    def _sentence_answer(self, q: Question, scored: list[Scored]) -> Answer:
        best = scored[0].score
        chosen: list[Scored] = []
        covered: set[str] = set()
        for s in scored:
            if len(chosen) >= self.max_sentences or s.score < 0.6 * best:
                break
            if any(_similar(s.sentence, c.sentence) for c in chosen):
                continue
            # a further sentence must add something the earlier ones lacked
            if chosen and not (s.matched - covered) and _answer_type_fit(q, s.sentence) == 0:
                continue
            chosen.append(s)
            covered |= s.matched
        citations, markers = _cite(chosen)
        text = " ".join(f"{s.sentence} [{markers[id(s)]}]" for s in chosen)
        return Answer(question=q.text, text=text, grounded=True, citations=citations)

    def _list_answer(self, q: Question, scored: list[Scored]) -> Answer | None:
        from .places import find_places

        topic = [t for t in q.terms if t not in _FRAME_WORDS]
        lines: dict[str, list[Scored]] = {}
        for s in scored:
            if topic and not (set(topic) & s.matched):
                continue
            for m in find_places(s.sentence, {"kommun", "region"}):
                key = m.place.official
                if len(lines.get(key, [])) < 2 and all(
                    x.hit.chunk.source != s.hit.chunk.source for x in lines.get(key, [])
                ):
                    lines.setdefault(key, []).append(s)
        if not lines:
            return None
        ordered = sorted(lines.items(), key=lambda kv: -max(x.score for x in kv[1]))
        picked = [x for _, group in ordered for x in group]
        citations, markers = _cite(picked)
        body = []
        for name, group in ordered:
            refs = "".join(f"[{markers[id(x)]}]" for x in group)
            body.append(f"- {name}: {_shorten(group[0].sentence)} {refs}")
        noun = _count_noun(len(ordered), q.lang)
        head = _LIST_HEAD[q.lang].format(n=noun)
        return Answer(question=q.text, text=head + "\n" + "\n".join(body), grounded=True,
                      citations=citations)

    def _refuse(self, q: Question, hits: Sequence[Hit]) -> Answer:
        related = [
            Citation(n=i, source=h.chunk.source, page=h.chunk.page, chunk_id=h.chunk.id,
                     quote=_shorten(h.chunk.text, 300), score=h.score, title=h.chunk.title)
            for i, h in enumerate(hits[:3], start=1)
        ]
        return Answer(question=q.text, text=_REFUSAL[q.lang], grounded=False, related=related)


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
            return 1.0 if _PERSON.search(sentence) else 0.0
        case "date":
            return 1.0 if _DATE.search(sentence) else 0.0
    return 0.0


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


