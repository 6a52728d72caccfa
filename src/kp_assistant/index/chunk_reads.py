"""Reading chunks back from the vector store: by id, by document, all of them, or nearest to a
vector. Only chunks the current manifest lists are returned: a run stores a file's chunks
before the manifest names them, and a killed run leaves some behind until the next run.

The read half of `Store`, which supplies `_using()` (the collection for one call) and
`_listed()` (the ids the manifest lists).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from kp_assistant.index.chroma import chunk_from
from kp_assistant.index.manifest import Manifest
from kp_assistant.models import Chunk

# Chunks per read of the whole collection: Chroma turns a read into one SQL statement, and
# SQLite refuses one with more than 32,766 variables (about 30,000 chunks).
PAGE = 5000


class ChunkReads:
    manifest: Manifest
    _first: tuple[Manifest, int, list[Chunk]] | None
    _writes: int
    _counted: tuple[Manifest | None, int, int] | None
    _manifest: Manifest | None

    def _using(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _listed(self) -> frozenset[str] | None:
        raise NotImplementedError

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        listed = self._listed()
        ids = [i for i in ids if listed is None or i in listed]
        if not ids:
            return []
        by_id: dict[str, Chunk] = {}
        with self._using() as coll:
            for start in range(0, len(ids), PAGE):
                res = coll.get(ids=ids[start : start + PAGE], include=["documents", "metadatas"])
                by_id.update(
                    (cid, chunk_from(cid, doc, meta))
                    for cid, doc, meta in zip(res["ids"], res["documents"] or [],
                                              res["metadatas"] or [], strict=True)
                )
        return [by_id[i] for i in ids if i in by_id]

    def next_chunk(self, chunk: Chunk) -> Chunk | None:
        """The chunk after this one in its document (an id ends in the chunk's ordinal)."""
        stem, _, ordinal = chunk.id.rpartition("-")
        if not ordinal.isdigit():
            return None
        found = self.get([f"{stem}-{int(ordinal) + 1:0{len(ordinal)}d}"])
        return found[0] if found else None

    def first_chunks(self) -> Sequence[Chunk]:
        """The first chunk (lowest id) of every indexed document, kept while the manifest is
        current (the same list each time; callers must not change it): what dates a
        document, read without reading every chunk."""
        manifest = self.manifest
        cached = self._first
        if cached is None or cached[0] is not manifest or cached[1] != len(manifest.files):
            heads = [min(rec.chunks) for _, rec in sorted(manifest.files.items()) if rec.chunks]
            cached = (manifest, len(manifest.files), self.get(heads))
            self._first = cached
        return cached[2]

    def chunks_of(self, sources: Collection[str]) -> list[Chunk]:
        """Every chunk of these documents, in the order `all_chunks` gives them."""
        if not sources:
            return []
        if len(sources) > PAGE:  # a filter that long is more than SQLite takes
            return [c for c in self.all_chunks() if c.source in sources]
        listed = self._listed()
        out: list[Chunk] = []
        with self._using() as coll:
            while True:
                res = coll.get(where={"source": {"$in": sorted(sources)}}, limit=PAGE,
                               offset=len(out), include=["documents", "metadatas"])
                out += (chunk_from(cid, doc, meta) for cid, doc, meta in
                        zip(res["ids"], res["documents"] or [], res["metadatas"] or [],
                            strict=True))
                if len(res["ids"]) < PAGE:
                    break
        return [c for c in out if listed is None or c.id in listed]

    def all_chunks(self) -> list[Chunk]:
        listed = self._listed()
        return [
            chunk_from(cid, doc, meta)
            for cid, doc, meta in self._everything(include=["documents", "metadatas"])
            if listed is None or cid in listed
        ]

    def _everything(self, include: list[str]) -> list[tuple[str, Any, Any]]:
        """(id, document, metadata) of every stored chunk, read a page at a time."""
        out: list[tuple[str, Any, Any]] = []
        with self._using() as coll:
            while True:
                res = coll.get(include=include, limit=PAGE, offset=len(out))
                ids = res["ids"]
                docs = res["documents"] if "documents" in include else None
                metas = res["metadatas"] if "metadatas" in include else None
                out += zip(ids, docs or [None] * len(ids), metas or [None] * len(ids),
                           strict=True)
                if len(ids) < PAGE:
                    return out

    def _stored_count(self, coll: Any) -> int:
        """coll.count(), remembered until this store writes or the manifest changes (an
        ingest run in another process saves its manifest after its writes)."""
        key = (self._manifest, self._writes)
        counted = self._counted
        if counted is None or counted[0] is not key[0] or counted[1] != key[1]:
            counted = (key[0], key[1], int(coll.count()))
            self._counted = counted
        return counted[2]

    def dense_ids(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ids of the k nearest listed chunks, with their similarity; `get` reads the
        texts of those that are needed (four times faster than reading k texts here)."""
        listed = self._listed()
        with self._using() as coll:
            n = self._stored_count(coll)
            if n == 0:
                return []
            res = coll.query(query_embeddings=[vector.tolist()], n_results=min(k, n),
                             include=["distances"])
        return [
            (cid, 1.0 - float(dist))
            for cid, dist in zip(res["ids"][0], (res["distances"] or [[]])[0], strict=True)
            if listed is None or cid in listed
        ]

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[Chunk, float]]:
        listed = self._listed()
        with self._using() as coll:
            n = self._stored_count(coll)
            if n == 0:
                return []
            res = coll.query(
                query_embeddings=[vector.tolist()], n_results=min(k, n),
                include=["documents", "metadatas", "distances"],
            )
        out = []
        for cid, doc, meta, dist in zip(res["ids"][0], (res["documents"] or [[]])[0],
                                        (res["metadatas"] or [[]])[0],
                                        (res["distances"] or [[]])[0], strict=True):
            # no document: another process deleted it after this one loaded the vectors
            if doc is not None and (listed is None or cid in listed):
                out.append((chunk_from(cid, doc, meta), 1.0 - float(dist)))
        return out
