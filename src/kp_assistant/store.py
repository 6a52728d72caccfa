"""The on-disk index: Chroma for vectors and texts, a manifest of indexed files, bm25 beside it."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .embedding import Embedder
from .errors import CorruptIndex, KPError, ModelMismatch, StoreUnavailable, VectorStoreFailed
from .keyword import KeywordIndex
from .models import Chunk
from .settings import Settings

if TYPE_CHECKING:
    from .registry import PartnershipGroup

log = logging.getLogger(__name__)

COLLECTION = "kp_chunks"
# Chunks per read of the whole collection: Chroma turns a read into one SQL statement, and
# SQLite refuses one with more than 32,766 variables (about 30,000 chunks).
PAGE = 5000
MANIFEST_VERSION = 1
SQLITE_FILE = "chroma.sqlite3"  # Chroma's name for its database in the persistent folder

Signature = tuple[int, int, int]


@dataclass
class FileRecord:
    hash: str
    chunks: list[str]
    title: str = ""
    pages: int = 0
    ocr: dict[str, float] = field(default_factory=dict)  # page read by OCR -> mean confidence


@dataclass
class Manifest:
    """What is indexed. A file is listed only after all its chunks are stored."""

    embedder: str = ""
    root: str = ""
    files: dict[str, FileRecord] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # source -> reason
    # source -> what the failed file looked like, so an unchanged broken file is not re-read
    failed_keys: dict[str, str] = field(default_factory=dict)

    def chunk_ids(self) -> set[str]:
        return {cid for rec in self.files.values() for cid in rec.chunks}

    def fingerprint(self) -> str:
        h = hashlib.sha1()
        for cid in sorted(self.chunk_ids()):
            h.update(cid.encode())
        return h.hexdigest()

    @classmethod
    def load(cls, path: Path) -> Manifest:
        if not path.exists():
            return cls()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            files = {k: FileRecord(**v) for k, v in raw["files"].items()}
            return cls(embedder=raw["embedder"], root=raw.get("root", ""), files=files,
                       failed=dict(raw.get("failed", {})),
                       failed_keys=dict(raw.get("failed_keys", {})))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CorruptIndex(str(path.parent), f"unreadable manifest.json: {exc}") from exc

    def save(self, path: Path) -> None:
        data = {
            "version": MANIFEST_VERSION,
            "embedder": self.embedder,
            "root": self.root,
            "files": {k: vars(v) for k, v in sorted(self.files.items())},
            "failed": dict(sorted(self.failed.items())),
            "failed_keys": {k: v for k, v in sorted(self.failed_keys.items()) if k in self.failed},
        }
        _atomic_write(path, json.dumps(data, ensure_ascii=False, indent=1))


class Store:
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
        self.registry_path = self.index_dir / "registry.json"
        self.chroma_dir = self.index_dir / "chroma"
        self._groups: list[PartnershipGroup] | None = None
        self._registry_seen: Signature | None = None
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
                    self._client = _make_client(self.index_dir, host, port)
                with _reachable(host, port, self.chroma_dir):
                    coll = self._client.get_or_create_collection(
                        self.collection_name, embedding_function=None,
                        metadata={"hnsw:space": "cosine"},
                    )
                self._coll = _CheckedCollection(coll, host, port, self.chroma_dir)
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
        if self._chroma[0]:
            return None
        db = self.chroma_dir / SQLITE_FILE
        try:
            with open(db, "rb") as fh:
                header = fh.read(100)
                size = os.fstat(fh.fileno()).st_size
        except FileNotFoundError:
            return f"the vector store {db} is missing"
        except OSError as exc:
            return f"the vector store {db} cannot be read: {exc.strerror or exc}"
        if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
            return f"the vector store {db} is not a SQLite database"
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(header[28:32], "big")
        # the header's page count is valid when the change counter equals "version valid for"
        if header[24:28] == header[92:96] and pages * page_size > size:
            return f"the vector store {db} is truncated ({size} of {pages * page_size} bytes)"
        return None

    # -- interrupted runs, and runs by another process ------------------------------------

    def begin_change(self) -> None:
        """Mark the index as being changed; the mark stays if the process dies midway."""
        if not self.marker_path.exists():
            with self._lock:
                _atomic_write(self.marker_path,
                              "an ingest run changed this index and did not finish\n")
                self._seen = (self._seen[0], True)

    def end_change(self) -> None:
        with self._lock:
            self.marker_path.unlink(missing_ok=True)
            self._seen = (self._seen[0], False)

    def was_interrupted(self) -> bool:
        return self.marker_path.exists()

    def _on_disk(self) -> tuple[Signature | None, bool]:
        return _signature(self.manifest_path), self.marker_path.exists()

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
            self._seen = (_signature(self.manifest_path), self._seen[1])
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
                    (cid, _chunk(cid, doc, meta))
                    for cid, doc, meta in zip(res["ids"], res["documents"] or [],
                                              res["metadatas"] or [], strict=True)
                )
        return [by_id[i] for i in ids if i in by_id]

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
                out += (_chunk(cid, doc, meta) for cid, doc, meta in
                        zip(res["ids"], res["documents"] or [], res["metadatas"] or [],
                            strict=True))
                if len(res["ids"]) < PAGE:
                    break
        return [c for c in out if listed is None or c.id in listed]

    def all_chunks(self) -> list[Chunk]:
        listed = self._listed()
        return [
            _chunk(cid, doc, meta)
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
                out.append((_chunk(cid, doc, meta), 1.0 - float(dist)))
        return out

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

    # -- partnership registry -------------------------------------------------------------

    def registry_stale(self) -> bool:
        from .registry import REGISTRY_VERSION

        try:
            payload = json.loads(self.registry_path.read_text(encoding="utf-8"))
            return bool(payload.get("fingerprint") != self.manifest.fingerprint()
                        or payload.get("version") != REGISTRY_VERSION)
        except (OSError, ValueError, AttributeError):  # AttributeError: JSON but not an object
            return True

    def registry_problem(self) -> str | None:
        """Why the saved partnership list cannot be used, or None."""
        from . import registry

        try:
            registry.from_json(self.registry_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return f"{self.registry_path.name} is missing"
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return f"{self.registry_path.name} is unreadable ({type(exc).__name__})"
        return None

    def rebuild_registry(self, embedder: Embedder | None) -> None:
        """Extract every partnership from all stored chunks; documents inform each other."""
        from . import registry

        wanted = self.manifest.chunk_ids()
        chunks = sorted((c for c in self.all_chunks() if c.id in wanted), key=lambda c: c.id)
        payload = json.loads(registry.to_json(registry.extract(chunks, embedder)))
        payload["fingerprint"] = self.manifest.fingerprint()
        _atomic_write(self.registry_path, json.dumps(payload, ensure_ascii=False))
        self._groups = None

    def partnerships(self) -> list[PartnershipGroup]:
        """Every partnership in the index, merged across documents; [] if none was saved."""
        from . import registry

        seen = _signature(self.registry_path)
        if self._groups is None or seen != self._registry_seen:  # re-extracted by another run
            try:
                records = registry.from_json(self.registry_path.read_text(encoding="utf-8"))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                records = []
            self._groups, self._registry_seen = registry.merge(records), seen
        return self._groups

    # -- maintenance ----------------------------------------------------------------------

    def reset(self) -> None:
        """Drop everything: the collection, the manifest and the keyword index."""
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
        self.registry_path.unlink(missing_ok=True)
        self._groups = None
        self._keyword = None


def _keyword_text(c: Chunk) -> str:
    # title and heading make "Kalix" findable in a chunk that only says "kommunen"
    return f"{c.title}\n{c.heading}\n{c.text}"


def _chunk(cid: str, doc: str | None, meta: Any) -> Chunk:
    meta = meta or {}
    page = int(meta.get("page") or 0)
    return Chunk(
        id=cid,
        source=str(meta.get("source", "")),
        page=page or None,
        title=str(meta.get("title", "")),
        heading=str(meta.get("heading", "")),
        text=doc or "",
        doc_hash=str(meta.get("doc_hash", "")),
    )


@contextlib.contextmanager
def _reachable(host: str | None, port: int, folder: Path) -> Iterator[None]:
    """A failed Chroma call becomes one clear error; the next call tries again."""
    try:
        yield
    except KPError:
        raise
    except Exception as exc:  # httpx transport errors and Chroma's own; the user needs one line
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        if host:
            raise StoreUnavailable(f"{host}:{port}", detail) from exc
        raise VectorStoreFailed(str(folder), detail) from exc


class _CheckedCollection:
    """A Chroma collection whose failing calls raise a one-line KPError, not Chroma's own."""

    def __init__(self, collection: Any, host: str | None, port: int, folder: Path) -> None:
        self._collection, self._where = collection, (host, port, folder)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._collection, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with _reachable(*self._where):
                return method(*args, **kwargs)

        return call


