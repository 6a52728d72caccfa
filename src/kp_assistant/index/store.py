"""The on-disk index: Chroma for vectors and texts, a manifest of indexed files, bm25 beside it."""

from __future__ import annotations

import contextlib
import copy
import logging
import shutil
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kp_assistant.errors import CorruptIndex, ModelMismatch
from kp_assistant.index.chroma import CheckedCollection, make_client, reachable, vector_problem
from kp_assistant.index.chunk_reads import ChunkReads
from kp_assistant.index.keyword import KeywordIndex
from kp_assistant.index.manifest import FileRecord, Manifest, Signature, atomic_write, signature
from kp_assistant.models import Chunk
from kp_assistant.settings import Settings

__all__ = ["COLLECTION", "FileRecord", "Manifest", "Store"]

log = logging.getLogger(__name__)

COLLECTION = "kp_chunks"

class Store(ChunkReads):
    """Chroma collection + manifest + keyword index of one index folder.

    One Store serves many chat threads, and follows an ingest run made by another process:
    readers see the last saved manifest, and only the chunks it lists.
    """

    def __init__(self, index_dir: Path, *, chroma_host: str | None = None,
                 chroma_port: int = 8000, collection: str = COLLECTION) -> None:
        # on a shared Chroma server each index needs its own collection: a sync removes
        # every chunk its manifest does not own
        self.collection_name = collection
        self.index_dir = Path(index_dir)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self.manifest_path = self.index_dir / "manifest.json"
        self.keyword_dir = self.index_dir / "keyword"
        self.chroma_dir = self.index_dir / "chroma"
        self.marker_path = self.index_dir / "ingest.incomplete"
        self._chroma = (chroma_host, chroma_port)
        self._client: Any = None
        self._coll: Any = None
        # Chroma is opened, and reopened, by one thread at a time and only between calls
        self._lock = threading.RLock()
        self._calls = 0
        self._reopen = False
        self._manifest: Manifest | None = None
        self._manifest_error: CorruptIndex | None = None
        # what every query needs from the manifest, worked out once per manifest
        self._derived: tuple[Manifest, int, frozenset[str], str] | None = None
        self._first: tuple[Manifest, int, list[Chunk]] | None = None
        # Chroma's chunk count: counting takes time in proportion to the collection (10 ms
        # at 100,000 chunks), so it is asked again only after a write or a new manifest
        self._writes = 0
        self._counted: tuple[Manifest | None, int, int] | None = None
        self._seen = self._on_disk()
        self._load_manifest()
        self._keyword: KeywordIndex | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(settings.index_dir, chroma_host=settings.chroma_host,
                   chroma_port=settings.chroma_port, collection=settings.chroma_collection)

    @property
    def _collection(self) -> Any:
        # opened on first use: an ingest with nothing to do never pays for starting Chroma
        with self._lock:
            if self._coll is None:
                host, port = self._chroma
                if self._manifest is not None:  # (a damaged manifest is reported by its users)
                    self._check_vectors(self._manifest)
                if self._client is None:
                    self._client = make_client(self.index_dir, host, port)
                with reachable(host, port, self.chroma_dir):
                    coll = self._client.get_or_create_collection(
                        self.collection_name, embedding_function=None,
                        metadata={"hnsw:space": "cosine"},
                    )
                self._coll = CheckedCollection(coll, host, port, self.chroma_dir)
            return self._coll

    @contextlib.contextmanager
    def _using(self) -> Iterator[Any]:
        """The collection for one call; a pending reopen waits until no call is under way."""
        self._follow()
        with self._lock:
            if self._reopen and self._calls == 0:
                self._close_client()
            coll = self._collection
            self._calls += 1
        try:
            yield coll
        finally:
            with self._lock:
                self._calls -= 1

    def close(self) -> None:
        """Release Chroma: a persistent client keeps its files open until it is closed."""
        with self._lock:
            self._close_client()

    def _close_client(self) -> None:
        client, self._client, self._coll, self._reopen = self._client, None, None, False
        self._writes += 1
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def check(self) -> None:
        """Raise CorruptIndex if the manifest or the vector store is damaged; Chroma stays
        closed, so this is cheap."""
        self._check_vectors(self.manifest)

    def _check_vectors(self, manifest: Manifest) -> None:
        problem = self.vector_problem() if manifest.files else None
        if problem:  # opening would quietly start an empty database, or fail less clearly
            raise CorruptIndex(str(self.index_dir), problem)

    def vector_problem(self) -> str | None:
        """What is wrong with the on-disk vector store, seen without opening it; None if
        it looks whole (or is on a server)."""
        return None if self._chroma[0] else vector_problem(self.chroma_dir)

    # -- interrupted runs, and runs by another process ------------------------------------

    def begin_change(self) -> None:
        """Mark the index as being changed; the mark stays if the process dies midway."""
        if not self.marker_path.exists():
            with self._lock:
                atomic_write(self.marker_path,
                              "an ingest run changed this index and did not finish\n")
                self._seen = (self._seen[0], True)

    def end_change(self) -> None:
        with self._lock:
            self.marker_path.unlink(missing_ok=True)
            self._seen = (self._seen[0], False)

    def was_interrupted(self) -> bool:
        return self.marker_path.exists()

    def _on_disk(self) -> tuple[Signature | None, bool]:
        return signature(self.manifest_path), self.marker_path.exists()

    def _follow(self) -> None:
        """Take up what an ingest run in another process saved (`kp-assistant ingest` beside
        a running chat): its manifest, and the vectors behind it."""
        state = self._on_disk()
        if state == self._seen:
            return
        with self._lock:
            if state == self._seen:
                return
            if state[0] != self._seen[0]:
                log.info("the index was changed by another process; reading it again")
                self._load_manifest()
            self._seen = state
            # a persistent client never sees vectors another process wrote until reopened
            self._reopen = self._client is not None and not self._chroma[0]

    # -- manifest -------------------------------------------------------------------------

    def _load_manifest(self) -> None:
        try:
            self.manifest = Manifest.load(self.manifest_path)
        except CorruptIndex as exc:
            # raised on first use, so that `ingest --rebuild` can still open and reset the index
            self._manifest, self._manifest_error = None, exc

    @property
    def manifest(self) -> Manifest:
        """The last saved manifest. An ingest run edits a copy and saves it file by file."""
        self._follow()
        manifest = self._manifest
        if manifest is None:
            assert self._manifest_error is not None
            raise self._manifest_error
        return manifest

    @manifest.setter
    def manifest(self, value: Manifest) -> None:
        self._manifest, self._manifest_error = value, None

    def check_embedder(self, name: str) -> None:
        built = self.manifest.embedder
        if built and self.manifest.files and built != name:
            raise ModelMismatch(built, name)

    def save_manifest(self, manifest: Manifest | None = None) -> None:
        """Save `manifest` (default: the current one); a copy of it becomes the current one."""
        self.begin_change()
        manifest = manifest or self.manifest
        with self._lock:
            manifest.save(self.manifest_path)
            self._seen = (signature(self.manifest_path), self._seen[1])
            # chat threads read this copy while the run goes on changing its own
            self.manifest = copy.deepcopy(manifest)

    def is_empty(self) -> bool:
        return not self.manifest.files

    def _listed(self) -> frozenset[str] | None:
        """The chunk ids readers may see; None for a Store used without a manifest."""
        manifest = self.manifest
        return self._ids_and_fingerprint(manifest)[0] if manifest.files else None

    def fingerprint(self) -> str:
        """The current manifest's fingerprint."""
        return self._ids_and_fingerprint(self.manifest)[1]

    def _ids_and_fingerprint(self, manifest: Manifest) -> tuple[frozenset[str], str]:
        """The manifest's chunk ids and fingerprint, kept while the manifest is current.

        Both take time in proportion to the index (a sort and a hash over 100,000 ids is
        about 0.1 s), and every query needs them. A saved or reloaded manifest is a new
        object, so the identity check sees every change.
        """
        derived = self._derived
        if derived is None or derived[0] is not manifest or derived[1] != len(manifest.files):
            ids = frozenset(manifest.chunk_ids())
            derived = (manifest, len(manifest.files), ids, manifest.fingerprint())
            self._derived = derived
        return derived[2], derived[3]

    # -- chunks ---------------------------------------------------------------------------
    # Reads return only chunks the manifest lists: a run stores a file's chunks before the
    # manifest names them, and a killed run leaves some behind until the next run.

    def add(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        self.begin_change()
        self._writes += 1
        with self._using() as coll:
            for start in range(0, len(chunks), 1000):
                part = chunks[start : start + 1000]
                coll.upsert(
                    ids=[c.id for c in part],
                    embeddings=vectors[start : start + 1000].tolist(),
                    documents=[c.text for c in part],
                    metadatas=[c.metadata() for c in part],
                )

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        if not ids:
            return
        self.begin_change()
        self._writes += 1
        with self._using() as coll:
            for start in range(0, len(ids), 1000):
                coll.delete(ids=ids[start : start + 1000])

    def stored_ids(self) -> set[str]:
        """Every chunk id in Chroma, listed or not: what a repair compares with the manifest."""
        return {cid for cid, _, _ in self._everything(include=[])}

    def count(self) -> int:
        with self._using() as coll:
            return int(coll.count())

    # -- keyword index --------------------------------------------------------------------

    def keyword(self) -> KeywordIndex:
        """The bm25 index, rebuilt from Chroma if it is missing or does not match the manifest.

        While an ingest run is under way (or after one died) the last saved index serves:
        the run saves the new one at its end, and a reader must not race it to the folder.
        """
        fingerprint = self.fingerprint()
        cached = self._keyword
        if cached is not None and cached.fingerprint == fingerprint:
            return cached
        changing = self.was_interrupted()
        if (cached is not None and changing
                and KeywordIndex.saved_fingerprint(self.keyword_dir) == cached.fingerprint):
            return cached
        loaded = KeywordIndex.load(self.keyword_dir)
        if loaded is None or (loaded.fingerprint != fingerprint and not changing):
            log.info("keyword index missing or stale; rebuilding from the vector store")
            loaded = self.rebuild_keyword(save=not changing)
        self._keyword = loaded
        return loaded

    def keyword_stale(self) -> bool:
        return KeywordIndex.saved_fingerprint(self.keyword_dir) != self.fingerprint()

    def rebuild_keyword(self, *, save: bool = True) -> KeywordIndex:
        manifest = self.manifest
        wanted = manifest.chunk_ids()
        chunks = [c for c in self.all_chunks() if c.id in wanted]
        index = KeywordIndex.build([(c.id, _keyword_text(c)) for c in chunks],
                                   manifest.fingerprint())
        if save:
            index.save(self.keyword_dir)
        self._keyword = index
        return index

    # -- maintenance ----------------------------------------------------------------------

    def reset(self) -> None:
        """Drop the collection, the manifest and the keyword index."""
        self.begin_change()
        with self._lock:
            self.manifest = Manifest()  # first: a damaged database is no longer "missing"
            try:
                self._collection  # noqa: B018 - opens the client
                self._client.delete_collection(self.collection_name)
            except Exception as exc:
                if self._chroma[0]:
                    if self._coll is None:  # the server is not reachable
                        raise
                else:  # too damaged to open or to drop a collection from: start a new one
                    log.warning("removing the damaged vector store %s: %s", self.chroma_dir, exc)
                    self._close_client()
                    shutil.rmtree(self.chroma_dir, ignore_errors=True)
            self._coll = None
            self._writes += 1
            self.manifest_path.unlink(missing_ok=True)
            self._seen = self._on_disk()
        shutil.rmtree(self.keyword_dir, ignore_errors=True)
        self._keyword = None


def _keyword_text(c: Chunk) -> str:
    # title and heading make "Kalix" findable in a chunk that only says "kommunen"
    return f"{c.title}\n{c.heading}\n{c.text}"


