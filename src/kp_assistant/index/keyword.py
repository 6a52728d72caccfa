"""Keyword search: bm25s over Swedish-stemmed tokens, saved beside the vector store."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

_TOKEN = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_SWEDISH

    return frozenset(STOPWORDS_SWEDISH) | frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("swedish")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens, Swedish and English stop words removed, Swedish-stemmed."""
    stop = _stopwords()
    words = [w for w in _TOKEN.findall(text.lower()) if w not in stop and w != "_"]
    return list(_stemmer().stemWords(words))


class KeywordIndex:
    def __init__(
        self,
        ids: list[str],
        bm25: object | None,
        fingerprint: str,
        df: dict[str, int] | None = None,
    ) -> None:
        self.ids = ids
        self._bm25 = bm25
        self.fingerprint = fingerprint
        self.df = df or {}  # stemmed term -> number of chunks containing it

    @classmethod
    def build(cls, docs: Sequence[tuple[str, str]], fingerprint: str) -> KeywordIndex:
        import bm25s

        ids = [cid for cid, _ in docs]
        if not ids:
            return cls([], None, fingerprint)
        tokens = [tokenize(text) for _, text in docs]
        df: dict[str, int] = {}
        for toks in tokens:
            for t in set(toks):
                df[t] = df.get(t, 0) + 1
        bm25 = bm25s.BM25()
        bm25.index(tokens, show_progress=False)
        return cls(ids, bm25, fingerprint, df)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        if self._bm25 is None:
            return []
        vocab = self._bm25.vocab_dict  # type: ignore[attr-defined]
        tokens = [t for t in tokenize(query) if t in vocab]
        if not tokens:
            return []
        scores = np.asarray(self._bm25.get_scores(tokens))  # type: ignore[attr-defined]
        k = min(k, len(self.ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def save(self, folder: Path) -> None:
        """Write to a sibling folder first and swap it in, so readers never see half an index."""
        own = f"{os.getpid()}-{threading.get_ident()}"  # two savers never share a folder
        tmp = folder.with_name(f"{folder.name}.tmp-{own}")
        old = folder.with_name(f"{folder.name}.old-{own}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self._bm25 is not None:
            self._bm25.save(str(tmp / "bm25"), show_progress=False)  # type: ignore[attr-defined]
        (tmp / "meta.json").write_text(
            json.dumps({"fingerprint": self.fingerprint, "ids": self.ids, "df": self.df}),
            encoding="utf-8",
        )
        with contextlib.suppress(FileNotFoundError):
            folder.rename(old)
        try:
            tmp.rename(folder)
        except OSError:  # another saver swapped its own in meanwhile; that one is whole too
            shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
        for leftover in folder.parent.glob(f"{folder.name}.*-*"):  # from a killed saver
            with contextlib.suppress(OSError):
                if time.time() - leftover.stat().st_mtime > 600:
                    shutil.rmtree(leftover, ignore_errors=True)

    @staticmethod
    def saved_fingerprint(folder: Path) -> str | None:
        """The fingerprint of the saved index, read without loading the index itself."""
        try:
            return str(
                json.loads((folder / "meta.json").read_text(encoding="utf-8"))["fingerprint"]
            )
        except Exception:  # missing or damaged: the caller rebuilds
            return None

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex | None:
        """The saved index, or None if it is missing or unreadable (the caller rebuilds it).

        A read that overlaps another process swapping in a new index is tried again.
        """
        for _ in range(50):
            index, torn = cls._read(folder)
            if index is not None or not (torn or any(folder.parent.glob(f"{folder.name}.*-*"))):
                return index
            time.sleep(0.02)  # a swap is two renames: this is ample
        return None

    @classmethod
    def _read(cls, folder: Path) -> tuple[KeywordIndex | None, bool]:
        """The index, or None and whether it was swapped for another one during the read."""
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            bm25 = None
            if meta["ids"]:
                import bm25s

                bm25 = bm25s.BM25.load(str(folder / "bm25"), show_progress=False, verbosity=0)
            if cls.saved_fingerprint(folder) != meta["fingerprint"]:
                return None, True  # the arrays may belong to the other index
            return cls(list(meta["ids"]), bm25, str(meta["fingerprint"]), dict(meta["df"])), False
        except Exception:  # any damage means "rebuild", which is always possible
            return None, False
