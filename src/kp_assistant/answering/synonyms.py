"""The reader's word and the writer's: a question word that the passages found for it lack is
also looked for as a synonym that the documents use more often ("anställda" where they say
"medarbetare"), from the Swedish thesaurus of `language/thesaurus.py`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from kp_assistant.answering.question import QUESTION_WORDS, SPECIFIC_STEM, Question
from kp_assistant.index.keyword import tokenize
from kp_assistant.language.thesaurus import Thesaurus
from kp_assistant.models import Hit

Search = Callable[..., tuple[list[Hit], Any]]  # (question, vector=…) -> (hits, query vector)


def search_with_synonyms(q: Question, search: Search, df: Mapping[str, int],
                         thesaurus: Callable[[], Thesaurus]) -> tuple[Question, list[Hit], Any]:
    """`search(q)`; then, when the passages lack words of the question that have such
    synonyms, the question read with them and searched again. The synonyms' passages come
    first; those the question's own words found stay after them, none is dropped.
    `thesaurus` is called only when a word is missing (reading it takes a third of a second,
    once)."""
    hits, qvec = search(q)
    # a word is missing when the first passages lack it; those of further documents
    # (`Hit.further`) are where it may turn up in another sense
    text = " ".join(f"{h.chunk.title} {h.chunk.heading} {h.chunk.text}" for h in hits
                    if not h.further)
    missing = sorted(set(q.terms) - q.matched(tokenize(text)))
    if not missing or q.lang != "sv":
        return q, hits, qvec
    read = bridged(q, missing, lambda stem: df.get(stem, 0), thesaurus())
    if read is q:
        return q, hits, qvec
    more, _ = search(read, vector=qvec)
    seen = {h.chunk.id for h in more}
    return read, more + [h for h in hits if h.chunk.id not in seen], qvec


def bridged(q: Question, missing: Iterable[str], df: Callable[[str], int],
            thesaurus: Thesaurus) -> Question:
    """The question with synonyms as alternatives for the `missing` terms, where the index
    uses the synonym more often than the word (`df`: passages holding a stem).

    Only such words: a word the passages contain, or one the documents use as much as its
    synonym, is the documents' own word, and its synonyms would match passages about other
    things ("lärare" is also a "lektor", "hälsa" also a greeting). A synonym that only shapes
    a question ("fortfarande") is no evidence either, nor one whose stem is too short to tell
    words apart ("ledare" and "leds" are both "led"). Synonyms are looked up by the word as
    written, since stems join words of other senses ("heter", "het").
    """
    if q.lang != "sv" or not thesaurus:
        return q
    written = _written_forms(q.text)
    extra = {}
    for term in missing:
        synonyms = [(phrase, stems) for word in written.get(term, ())
                    for phrase, stems in thesaurus.synonyms(word)
                    if min(df(s) for s in stems) > df(term)
                    and not QUESTION_WORDS.intersection(stems)
                    and min(map(len, stems)) >= SPECIFIC_STEM]
        if synonyms:
            extra[term] = [*q.alternatives.get(term, []), *dict.fromkeys(synonyms)]
    return replace(q, alternatives={**q.alternatives, **extra}) if extra else q


def _written_forms(text: str) -> dict[str, list[str]]:
    """Stem -> the question's words (lower-cased) with that stem."""
    out: dict[str, list[str]] = {}
    for word in re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", text.lower()):
        for stem in tokenize(word):
            out.setdefault(stem, [])
            if word not in out[stem]:
                out[stem].append(word)
    return out
