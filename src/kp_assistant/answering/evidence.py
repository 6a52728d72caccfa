"""Evidence ranking: every sentence of the retrieved passages gets a probability of answering.

The features are general (no word lists from any evaluation set): dense similarity of the
question to the sentence and to its neighbours, idf-weighted coverage of the question's terms
in the sentence, its heading and its neighbours, whether the question's names and years are
there, whether the sentence holds the kind of fact asked for, and the passage's rank. A
logistic regression fitted by `scripts/fit_answer_model.py` weighs them; its coefficients ship
in `data/answer_model.json`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kp_assistant.answering.question import Question, detect_language
from kp_assistant.answering.sentences import candidate_lines
from kp_assistant.answering.types import has_rule, type_fit
from kp_assistant.index.keyword import tokenize
from kp_assistant.models import Chunk, Hit

FEATURES = (
    "dense", "dense_context", "coverage", "heading_coverage", "neighbour_coverage",
    "names_missing", "names_missing_chunk", "years_missing", "type_fit", "type_missing",
    "rule_fit", "rank", "dense_rank", "keyword_rank", "length", "other_language",
    "coverage_share",
)


@dataclass
class Candidate:
    sentence: str
    hit: Hit
    index: int  # position of the sentence among its chunk's lines
    rank: int  # rank of its chunk in the retrieval
    coverage: float
    matched: set[str]
    features: list[float] = field(default_factory=list)
    score: float = 0.0
    also: list[Candidate] = field(default_factory=list)  # the same fact in other documents
    best_coverage: float = 1.0  # the best coverage among the question's candidates


@dataclass(frozen=True)
class Logistic:
    """A fitted logistic regression on standardised features."""

    names: tuple[str, ...]
    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    coef: NDArray[np.float64]
    intercept: float
    threshold: float = 0.5

    def prob(self, rows: Sequence[Sequence[float]]) -> NDArray[np.float64]:
        if not rows:
            return np.zeros(0)
        x = (np.asarray(rows, dtype=np.float64) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(x @ self.coef + self.intercept)))

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.names), "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept, "threshold": self.threshold}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Logistic:
        return cls(tuple(d["features"]), np.asarray(d["mean"]), np.asarray(d["scale"]),
                   np.asarray(d["coef"]), float(d["intercept"]), float(d.get("threshold", 0.5)))


@dataclass(frozen=True)
class AnswerModel:
    evidence: Logistic
    refusal: Logistic
    meta: Mapping[str, Any]


def load_model(path: Path | None = None) -> AnswerModel:
    """The shipped model, or the one at `path` (a refit, for held-apart evaluation)."""
    return _load(str(path) if path else "")


@lru_cache(maxsize=4)
def _load(path: str) -> AnswerModel:
    if path:
        text = Path(path).read_text("utf-8")
    else:
        text = resources.files("kp_assistant.data").joinpath("answer_model.json").read_text("utf-8")
    d = json.loads(text)
    return AnswerModel(Logistic.from_json(d["evidence"]), Logistic.from_json(d["refusal"]),
                       d.get("meta", {}))


def candidates(q: Question, hits: Sequence[Hit], weights: Mapping[str, float]) -> list[Candidate]:
    """Every line of the passages long enough to say something, with its term coverage."""
    total = sum(weights.values()) or 1.0
    out = []
    for rank, hit in enumerate(hits):
        context = q.matched(tokenize(f"{hit.chunk.title} {hit.chunk.heading}"), weights)
        for i, sentence in candidate_lines(hit.chunk.text):
            matched = q.matched(tokenize(sentence), weights)
            coverage = sum(weights[t] for t in matched) / total
            out.append(Candidate(sentence, hit, i, rank, coverage, matched | context))
    best = max((c.coverage for c in out), default=0.0)
    for c in out:
        c.best_coverage = best
    return out


def featurise(
    q: Question,
    cands: Sequence[Candidate],
    weights: Mapping[str, float],
    qvec: NDArray[np.float32] | None,
    vectors: Mapping[str, NDArray[np.float32]],
) -> None:
    """Fill `features` of every candidate (in the order of FEATURES)."""
    total = sum(weights.values()) or 1.0
    names = [e for e in q.entities if e not in GENERIC_NAMES]
    for c in cands:
        lines = c.hit.chunk.text.split("\n")
        around = [ln for ln in lines[max(0, c.index - 1) : c.index + 2] if ln != c.sentence]
        context = q.matched(tokenize(f"{c.hit.chunk.title} {c.hit.chunk.heading}"), weights)
        near = q.matched(tokenize(" ".join(around)), weights)
        dense = dense_context = 0.0
        if qvec is not None and c.sentence in vectors:
            dense = float(vectors[c.sentence] @ qvec)
            sims = [float(vectors[t] @ qvec) for t in around if t in vectors]
            dense_context = max([dense, *sims])
        where = f"{c.sentence} {c.hit.chunk.heading}".lower()
        chunk = f"{c.hit.chunk.title} {c.hit.chunk.heading} {c.hit.chunk.text}".lower()
        fit = type_fit(q, c.sentence)
        c.features = [
            dense,
            dense_context,
            c.coverage,
            sum(weights[t] for t in context - c.matched) / total,
            sum(weights[t] for t in near - c.matched) / total,
            _missing(names, where),
            _missing(names, chunk),
            # a passage about one of several asked years is on topic ("2019, 2021 och 2022")
            float(bool(q.years) and not any(y in chunk for y in q.years)),
            fit,
            float(q.wants != "any" and fit == 0),
            float(q.yes_no and has_rule(c.sentence)),
            1.0 / (1 + c.rank),
            1.0 / (1 + c.hit.dense_rank) if c.hit.dense_rank else 0.0,
            1.0 / (1 + c.hit.keyword_rank) if c.hit.keyword_rank else 0.0,
            math.log(1 + len(c.sentence.split())),
            # words are not matched across languages: a passage in the other language
            # covers the question less than it answers it
            float(passage_language(c.hit.chunk.id, c.hit.chunk.text) != q.lang),
            # coverage against the best of this question's candidates: how much of the
            # question a sentence covers means more beside what the others cover
            c.coverage / c.best_coverage if c.best_coverage > 0 else 0.0,
        ]


# The programme, its funder, Sweden and the languages of the documents: capitalised, but no
# name a passage must contain to answer
GENERIC_NAMES = frozenset({"icld", "sida", "sverige", "sweden", "swedish", "english", "faq"})


@lru_cache(maxsize=8192)
def passage_language(chunk_id: str, text: str) -> str:
    """The language of a passage, by the same identifier as the question's (per chunk)."""
    return detect_language(text[:600])


def chunk_language(chunk: Chunk) -> str:
    return passage_language(chunk.id, chunk.text)


def _missing(names: Sequence[str], text: str) -> float:
    if not names:
        return 0.0
    return sum(not entity_in(n, text) for n in names) / len(names)


def entity_in(entity: str, text: str) -> bool:
    base = entity[:-1] if len(entity) > 4 and entity.endswith("s") else entity
    return base in text
