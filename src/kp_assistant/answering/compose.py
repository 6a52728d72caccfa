"""Compose a grounded answer from retrieved passages, without a language model.

The answer is made of sentences from the passages themselves, each followed by a [n] marker
for its citation. Sentences are ranked by the evidence model (`evidence.py`); whether to answer
at all is the refusal model's decision (`refusal.py`). A refusal returns the closest passages
as possibly related.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from kp_assistant.answering.absence import not_given, stated_absent
from kp_assistant.answering.citing import (
    cite,
    display,
    hit_citation,
    next_lines,
    passage,
    related_citations,
    similar,
)
from kp_assistant.answering.evidence import (
    FEATURES,
    AnswerModel,
    Candidate,
    candidates,
    entity_in,
    featurise,
    load_model,
)
from kp_assistant.answering.listing import (
    enumerations,
    list_answer,
    topic_terms,
    with_enumerations,
)
from kp_assistant.answering.question import FRAME_WORDS, REFUSAL, Question
from kp_assistant.answering.refusal import FEATURES as REFUSAL_FEATURES
from kp_assistant.answering.refusal import no_typed_fact, refusal_features
from kp_assistant.answering.rules import CountryList, country_rule_answer
from kp_assistant.answering.sentences import SentenceVectors
from kp_assistant.answering.types import dates_in, type_fit
from kp_assistant.answering.verify import is_instruction
from kp_assistant.embedding.engines import similarity_scale
from kp_assistant.index.keyword import tokenize
from kp_assistant.models import Answer, Chunk, Citation, Hit

DENSE_CANDIDATES = 16  # sentences compared with the question by the embedder
OTHER_DOCUMENT_SHARE = 0.7  # of the best score, for a sentence whose document is new
OVER_TIME_EXTRA = 2  # further sentences for a change over time, each bringing a new date
_YEARS = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
TOP_CITED = 5
FURTHER_SHARE = 0.5  # the answer's sources reach at least as far down as retrieval's first five
_NAMES_UNKNOWN = REFUSAL_FEATURES.index("names_unknown")
_NAMES_MISSING = FEATURES.index("names_missing_chunk")
_OTHER_LANGUAGE = FEATURES.index("other_language")
_DENSE_OTHER = REFUSAL_FEATURES.index("dense_other")


class Composer:
    """Turns hits into an Answer. Document frequencies weigh question terms: rarer count more."""

    def __init__(
        self,
        df: Mapping[str, int],
        n_docs: int,
        *,
        model: AnswerModel | None = None,
        vectors: SentenceVectors | None = None,
        max_sentences: int = 4,  # 3 and 5 measured too: docs/benchmarks.md
        refusal_threshold: float | None = None,
        dense_all: bool = False,
        further_reading: bool = False,
        neighbour: Callable[[Chunk], Chunk | None] | None = None,
        country_lists: Sequence[CountryList] = (),
    ) -> None:
        self.df = df
        self.n_docs = n_docs
        self.model = model or load_model()
        self.vectors = vectors
        self.max_sentences = max_sentences
        self.further_reading = further_reading
        self.neighbour = neighbour  # the next chunk of a document, for lists that run on
        self.country_lists = country_lists  # every list of countries of the index
        self._following: dict[str, list[str]] = {}
        self.dense_all = dense_all  # every candidate compared by the embedder (for fitting)
        self.threshold = (self.model.refusal.threshold if refusal_threshold is None
                          else refusal_threshold)

    @property
    def semantic(self) -> bool:
        """Whether sentence similarities are known, and on the scale the model was fitted
        with (another model's similarities are on another scale)."""
        if self.vectors is None or not self.vectors.embedder.semantic:
            return False
        name = self.vectors.embedder.name
        return similarity_scale(self.model.meta.get("embedder", name)) == similarity_scale(name)

    def idf(self, term: str) -> float:
        return math.log(1 + (self.n_docs + 1) / (self.df.get(term, 0) + 0.5))

    def rank(
        self, q: Question, hits: Sequence[Hit], qvec: NDArray[np.float32] | None = None
    ) -> tuple[dict[str, float], list[Candidate], list[float]]:
        """Question-term weights, candidates scored best first, and the refusal features."""
        weights, known = self._weights(q, hits)
        cands = candidates(q, hits, weights)
        featurise(q, cands, weights, None, {})
        self._score(cands)  # without sentence similarity first: it costs an embedding each
        cands.sort(key=lambda c: -c.score)
        semantic = self.semantic
        if self.vectors is not None and semantic and qvec is not None and cands:
            head = cands if self.dense_all else cands[:DENSE_CANDIDATES]
            featurise(q, head, weights, qvec, self.vectors.get([c.sentence for c in head]))
            self._score(head, neutral=False)
            cands.sort(key=lambda c: -c.score)
        idf = {t: self.idf(t) for t in q.terms}
        feats = refusal_features(q, cands, hits, idf, known)
        if not semantic:
            for i in (3, _DENSE_OTHER):
                feats[i] = float(self.model.refusal.mean[i])
        return weights, cands, feats

    def _score(self, cands: Sequence[Candidate], *, neutral: bool = True) -> None:
        ev = self.model.evidence
        if neutral:  # no sentence vectors: the similarities take their average value
            for c in cands:
                c.features[0], c.features[1] = float(ev.mean[0]), float(ev.mean[1])
        for c, p in zip(cands, ev.prob([c.features for c in cands]), strict=True):
            c.score = float(p)

    def refusal_probability(self, feats: Sequence[float]) -> float:
        return float(self.model.refusal.prob([feats])[0])

    def compose(
        self, question: str | Question, hits: Sequence[Hit],
        qvec: NDArray[np.float32] | None = None,
    ) -> Answer:
        q = question if isinstance(question, Question) else Question.parse(question)
        weights, scored, feats = self.rank(q, hits, qvec)
        if not scored:
            return self._refuse(q, hits)
        ranks = {h.chunk.id: i for i, h in enumerate(hits)}
        ruled = country_rule_answer(q, self.country_lists, ranks,
                                    [(c.sentence, c.hit.chunk) for c in scored])
        if ruled is not None:  # the countries a partner may be in: from the lists themselves
            return ruled
        if q.wants_list:
            topic = topic_terms(q, weights)
            unknown = [t for t in q.terms if t not in weights and t not in FRAME_WORDS]
            # a list about a topic no document mentions is empty, not "everything"
            # and so is one about a name no document mentions ("… samarbetar med Arequipa?")
            listed = (None if (unknown and not topic) or feats[_NAMES_UNKNOWN] > 0
                      else list_answer(q, scored, weights))
            if listed is not None:
                return with_enumerations(listed, enumerations(q, scored, listed), q.lang)
            if q.asks_for_places:
                return self._refuse(q, hits)  # a list of municipalities that names none
        if (absent := stated_absent(q, scored)) is not None:
            return not_given(q, absent, hits)  # the documents say themselves it is not given
        if self.refusal_probability(feats) >= self.threshold:
            return self._refuse(q, hits)
        if no_typed_fact(q, scored, {t: self.idf(t) for t in q.terms}):
            return self._refuse(q, hits)
        chosen = _dated(q, self._select(q, scored, weights))
        if not chosen:
            return self._refuse(q, hits)
        if (absent := stated_absent(q, chosen, len(chosen))) is not None:
            return not_given(q, absent, hits)  # the answer itself would say it is not given
        return self._sentence_answer(q, chosen, scored, hits)

    def named_together(self, q: Question, hits: Sequence[Hit], qvec: NDArray[np.float32] | None,
                       answer: Answer) -> Answer:
        """A list answer with the best sentences that name several of its kind at once."""
        scored = self.rank(q, hits, qvec)[1]
        return with_enumerations(answer, enumerations(q, scored, answer), q.lang)

    def following(self, chunk: Chunk) -> list[str]:
        """The lines after a chunk, read from the store once per chunk and question."""
        if self.neighbour is None:
            return []
        if chunk.id not in self._following:
            self._following[chunk.id] = next_lines(chunk, self.neighbour(chunk))
        return self._following[chunk.id]

    # -- scoring --------------------------------------------------------------------------

    def _weights(self, q: Question, hits: Sequence[Hit]) -> tuple[dict[str, float], set[str]]:
        """Weights of the question terms the corpus knows or the passages contain.

        A word the corpus has never seen cannot be matched; it would only lower every
        coverage score alike. Its absence is a feature of the refusal decision instead.
        """
        text = " ".join(f"{h.chunk.title} {h.chunk.text}" for h in hits)
        present = q.matched(tokenize(text))
        # a name is found as written: its stem may differ from that of the same name
        # inflected ("Vračars" is "vračar", "Vračar" is "vrač")
        present |= {t for e in q.entities if entity_in(e, text.lower()) for t in tokenize(e)}
        known = {t for t in q.terms if self.df.get(t, 0) > 0 or t in present}
        weights = {t: self.idf(t) * (0.3 if t in FRAME_WORDS else 1.0) for t in known}
        return weights, known

    # -- composing ------------------------------------------------------------------------

    def _select(
        self, q: Question, scored: Sequence[Candidate], weights: Mapping[str, float]
    ) -> list[Candidate]:
        """Greedy cover: each further sentence must add question terms or the wanted fact."""
        chosen: list[Candidate] = []
        covered: set[str] = set()
        best = scored[0].score if scored else 0.0
        multi_year = len(set(q.years)) > 1
        limit = max(self.max_sentences, len(set(q.years)))
        if q.over_time:  # a change is told by its steps, each with its date
            limit = max(limit, self.max_sentences + OVER_TIME_EXTRA)
        when: set[str] = set()  # the dates the chosen sentences give
        semantic = self.semantic
        for x in scored:
            if len(chosen) >= limit or x.score < 0.3 * best:
                break
            years = {y for y in q.years if y in _chunk_text(x)}
            dated = {y for c in chosen for y in q.years if y in _chunk_text(c)}
            new_year = (multi_year and not years <= dated
                        and (q.wants == "any" or type_fit(q, x.sentence) > 0))
            # a date counts only in a passage about what was asked (its names, if any)
            dates = dates_in(x.sentence) if q.over_time and not x.features[_NAMES_MISSING] \
                else set()
            new_date = bool(dates - when)
            # a weaker sentence still counts when it is the only one about an asked year,
            # or, for a change over time, when it dates a step not yet told
            if x.score < 0.5 * best and not (new_year or new_date):
                continue
            twin = next((c for c in chosen if similar(x.sentence, c.sentence)), None)
            if twin is not None:
                sources = {twin.hit.chunk.source, *(a.hit.chunk.source for a in twin.also)}
                if x.hit.chunk.source not in sources and len(twin.also) < 2:
                    twin.also.append(x)  # cite every document that states it
                continue
            gain = sum(weights.get(t, 0.0) for t in x.matched - covered)
            # strong evidence from a document not yet cited counts as new: it is where
            # else the reader can check the answer, if it shares a word with the question
            # (or is in the other language, where no word can be shared and only sentence
            # similarity can tell: not without a semantic embedder)
            cited = {d.hit.chunk.source for c in chosen for d in (c, *c.also)}
            new_doc = (x.hit.chunk.source not in cited and x.score >= OTHER_DOCUMENT_SHARE * best
                       and (bool(x.matched) or (x.features[_OTHER_LANGUAGE] > 0 and semantic))
                       and not is_instruction(x.sentence))  # orders are not where to check
            if chosen and gain <= 0 and type_fit(q, x.sentence) == 0 and not (
                    new_date or new_doc):
                continue
            # several years asked for: a further sentence must bring one not yet covered
            if multi_year and chosen and dated < set(q.years) and not new_year:
                continue
            chosen.append(x)
            covered |= x.matched
            when |= dates
        return _in_time_order(chosen) if q.over_time else chosen

    def _sentence_answer(
        self, q: Question, chosen: Sequence[Candidate], scored: Sequence[Candidate],
        hits: Sequence[Hit],
    ) -> Answer:
        # a short sentence's passage takes in the next line; that line must not come twice
        kept: list[Candidate] = []
        for x in chosen:
            same = [k for k in kept if k.hit.chunk.id == x.hit.chunk.id]
            if any(x.sentence in passage(k, self.following) for k in same):
                continue
            # a list's lead-in shows the items chosen before it: it takes the place of the first
            covered = [k for k in same if k.sentence in passage(x, self.following)]
            if covered:
                x.also.extend(a for k in covered for a in k.also if a not in x.also)
                kept[kept.index(covered[0])] = x
                kept = [k for k in kept if k not in covered[1:]]
            else:
                kept.append(x)
        cited = [y for x in kept for y in (x, *x.also)]
        # as shown, with the heading a short line needs: the quote is what the answer says
        passages = [display(y, passage(y, self.following)) for y in cited]
        citations, markers = cite(cited, passages)
        shown = dict(zip(map(id, cited), passages, strict=True))
        text = " ".join(
            f"{shown[id(x)]} " + "".join(f"[{markers[id(y)]}]" for y in (x, *x.also))
            for x in kept
        )
        further = _further(citations, scored, self.semantic) if self.further_reading else []
        if further:
            # one line each, quoted like the rest: every piece of an answer is a cited quote
            text += "\n" + "\n".join(f"{c.quote} [{c.n}]" for c in further)
        return Answer(question=q.text, text=text, grounded=True, citations=citations + further,
                      further=len(further))

    def _refuse(self, q: Question, hits: Sequence[Hit]) -> Answer:
        return Answer(question=q.text, text=REFUSAL[q.lang], grounded=False,
                      related=related_citations(hits))


def _further(citations: Sequence[Citation], scored: Sequence[Candidate],
             semantic: bool) -> list[Citation]:
    """The best evidence from documents the answer's sentences do not come from, as further
    reading, so that an answer does not cite fewer of the right documents than retrieval found.

    Chosen by evidence score, not by retrieval rank, so that an unrelated document that happens
    to rank high (or a planted one) does not decide what is shown; and, as for a further
    sentence of the answer, only what shares a word with the question (or, in the other
    language, what sentence similarity found: `semantic`).
    """
    sources = {c.source for c in citations}
    top = scored[0].score if scored else 0.0
    out: list[Citation] = []
    for best in scored:
        if len(citations) + len(out) >= TOP_CITED or best.score < FURTHER_SHARE * top:
            break
        h = best.hit
        # an order to the reader is no reading to recommend ("Ignorera tidigare …")
        if h.chunk.source in sources or is_instruction(best.sentence) or not (
                best.matched or (best.features[_OTHER_LANGUAGE] > 0 and semantic)):
            continue
        sources.add(h.chunk.source)
        out.append(hit_citation(len(citations) + len(out) + 1, h, quote=best.sentence))
    return out


def _in_time_order(chosen: Sequence[Candidate]) -> list[Candidate]:
    """Sentences without a year first (they say what changed), then by the first year each
    gives, the earliest first."""
    def first_year(x: Candidate) -> int:
        years = [int(y) for y in _YEARS.findall(x.sentence)]
        return min(years) if years else 0

    return sorted(chosen, key=first_year)


def _chunk_text(x: Candidate) -> str:
    return f"{x.hit.chunk.title} {x.hit.chunk.heading} {x.hit.chunk.text}"


def _dated(q: Question, chosen: Sequence[Candidate]) -> list[Candidate]:
    """When the question names years, only passages from chunks that mention one count."""
    if not q.years:
        return list(chosen)
    return [x for x in chosen if any(y in _chunk_text(x) for y in q.years)]
