"""Reciprocal rank fusion on toy rankings, and hybrid retrieval on a small hashing index."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from kp_assistant.assistant import Assistant
from kp_assistant.embedding import HashingEmbedder
from kp_assistant.index.store import Store
from kp_assistant.models import Chunk
from kp_assistant.retrieval.hybrid import Retriever, rrf, widened
from kp_assistant.settings import Settings

# -- rrf ----------------------------------------------------------------------------------


def test_rrf_exact_scores_with_k_60() -> None:
    fused = dict(rrf({"dense": ["a", "b", "c"], "keyword": ["b", "a"]}))
    assert fused == {
        "a": pytest.approx(1 / 61 + 1 / 62),
        "b": pytest.approx(1 / 62 + 1 / 61),
        "c": pytest.approx(1 / 63),
    }


def test_rrf_orders_by_fused_score() -> None:
    fused = rrf({"dense": ["a", "b", "c"], "keyword": ["c", "b", "x"]})
    # c (1/63 + 1/61) edges out b, second in both (2/62); a is only in one ranking
    assert [item for item, _ in fused] == ["c", "b", "a", "x"]
    scores = [score for _, score in fused]
    assert scores == sorted(scores, reverse=True)
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 63)
    assert fused[1][1] == pytest.approx(2 / 62)


def test_rrf_k_changes_the_scores() -> None:
    fused = dict(rrf({"r": ["a", "b"]}, k=1))
    assert fused == {"a": pytest.approx(1 / 2), "b": pytest.approx(1 / 3)}


def test_rrf_weights_scale_each_ranking() -> None:
    fused = dict(rrf({"dense": ["a"], "keyword": ["b"]}, weights={"dense": 2.0, "keyword": 0.5}))
    assert fused == {"a": pytest.approx(2 / 61), "b": pytest.approx(0.5 / 61)}


def test_rrf_missing_weight_counts_as_one() -> None:
    fused = dict(rrf({"dense": ["a"], "keyword": ["b"]}, weights={"dense": 3.0}))
    assert fused == {"a": pytest.approx(3 / 61), "b": pytest.approx(1 / 61)}


def test_rrf_weight_zero_drops_a_ranking() -> None:
    fused = rrf({"dense": ["a", "b"], "keyword": ["c", "a"]}, weights={"keyword": 0})
    assert [item for item, _ in fused] == ["a", "b"]
    assert dict(fused)["a"] == pytest.approx(1 / 61)


def test_rrf_ties_keep_first_seen_order() -> None:
    fused = rrf({"dense": ["x", "y"], "keyword": ["y", "x"]})
    assert [item for item, _ in fused] == ["x", "y"]
    assert fused[0][1] == fused[1][1]
    mirrored = rrf({"keyword": ["y", "x"], "dense": ["x", "y"]})
    assert [item for item, _ in mirrored] == ["y", "x"]
    # the same input always gives the same output
    assert rrf({"dense": ["x", "y"], "keyword": ["y", "x"]}) == fused


def test_rrf_items_only_in_one_ranking_are_kept() -> None:
    fused = dict(rrf({"dense": ["a", "b"], "keyword": ["c"]}))
    assert set(fused) == {"a", "b", "c"}
    assert fused["c"] == pytest.approx(1 / 61)
    assert fused["b"] == pytest.approx(1 / 62)


def test_rrf_empty() -> None:
    assert rrf({}) == []
    assert rrf({"dense": [], "keyword": []}) == []


# -- more documents after the first k -------------------------------------------------------


def test_widened_adds_the_best_chunk_of_documents_the_first_k_lack() -> None:
    fused = [("a-0000", 0.9), ("a-0001", 0.8), ("a-0002", 0.7), ("b-0003", 0.6),
             ("a-0003", 0.5), ("b-0001", 0.4), ("c-0000", 0.3), ("d-0000", 0.2)]
    # the first two are from document a; b and c come in by their best chunk only
    assert widened(fused, 2, 2, depth=30) == [("a-0000", 0.9), ("a-0001", 0.8),
                                              ("b-0003", 0.6), ("c-0000", 0.3)]
    assert widened(fused, 2, 0, depth=30) == fused[:2]
    # only ranks above the depth count: d is the eighth
    assert [cid for cid, _ in widened(fused, 2, 5, depth=7)] == [
        "a-0000", "a-0001", "b-0003", "c-0000"]
    # a document among the first k is not added again
    assert widened(fused, 4, 1, depth=30)[-1] == ("c-0000", 0.3)


# -- Retriever on a small index -------------------------------------------------------------


@pytest.fixture
def indexed(hashing_settings: Settings) -> Store:
    summary = Assistant.from_settings(hashing_settings).ingest()
    assert not summary.failed
    return Store.from_settings(hashing_settings)


def retriever(store: Store, **weights: float) -> Retriever:
    return Retriever(store, HashingEmbedder(), **weights)


@pytest.mark.parametrize(
    ("query", "source"),
    [
        ("dricksvatten", "natverk/lund_francistown.md"),
        ("Vad gör Machakos?", "robertsfors_machakos.txt"),
        ("ansökningsomgångar", "ansokan.txt"),
    ],
)
def test_a_distinctive_word_finds_its_chunk(indexed: Store, query: str, source: str) -> None:
    hits = retriever(indexed).search(query, k=3)
    assert hits[0].chunk.source == source
    word = query.rstrip("?").split()[-1].lower()
    assert word in hits[0].chunk.text.lower()
    # found by both halves
    assert hits[0].keyword_rank == 1
    assert hits[0].dense_rank is not None


def test_hits_carry_scores_in_fused_order(indexed: Store) -> None:
    hits = retriever(indexed).search("plast och avfall i Masaka", k=5)
    assert 0 < len(hits) <= 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.chunk.id for h in hits}) == len(hits)
    assert hits[0].chunk.source == "kalix_masaka.md"


def test_more_documents_reach_past_a_document_that_fills_the_first_k(indexed: Store) -> None:
    r = retriever(indexed, keyword_weight=0)
    ranked = r.search("plast och avfall i Masaka", k=30)
    k = 1 + next(i for i, h in enumerate(ranked) if h.chunk.source != ranked[0].chunk.source)
    first = {h.chunk.source for h in ranked[:k - 1]}
    hits = r.search("plast och avfall i Masaka", k=k - 1, more_documents=3)
    assert [h.chunk.id for h in hits[:k - 1]] == [h.chunk.id for h in ranked[:k - 1]]
    extra = hits[k - 1:]
    assert extra and len(extra) <= 3
    assert all(h.further for h in extra) and not any(h.further for h in hits[:k - 1])
    assert extra[0].chunk.id == ranked[k - 1].chunk.id  # the next document's best chunk
    sources = [h.chunk.source for h in extra]
    assert len(set(sources)) == len(sources) and not first & set(sources)


def test_keyword_only_retrieval(indexed: Store) -> None:
    hits = retriever(indexed, dense_weight=0).search("dricksvatten", k=8)
    # only the keyword half ran: every hit has a keyword rank and none a dense rank
    assert [h.chunk.source for h in hits] == ["natverk/lund_francistown.md"]
    assert hits[0].keyword_rank == 1 and hits[0].dense_rank is None
    assert hits[0].chunk.text  # the chunk text came from the store


def test_dense_only_retrieval(indexed: Store) -> None:
    hits = retriever(indexed, keyword_weight=0).search("dricksvatten", k=3)
    assert len(hits) == 3
    assert all(h.keyword_rank is None and h.dense_rank is not None for h in hits)
    assert hits[0].chunk.source == "natverk/lund_francistown.md"
    assert [h.dense_rank for h in hits] == [1, 2, 3]


def test_a_query_with_no_known_words_still_gets_dense_hits(indexed: Store) -> None:
    hits = retriever(indexed).search("xyzzy qwerty", k=2)
    assert len(hits) == 2
    assert all(h.keyword_rank is None for h in hits)


def test_search_on_an_empty_index(tmp_path: Path) -> None:
    store = Store(tmp_path / "empty")
    assert retriever(store).search("plast") == []


def test_a_chunk_deleted_meanwhile_gives_its_place_to_the_next(
    indexed: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dense search reads ids only; a chunk whose text is gone when it is read (another
    process deleted it) leaves the ranking, so k hits still come back."""
    full = retriever(indexed, keyword_weight=0).search("dricksvatten", k=4)
    gone = full[0].chunk.id
    real_get = indexed.get
    monkeypatch.setattr(indexed, "get", lambda ids: [c for c in real_get(ids) if c.id != gone])
    hits = retriever(indexed, keyword_weight=0).search("dricksvatten", k=3)
    assert [h.chunk.id for h in hits] == [h.chunk.id for h in full[1:]]
    assert [h.dense_rank for h in hits] == [1, 2, 3]


