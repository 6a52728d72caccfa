"""Questions in several parts ("När startade förstudien, och vem leder projektet?"):
each part is answered on its own, with its own citations, and the answers are joined.

A part starts where a coordinating conjunction is followed by a question word. A later part
that names nothing borrows the names of the first ("… och vilka deltog?" is about the
partnership the first part named). A question with a list part stays whole: lists have their
own answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from kp_assistant.answering.evidence import GENERIC_NAMES
from kp_assistant.answering.question import REFUSAL, Question
from kp_assistant.models import Answer, Citation

_QUESTION_WORD = (r"(?:vad|vem|vems|vilka|vilken|vilket|hur|när|var|varför|what|who|whom|"
                  r"which|how|when|where|why)")
_SPLIT = re.compile(rf",?\s+(?:och|samt|and)\s+(?={_QUESTION_WORD}\b)", re.I)
_MARKER = re.compile(r"\[(\d+)\]")
_SEGMENT = re.compile(r"[^\n]*?(?:\[\d+\])+|[^\n]+$", re.M)  # a quote with its markers
_MIN_WORDS = 3  # "… och hur?" is no question of its own
# A later part that points back at the first part's year ("… och vem ledde arbetet det året?")
_THAT_YEAR = re.compile(r"\b(?:det|detta|samma)\s+år(?:et)?\b|\b(?:that|the same)\s+year\b", re.I)
NOT_FOUND = {"sv": "Om «{part}» hittar jag inget i dokumenten.",
             "en": "About “{part}” I find nothing in the documents."}


def split_parts(text: str) -> list[str]:
    """The parts of a question, each as a question of its own; one part when it has no more."""
    pieces = [p.strip(" ,?") for p in _SPLIT.split(text.strip())]
    if len(pieces) < 2 or any(len(p.split()) < _MIN_WORDS for p in pieces):
        return [text]
    first = Question.parse(pieces[0] + "?")
    # a list is answered whole, by the registry or over retrieval
    if first.wants_list or any(Question.parse(p).wants_list for p in pieces[1:]):
        return [text]
    # names carry over; years only when a part points back at them ("det året"): "… 2019,
    # och hur är det i år?" asks about another year
    named = [w for w in re.findall(r"[\w'’-]+", pieces[0]) if w.lower() in first.entities]
    parts = [pieces[0] + "?"]
    for piece in pieces[1:]:
        piece = piece[0].upper() + piece[1:]
        own = Question.parse(piece)
        carried = [] if [e for e in own.entities if e not in GENERIC_NAMES] else named
        if _THAT_YEAR.search(piece) and not own.years:
            carried = [*carried, *first.years]
        if carried:
            piece = f"{piece} ({', '.join(dict.fromkeys(carried))})"
        parts.append(piece + "?")
    return parts


def join_answers(question: str, parts: Sequence[str], answers: Sequence[Answer]) -> Answer:
    """One answer from the parts' answers: their texts in order, citation numbers running on;
    a part the documents do not answer says so, and its closest passages stay related."""
    lang = Question.parse(question).lang
    if not any(a.grounded for a in answers):
        return Answer(question=question, text=REFUSAL[lang], grounded=False,
                      related=_renumber_all([c for a in answers for c in a.related]))
    texts: list[str] = []
    citations: list[Citation] = []
    related: list[Citation] = []
    for part, answer in zip(parts, answers, strict=True):
        if not answer.grounded:
            texts.append(NOT_FOUND[lang].format(part=part.rstrip("?")))
            related.extend(answer.related)
            continue
        shift: dict[int, int] = {}
        for c in answer.citations:
            same = next((d for d in citations if d.chunk_id == c.chunk_id and d.quote == c.quote),
                        None)
            if same is None:
                same = replace(c, n=len(citations) + 1)
                citations.append(same)
            shift[c.n] = same.n
        # a sentence an earlier part already quoted is not repeated
        shown = "\n".join(texts)
        fresh = [seg for seg in _SEGMENT.findall(_renumber_markers(answer.text, shift))
                 if seg.strip() not in shown]
        if fresh:
            texts.append(" ".join(seg.strip() for seg in fresh))
    return Answer(question=question, text="\n".join(texts), grounded=True, citations=citations,
                  related=_renumber_all(related))


def _renumber_markers(text: str, shift: dict[int, int]) -> str:
    return _MARKER.sub(lambda m: f"[{shift.get(int(m.group(1)), m.group(1))}]", text)


def _renumber_all(citations: Sequence[Citation]) -> list[Citation]:
    seen: dict[str, Citation] = {}
    for c in citations:
        if c.chunk_id not in seen:
            seen[c.chunk_id] = replace(c, n=len(seen) + 1)
    return list(seen.values())
