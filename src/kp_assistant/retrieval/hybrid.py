"""Hybrid retrieval: dense (Chroma) and keyword (bm25) rankings fused by reciprocal rank."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from kp_assistant.documents.chunking import document_of
from kp_assistant.embedding import Embedder
from kp_assistant.index.store import Store
from kp_assistant.models import Chunk, Hit


def rrf(
    rankings: Mapping[str, Sequence[str]],
    weights: Mapping[str, float] | None = None,
    k: int = 60,
) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: score(d) = Σ w_r / (k + rank_r(d)), ranks starting at 1.

    Ties keep the order in which items were first seen, so the result is deterministic.
    """
    scores: dict[str, float] = {}
    for name, ranking in rankings.items():
        w = 1.0 if weights is None else weights.get(name, 1.0)
        if w == 0:
            continue
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


class Retriever:
    def __init__(self, store: Store, embedder: Embedder, *, dense_weight: float = 1.0,
                 keyword_weight: float = 1.0, rrf_k: int = 60, depth: int = 30,
                 language_of: Callable[[Chunk], str] | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.language_of = language_of  # a passage's language ("sv", "en"), for `lang`
        self.weights = {"dense": dense_weight, "keyword": keyword_weight}
        self.rrf_k = rrf_k
        self.depth = depth
        self.last_vector: np.ndarray | None = None  # the query's vector, for the answer step

    def search(self, query: str, k: int = 8, *, keyword_query: str | None = None,
               vector: np.ndarray | None = None, lang: str | None = None,
               more_documents: int = 0) -> list[Hit]:
        """The k best chunks. `keyword_query` may add words (translations) for bm25 only;
        `vector` is the query's vector when the caller has it already; `lang` the query's
        language: a passage in another language that only the dense half found counts in
        the keyword half at its dense rank, for bm25 cannot match words across languages
        and its silence says nothing about such a passage. `more_documents`: after the k,
        the best chunk of up to that many documents none of the k comes from (see
        `widened`)."""
        dense: list[tuple[str, float]] = []
        if self.weights["dense"] > 0:
            if vector is None:
                vector = self.embedder.embed_queries([query])[0]
            self.last_vector = vector
            dense = self.store.dense_ids(vector, self.depth)
        keyword = (self.store.keyword().search(keyword_query or query, self.depth)
                   if self.weights["keyword"] > 0 else [])
        chunks: dict[str, Chunk] = {}
        blind: dict[str, int] = {}
        if lang is not None and self.language_of is not None and keyword and dense:
            blind = self._other_language(dense, keyword, lang, chunks, k)
        while True:
            fused = rrf(  # both rankings go deeper than k, so a chunk strong in one half counts
                {"dense": [cid for cid, _ in dense], "keyword": [cid for cid, _ in keyword]},
                self.weights, self.rrf_k,
            )
            if blind:
                w = self.weights["keyword"]
                fused = sorted(((cid, s + (w / (self.rrf_k + blind[cid]) if cid in blind else 0))
                                for cid, s in fused), key=lambda kv: -kv[1])
            first = {cid for cid, _ in fused[:k]}
            fused = widened(fused, k, more_documents, self.depth)
            # only the texts of the chunks that made it are read
            wanted = [cid for cid, _ in fused if cid not in chunks]
            chunks.update({c.id: c for c in self.store.get(wanted)})
            # a chunk deleted meanwhile by an ingest run in another process leaves the dense
            # ranking, and the next one moves up
            gone = {cid for cid in wanted if cid not in chunks}
            if not any(cid in gone for cid, _ in dense):
                break
            dense = [(cid, s) for cid, s in dense if cid not in gone]
        dense_rank = {cid: (i, s) for i, (cid, s) in enumerate(dense, start=1)}
        keyword_rank = {cid: i for i, (cid, _) in enumerate(keyword, start=1)}
        return [
            Hit(
                chunk=chunks[cid],
                score=score,
                dense_rank=dense_rank[cid][0] if cid in dense_rank else None,
                keyword_rank=keyword_rank.get(cid),
                dense_score=dense_rank[cid][1] if cid in dense_rank else None,
                further=cid not in first,
            )
            for cid, score in fused
            if cid in chunks
        ]

    def _other_language(self, dense: Sequence[tuple[str, float]],
                        keyword: Sequence[tuple[str, float]], lang: str,
                        chunks: dict[str, Chunk], k: int) -> dict[str, int]:
        """Dense ranks of the chunks bm25 did not find that are written in another language
        than `lang`. Only the texts of those that could reach the first k are read (into
        `chunks`): counting in both halves can only raise scores, so a chunk whose score
        counted twice stays under the k-th score of the plain fusion cannot make the cut."""
        assert self.language_of is not None
        plain = rrf({"dense": [cid for cid, _ in dense], "keyword": [cid for cid, _ in keyword]},
                    self.weights, self.rrf_k)
        bar = plain[k - 1][1] if len(plain) >= k else 0.0
        both = self.weights["dense"] + self.weights["keyword"]
        found = {cid for cid, _ in keyword}
        ranks = {cid: rank for rank, (cid, _) in enumerate(dense, start=1)
                 if cid not in found and both / (self.rrf_k + rank) >= bar}
        chunks.update({c.id: c for c in self.store.get(list(ranks))})
        return {cid: rank for cid, rank in ranks.items()
                if cid in chunks and self.language_of(chunks[cid]) != lang}


def widened(fused: Sequence[tuple[str, float]], k: int, more_documents: int,
            depth: int) -> list[tuple[str, float]]:
    """The first k of a fused ranking, then the best chunk of each of up to `more_documents`
    further documents, from the ranks above `depth`.

    A long document can fill the first k with its chunks, so that a second document stating
    the same thing, or the next item of a list asked for, ranks just below the cut; it reaches
    the answer step by its best chunk alone, at its own rank.
    """
    head = list(fused[:k])
    if more_documents <= 0:
        return head
    seen = {document_of(cid) for cid, _ in head}
    for cid, score in fused[k:max(k, depth)]:
        if len(head) >= k + more_documents:
            break
        if document_of(cid) not in seen:
            seen.add(document_of(cid))
            head.append((cid, score))
    return head


def per_year(retriever: Retriever, years: Sequence[str], text: str, hits: list[Hit],
             k: int, lang: str | None = None) -> list[Hit]:
    """A question about several years gets the best passages for each year, interleaved.

    One search for "juni 2019, maj 2021 och december 2022" tends to fill every slot from the
    year the wording favours; a search per year finds each decision's own document.
    """
    rankings = []
    for year in dict.fromkeys(years):
        others = [y for y in years if y != year]
        query = " ".join(w for w in text.split() if w.strip(",.?") not in others)
        rankings.append(retriever.search(query, k=max(2, k // len(years)), lang=lang))
    merged: dict[str, Hit] = {}
    for rank in range(k):
        for ranking in [*rankings, hits]:
            if rank < len(ranking):
                merged.setdefault(ranking[rank].chunk.id, ranking[rank])
    return list(merged.values())[:k]
