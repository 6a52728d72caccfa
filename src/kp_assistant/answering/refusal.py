"""Whether the passages answer the question at all: a calibrated decision, not a rule list.

The features describe the best evidence found: how likely its best sentences are to answer
(the evidence model's output), whether the question's own names, years and terms occur there or
anywhere in the corpus, and whether the kind of fact asked for appears. A logistic regression,
fitted on the unanswerable questions of the development sets and on unanswerable variants made
from answerable ones (`scripts/fit_answer_model.py`), turns them into a probability.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from kp_assistant.answering.evidence import FEATURES as EVIDENCE
from kp_assistant.answering.evidence import GENERIC_NAMES, Candidate, entity_in
from kp_assistant.answering.question import FRAME_WORDS, Question
from kp_assistant.index.keyword import tokenize
from kp_assistant.models import Hit

FEATURES = (
    "best", "top3", "best_coverage", "best_dense", "names_unknown", "names_missing_best",
    "years_missing", "type_missing", "unknown_terms", "attribute_missing", "yes_no",
    "other_language", "dense_other",
)
# positions of the evidence features read here (see evidence.FEATURES)
_DENSE, _NAMES_CHUNK, _YEARS_CHUNK, _TYPE_FIT, _OTHER_LANGUAGE = (
    EVIDENCE.index(f) for f in ("dense", "names_missing_chunk", "years_missing", "type_fit",
                                "other_language"))


def refusal_features(
    q: Question,
    ranked: Sequence[Candidate],
    hits: Sequence[Hit],
    idf: Mapping[str, float],
    known: set[str],
) -> list[float]:
    """`ranked` are the candidates best first; `known` the question terms the corpus or the
    passages hold (directly or translated); `idf` weighs every question term."""
    evidence = " ".join(f"{h.chunk.title} {h.chunk.text}".lower() for h in hits)
    names = [e for e in q.entities if e not in GENERIC_NAMES]
    top = ranked[:3]
    words = set(re.findall(r"\w+", evidence))
    unknown_names = [
        n for n in names
        if not entity_in(n, evidence) and _stem(n) not in known and not respelled(n, words)
    ]
    total = sum(idf.get(t, 0.0) for t in q.terms) or 1.0
    other = sum(c.features[_OTHER_LANGUAGE] for c in top) / len(top) if top else 0.0
    return [
        top[0].score if top else 0.0,
        sum(c.score for c in top) / 3,
        max((c.coverage for c in top), default=0.0),
        max((c.features[_DENSE] for c in top), default=0.0),
        len(unknown_names) / len(names) if names else 0.0,
        min((c.features[_NAMES_CHUNK] for c in top), default=1.0),
        sum(y not in evidence for y in q.years) / len(q.years) if q.years else 0.0,
        float(q.wants != "any" and not any(c.features[_TYPE_FIT] for c in ranked[:5])),
        sum(idf.get(t, 0.0) for t in q.terms if t not in known) / total,
        _attribute_missing(q, top, names, idf),
        float(q.yes_no),
        # the best evidence in the other language: its words say less than its meaning
        other,
        # in the other language the meaning says what the words cannot
        other * max((c.features[_DENSE] for c in top), default=0.0),
    ]


def no_typed_fact(q: Question, ranked: Sequence[Candidate], idf: Mapping[str, float]) -> bool:
    """A question for an amount, a count or a person whose best evidence has none next to the
    question's names, in a passage about one of its years, and the thing asked about (the word
    "budget" when a budget is asked for)."""
    if q.wants not in ("amount", "count", "person") or q.wants_list:
        return False
    names = [e for e in q.entities if e not in GENERIC_NAMES]
    return not any(
        c.features[_TYPE_FIT] > 0
        and c.features[_NAMES_CHUNK] == 0
        and c.features[_YEARS_CHUNK] < 1.0  # an amount of 2021 does not answer for 2023
        and _attribute_missing(q, [c], names, idf) < 1.0
        for c in ranked[:10]
    )


def _attribute_missing(
    q: Question, top: Sequence[Candidate], names: Sequence[str], idf: Mapping[str, float]
) -> float:
    """Share (by idf) of what the question asks about, beyond its names, that even the best
    evidence lacks: "ordförande" in "Vem är kommunstyrelsens ordförande i Kalix?"."""
    stems = {_stem(n) for n in names} | {_stem(n) for n in GENERIC_NAMES}
    asked = [t for t in q.terms if t not in stems and t not in FRAME_WORDS and t not in q.years]
    total = sum(idf.get(t, 0.0) for t in asked)
    if not top or total == 0:
        return 0.0
    shares = []
    for c in top:
        lines = c.hit.chunk.text.split("\n")
        near = " ".join(lines[max(0, c.index - 1) : c.index + 2])
        toks = set(tokenize(f"{c.hit.chunk.heading} {near}"))
        found = {t for t in asked if any(_holds(tok, t) for tok in toks)}
        found |= q.matched(toks, [t for t in asked if q.alternatives.get(t)]) & {
            t for t in asked if any(all(p in toks for p in stems)
                                    for _, stems in q.alternatives.get(t, []))}
        shares.append(sum(idf.get(t, 0.0) for t in asked if t not in found) / total)
    return min(shares)


def _holds(token: str, term: str) -> bool:
    """The token is the term or a compound ending or starting with it ("dricksvatten" holds
    "vatten"); a shorter token is only a part of the asked compound ("kommun" is not
    "kommunstyrelse") and does not count."""
    if token == term:
        return True
    return len(term) >= 5 and len(token) > len(term) and (
        token.startswith(term) or token.endswith(term))


def _stem(word: str) -> str:
    toks = tokenize(word)
    return toks[0] if toks else word


def respelled(name: str, words: set[str]) -> bool:
    """A foreign name written another way in the passages: one letter apart in a name of six
    letters or more ("Kharkiv" and "Charkiv", "Kyiv" is too short to tell from other words)."""
    if len(name) < 6 or not name.isalpha():
        return False
    return any(abs(len(w) - len(name)) <= 1 and len(w) >= 6 and _one_edit(name, w) for w in words)


def _one_edit(a: str, b: str) -> bool:
    """At most one letter replaced, added or removed."""
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]