def _make_client(index_dir: Path, host: str | None, port: int) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=True)
    try:
        if host:
            return chromadb.HttpClient(host=host, port=port, settings=chroma_settings)
        return chromadb.PersistentClient(path=str(index_dir / "chroma"), settings=chroma_settings)
    except Exception as exc:  # chroma raises many types; the user needs one line
        if not host:
            _forget_failed_system(chroma_settings)
            raise VectorStoreFailed(str(index_dir / "chroma"), " ".join(str(exc).split())) from exc
        raise KPError(
            f"Cannot open the vector store (the Chroma server at {host}:{port}): {exc}"
        ) from exc


def _forget_failed_system(chroma_settings: Any) -> None:
    """Chroma caches a client's system per folder before starting it, and keeps it when the
    start fails: every later client for the folder in this process would get the broken one,
    and `ingest --rebuild` could not open the folder even after removing it."""
    from chromadb.api.shared_system_client import SharedSystemClient

    with contextlib.suppress(Exception):  # a private cache: if it changes, only this is lost
        # PersistentClient has set persist_directory on these settings
        ident = SharedSystemClient._get_identifier_from_settings(chroma_settings)
        system = SharedSystemClient._identifier_to_system.pop(ident, None)
        SharedSystemClient._identifier_to_refcount.pop(ident, None)
        if system is not None:
            with contextlib.suppress(Exception):
                system.stop()


def _signature(path: Path) -> Signature | None:
    """Changes when the file is replaced or rewritten; None when it is not there."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
