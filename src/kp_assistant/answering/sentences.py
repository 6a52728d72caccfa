"""Sentence vectors for the evidence model: computed once per sentence text, kept on disk.

The answer step compares the question with its best candidate sentences using the same
multilingual model as retrieval. Embedding them while a user waits costs most of a second on
two cores, so the vectors are kept in memory and in the index folder, and `warm` computes
the vectors of every sentence of the index in the background (after start-up or an ingest),
not during `ingest` itself, which stays as fast as before.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kp_assistant.embedding import Embedder

log = logging.getLogger(__name__)

FILE_NAME = "sentence_vectors.npz"
SAVE_EVERY = 512  # new vectors between two writes of the file while warming
MIN_CHARS = 12  # shorter lines say too little to be evidence
_WORD = re.compile(r"\w")


def candidate_lines(text: str) -> list[tuple[int, str]]:
    """The lines of a chunk that can be evidence, with their position: not headings, not
    too short to say something, not a rule of punctuation alone (a table's "|---|---|")."""
    return [(i, ln) for i, ln in enumerate(text.split("\n"))
            if len(ln) >= MIN_CHARS and not ln.startswith("#") and _WORD.search(ln)]


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class SentenceVectors:
    """Vectors by sentence text, at most `limit` of them (the oldest go first).

    With a `path` the vectors are read from there on first use (when they were made by the
    same embedder) and `save` writes them back atomically; a damaged file is ignored and
    replaced at the next save.
    """

    def __init__(self, embedder: Embedder, limit: int = 50_000, path: Path | None = None) -> None:
        self.embedder = embedder
        self.limit = limit
        self.path = path
        self._cache: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()
        self._loaded = path is None
        self._unsaved = 0

    def get(self, texts: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        self._load()
        keys = {t: _key(t) for t in texts}
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if keys[t] not in self._cache]
        if missing:
            self._put(missing, self.embedder.embed_passages(missing), keys)
        with self._lock:
            return {t: self._cache[keys[t]] for t in texts if keys[t] in self._cache}

    def _put(self, texts: Sequence[str], vectors: NDArray[np.float32],
             keys: dict[str, str] | None = None) -> None:
        with self._lock:
            for t, v in zip(texts, vectors, strict=True):
                self._cache[keys[t] if keys else _key(t)] = v
            while len(self._cache) > self.limit:
                self._cache.popitem(last=False)
            self._unsaved += len(texts)

    def warm(self, texts: Iterable[str], *, stop: threading.Event | None = None,
             batch: int = 64, on_progress: Callable[[int, int], None] | None = None) -> int:
        """Compute the vectors of `texts` not yet known, saving as it goes; returns how many
        were computed. Stops early when `stop` is set."""
        self._load()
        with self._lock:
            todo = [t for t in dict.fromkeys(texts) if _key(t) not in self._cache]
        todo = todo[: self.limit]
        done = 0
        for start in range(0, len(todo), batch):
            if stop is not None and stop.is_set():
                break
            part = todo[start : start + batch]
            self._put(part, self.embedder.embed_passages(part))
            done += len(part)
            if on_progress is not None:
                on_progress(done, len(todo))
            if self._unsaved >= SAVE_EVERY:
                self.save()
        self.save()
        return done

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            assert self.path is not None
            if not self.path.exists():
                return
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    if str(data["embedder"]) != self.embedder.name:
                        return  # another model's vectors: of no use, replaced at the next save
                    keys, vectors = data["keys"], data["vectors"]
                    for k, v in zip(keys.tolist(), vectors, strict=True):
                        self._cache[str(k)] = np.asarray(v, dtype=np.float32)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("ignoring the damaged sentence vectors in %s: %s", self.path, exc)
                self._cache.clear()

    def save(self) -> None:
        """Write the vectors to `path` (if any) through a temporary file: a crash mid-write
        leaves the previous file."""
        if self.path is None:
            return
        with self._lock:
            if not self._unsaved and self.path.exists():
                return
            keys = np.asarray(list(self._cache), dtype="U40")
            vectors = (np.stack(list(self._cache.values())) if self._cache
                       else np.zeros((0, 0), dtype=np.float32))
            self._unsaved = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, keys=keys, vectors=vectors, embedder=np.asarray(self.embedder.name))
        os.replace(tmp, self.path)
