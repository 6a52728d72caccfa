"""Kinds of facts a sentence holds: amounts, numbers, dates, people, places, rules."""

from __future__ import annotations

import re

from kp_assistant.answering.question import FRAME_WORDS, Question
from kp_assistant.index.keyword import tokenize
from kp_assistant.language.places import find_places

AMOUNT = re.compile(
    r"\d[\d\s.,]*\s*(kr\b|kronor|miljon\w*|mkr|msek|sek\b|million\w*|tkr|euro\w*|eur\b)"
    r"|\b(SEK|kr|EUR|€)\s*\d",
    re.I,
)
# A count: digits, or a number word from two up. "en", "ett" and "one" are left out, for they
# are mostly the indefinite article, and so is a year standing alone ("Agenda 2030", "2019"),
# which dates a fact rather than counts it.
NUMBER = re.compile(
    r"\b(?!(?:19|20)\d\d\b)\d+([\s.,]\d+)*\b|\b(två|tre|fyra|fem|sex|sju|åtta|nio|tio|"
    r"elva|tolv|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b",
    re.I,
)
DATE = re.compile(
    r"\b(\d{1,2}\s+(jan\w*|feb\w*|mars|march|apr\w*|maj|may|juni?|june|juli?|july|"
    r"aug\w*|sep\w*|okt\w*|oct\w*|nov\w*|dec\w*))|\b(19|20)\d{2}\b"
    r"|\b(januari|februari|mars|april|maj|juni|juli|augusti|september|oktober|november|"
    r"december|january|february|march|june|july|august|october)\b|\b\d{4}-\d{2}-\d{2}\b",
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
    "region kommun stad county district council municipality city icld sida sveriges agenda "
    "internationellt centrum lokal demokrati kommunala partnerskap bay".split()
)
# Modal verbs and rule nouns: the wording of a rule, in both languages.
_RULE = re.compile(
    r"\b(får|kan|ska|skall|måste|behöver|krav\w*|villkor\w*|tillåt\w*|berättigad\w*|"
    r"may|must|can|shall|should|required?|requirements?|eligible|allowed|conditions?)\b",
    re.I,
)


# "Ordförande: Region Gotland", "- **Säte:** Visby", "Elever | cirka 400": a line of a fact
# sheet, or a table row, that opens with a short label
_LABEL = re.compile(r"^[\s*•–-]*\**([^:|*\n]{2,40}?)\**\s*[:|]\s*\**\s*\S")
MIN_HEAD = 4  # letters of a compound's last part, for it to count alone


def dates_in(sentence: str) -> set[str]:
    return {m.group(0).lower() for m in DATE.finditer(sentence)}


def type_fit(q: Question, sentence: str) -> float:
    """1.0 when the sentence holds the kind of fact the question asks for, or is a labelled
    line whose label is what the question asks about (the value answers it, whatever kind of
    fact it is: a question for a person may be answered by "Ordförande: Region Gotland")."""
    if q.wants != "any" and labelled(q, sentence):
        return 1.0
    match q.wants:
        case "amount":
            return 1.0 if AMOUNT.search(sentence) else 0.0
        case "count":
            return 1.0 if NUMBER.search(sentence) else 0.0
        case "person":
            return 1.0 if has_person(sentence) else 0.0
        case "date":
            return 1.0 if DATE.search(sentence) else 0.0
        case "place":
            return 1.0 if find_places(sentence) else 0.0
    return 0.0


def labelled(q: Question, sentence: str) -> bool:
    """Whether the line's label holds a word of what the question asks about (not one of its
    names, years or frame words), or the last part of such a compound ("form" of
    "organisationsform")."""
    m = _LABEL.match(sentence)
    if m is None:
        return False
    names = {t for e in q.entities for t in tokenize(e)}
    label = set(tokenize(m.group(1)))
    return any(t == w or (len(w) >= MIN_HEAD and t.endswith(w))
               for t in q.terms if t not in FRAME_WORDS and t not in names and t not in q.years
               for w in label)


def has_rule(sentence: str) -> bool:
    return bool(_RULE.search(sentence))


def has_person(sentence: str) -> bool:
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