class _TwoLanguageStore:
    """Rankings fixed by hand: the dense half finds an English passage first, the keyword
    half (which cannot match across languages) only the Swedish ones."""

    dense: ClassVar = [("en-1", 0.9), ("sv-1", 0.8), ("sv-2", 0.7), ("sv-3", 0.6)]
    keyword_hits: ClassVar = [("sv-2", 5.0), ("sv-1", 4.0)]

    def dense_ids(self, vector: object, depth: int) -> list[tuple[str, float]]:
        return self.dense[:depth]

    def keyword(self) -> _TwoLanguageStore:
        return self

    def search(self, query: str, depth: int) -> list[tuple[str, float]]:
        return self.keyword_hits[:depth]

    def get(self, ids: list[str]) -> list[Chunk]:
        return [Chunk(id=i, source=f"{i}.md", page=None, title="T", heading="", text=i,
                      doc_hash="h") for i in ids]


def test_a_passage_in_another_language_counts_in_the_keyword_half_at_its_dense_rank() -> None:
    store = _TwoLanguageStore()
    r = Retriever(store, HashingEmbedder(),  # type: ignore[arg-type]
                  language_of=lambda c: "en" if c.id.startswith("en") else "sv")
    vector = np.zeros(4, dtype=np.float32)
    plain = r.search("q", k=4, vector=vector)
    assert [h.chunk.id for h in plain] == ["sv-2", "sv-1", "en-1", "sv-3"]
    swedish = r.search("q", k=4, vector=vector, lang="sv")
    assert [h.chunk.id for h in swedish] == ["en-1", "sv-2", "sv-1", "sv-3"]
    scores = {h.chunk.id: h.score for h in swedish}
    assert scores["en-1"] == pytest.approx(2 / 61)
    # a passage in the question's own language that bm25 missed gets nothing: bm25 could have
    # found it
    assert scores["sv-3"] == pytest.approx(1 / 64)
    assert swedish[0].keyword_rank is None  # the ranks reported are still the real ones
    # an English question: now the English passage is one bm25 could have found, and the
    # Swedish one it missed counts at its dense rank
    english = r.search("q", k=4, vector=vector, lang="en")
    assert [h.chunk.id for h in english] == ["sv-2", "sv-1", "sv-3", "en-1"]
    assert {h.chunk.id: h.score for h in english}["sv-3"] == pytest.approx(2 / 64)


def test_the_searches_per_year_know_the_question_language_too() -> None:
    from kp_assistant.retrieval.hybrid import per_year

    r = Retriever(_TwoLanguageStore(), HashingEmbedder(),  # type: ignore[arg-type]
                  language_of=lambda c: "en" if c.id.startswith("en") else "sv")
    years = ["2019", "2021"]
    assert per_year(r, years, "q 2019 2021", [], 4)[0].chunk.id == "sv-2"
    assert per_year(r, years, "q 2019 2021", [], 4, "sv")[0].chunk.id == "en-1"
