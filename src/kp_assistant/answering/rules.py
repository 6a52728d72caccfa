"""Yes/no questions about a country answered from the rule that lists the allowed countries.

"Får partnern ligga i Brasilien?" is not refused because no document mentions Brazil: the
documents list the countries a partner may be in, and that list is the answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from kp_assistant.answering.citing import cite, passage
from kp_assistant.answering.evidence import Candidate
from kp_assistant.answering.question import Lang, Question
from kp_assistant.language.places import find_places
from kp_assistant.models import Answer

MIN_LISTED = 3  # a passage naming this many countries is taken for a list of them
_FRAME: dict[tuple[bool, Lang], str] = {
    (True, "sv"): "Ja, {x} finns med bland de länder som dokumenten räknar upp:",
    (False, "sv"): "Nej, {x} finns inte med bland de länder som dokumenten räknar upp:",
    (True, "en"): "Yes, {x} is among the countries the documents list:",
    (False, "en"): "No, {x} is not among the countries the documents list:",
}


def asked_countries(q: Question) -> list[str]:
    if not q.yes_no:
        return []
    return list(dict.fromkeys(m.place.name for m in find_places(q.text, {"country"})))


def country_rule_answer(q: Question, scored: Sequence[Candidate]) -> Answer | None:
    """Whether the asked country is in the documents' list of countries, or None."""
    asked = asked_countries(q)
    if not asked:
        return None
    lists: list[tuple[Candidate, str, set[str]]] = []
    for c in scored:
        text = passage(c)
        listed = {m.place.name for m in find_places(text, {"country"})}
        if len(listed) >= MIN_LISTED and all(text not in t for _, t, _ in lists):
            lists.append((c, text, listed))
        if len(lists) == 2:
            break
    if not lists:
        return None
    inside = all(any(a in listed for _, _, listed in lists) for a in asked)
    citations, markers = cite([c for c, _, _ in lists], [t for _, t, _ in lists])
    head = _FRAME[(inside, q.lang)].format(x=" / ".join(_shown(a, q) for a in asked))
    body = " ".join(f"{t} [{markers[id(c)]}]" for c, t, _ in lists)
    return Answer(question=q.text, text=f"{head} {body}", grounded=True, citations=citations)


def _shown(name: str, q: Question) -> str:
    """The country as the question wrote it."""
    for m in find_places(q.text, {"country"}):
        if m.place.name == name:
            return m.surface
    return name
