"""Passages that say a fact is not given: "datumet framgår inte", "uppgift saknas".

Reports and minutes often say what they do not know. When one of the best passages says that
the very kind of fact a question asks for (a date, a count, an amount, a name) is missing for
the thing asked about, the honest answer is that the documents do not give it, with that
passage quoted. What is matched is general language: the ways Swedish and English say that
something is not stated, and the nouns that name each kind of fact.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kp_assistant.answering.citing import (
    display,
    hit_citation,
    is_list_item,
    lead_in,
    passage,
    related_citations,
)
from kp_assistant.answering.evidence import GENERIC_NAMES, Candidate, entity_in
from kp_assistant.answering.question import Question
from kp_assistant.language.places import find_places
from kp_assistant.models import Answer, Hit

# "X framgår inte", "is not stated", "name not given": said of information only
NOT_STATED = re.compile(
    r"\b(?:(?:anges|framgår|uppges|redovisas|nämns|preciseras|specificeras|anger|uppger|"
    r"redovisar|nämner|preciserar|specificerar)\s+(?:inte|ej)|"
    r"(?:does|do|did)\s+not\s+(?:say|state|give|mention|specify)|"
    r"är\s+(?:okän[dt]\w*|oklart)|(?:inte|ej)\s+(?:angiv\w+|kän[dt]\w*|redovisad\w*|uppgiv\w+)|"
    r"går\s+inte\s+att\s+belägga|ingen\s+uppgift|inga\s+uppgifter|(?:is|are|was|were)?\s*not\s+"
    r"(?:stated|given|known|specified|disclosed|reported|recorded)|unknown|no\s+information)\b",
    re.I,
)
# "saknas" is said of anything lacking ("pengar saknas"): it counts only of a piece of
# information ("årtal saknas", "uppgift saknas")
LACKING = re.compile(r"\b(?:saknas|saknar|missing|lacking)\b", re.I)
_INFORMATION = re.compile(
    r"\b(?:uppgift\w*|belopp\w*|summ\w*|datum\w*|årtal\w*|antal\w*|namn\w*|siffr\w*|"
    r"information|figures?|dates?|years?|numbers?|names?|amounts?)\b", re.I)
# the nouns (and question words) that name each kind of fact
KIND_WORDS = {
    "date": re.compile(r"\b(?:datum\w*|årtal\w*|startår\w*|år|året|tidpunkt\w*|dates?|years?|"
                       r"when)\b", re.I),
    "count": re.compile(r"\b(?:antal\w*|hur\s+många|number\s+of|how\s+many)\b", re.I),
    "amount": re.compile(r"\b(?:belopp\w*|summa\w*|bidrag\w*|kostnad\w*|budget\w*|pengar|"
                         r"amounts?|sums?|grants?|funding|costs?)\b", re.I),
    "person": re.compile(r"\b(?:namn\w*|vem|vilka\s+personer|names?|who)\b", re.I),
}
# where one statement ends and the next begins, inside a sentence or a flattened table row
_CLAUSE = re.compile(r"[,;:()•|]|\s[–-]\s|\.\s")
WITHIN = 3  # of the best candidates, the ones whose word on a missing fact is taken


_SAYS = {
    "sv": "Dokumenten ger inte den uppgiften; de säger själva att den saknas. {where}: «{quote}»",
    "en": "The documents do not give that; they say so themselves. {where}: «{quote}»",
}
_PAGE = {"sv": "s.", "en": "p."}


@dataclass(frozen=True)
class Absence:
    """A passage saying that the fact asked for is not given."""

    candidate: Candidate
    clause: str


def stated_absent(q: Question, ranked: Sequence[Candidate],
                  within: int = WITHIN) -> Absence | None:
    """The best of the first candidates that says the asked kind of fact is missing for the
    question's names, if any. Questions without names, lists and yes/no questions are left
    alone: what is missing must be missing for something."""
    kind = KIND_WORDS.get(q.wants)
    names = [e for e in q.entities if e not in GENERIC_NAMES]
    if kind is None or not names or q.wants_list or q.yes_no:
        return None
    for c in ranked[:within]:
        clause = _absent_clause(c, kind)
        if clause is not None and _about(c, clause, names):
            return Absence(c, clause)
    return None


def _absent_clause(c: Candidate, kind: re.Pattern[str]) -> str | None:
    """The clause of the sentence that says a fact of the kind is missing; for a list item
    that names the fact under a lead-in that says what follows is missing, the item."""
    for clause in _clauses(c.sentence):
        if says_missing(clause) and kind.search(clause):
            return clause
    if is_list_item(c.sentence) and kind.search(c.sentence):
        lead = lead_in(c.hit.chunk.text.split("\n"), c.index)
        if lead is not None and says_missing(lead):
            return c.sentence
    return None


def says_missing(text: str) -> bool:
    """Whether the text says that a piece of information is not given."""
    return bool(NOT_STATED.search(text) or (LACKING.search(text) and _INFORMATION.search(text)))


def _clauses(sentence: str) -> list[str]:
    out, start = [], 0
    for m in _CLAUSE.finditer(sentence):
        out.append(sentence[start : m.start()])
        start = m.end()
    out.append(sentence[start:])
    return [c for c in out if c.strip()]


def _about(c: Candidate, clause: str, names: Sequence[str]) -> bool:
    """Whether the missing fact is one of the thing asked about: the nearest name before the
    clause in its sentence is one of the question's; a sentence naming no one speaks of what
    its passage is about, which must then hold the question's names."""
    sentence = c.sentence
    end = sentence.find(clause) + len(clause)
    low = sentence.lower()
    mentions = [(m.end, m.surface.lower()) for m in find_places(sentence[:end], {"kommun",
                                                                                  "region"})]
    for n in names:
        at = low.rfind(n, 0, end)
        if at >= 0:
            mentions.append((at + len(n), n))
    if not mentions:
        text = f"{c.hit.chunk.title} {c.hit.chunk.text}".lower()
        return all(entity_in(n, text) for n in names)
    last = max(mentions)[1]
    return any(entity_in(n, last) or entity_in(last, n) for n in names)


def not_given(q: Question, absence: Absence, hits: Sequence[Hit]) -> Answer:
    """A refusal that quotes the passage saying the fact is missing, that passage first among
    the related ones."""
    c = absence.candidate
    quote = display(c, passage(c))
    chunk = c.hit.chunk
    where = f"{chunk.source}, {_PAGE[q.lang]} {chunk.page}" if chunk.page else chunk.source
    first = hit_citation(1, c.hit, quote=quote)
    rest = [r for r in related_citations(hits) if r.chunk_id != chunk.id]
    return Answer(
        question=q.text,
        text=_SAYS[q.lang].format(where=where, quote=quote),
        grounded=False,
        related=[first, *rest[:2]],
    )
