"""The on-disk index: Chroma for vectors and texts, a manifest of indexed files, bm25 beside it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .embedding import Embedder
from .errors import CorruptIndex, KPError, ModelMismatch, StoreUnavailable
from .keyword import KeywordIndex
from .models import Chunk
from .settings import Settings

if TYPE_CHECKING:
    from .registry import PartnershipGroup

log = logging.getLogger(__name__)

COLLECTION = "kp_chunks"
MANIFEST_VERSION = 1


@dataclass
class FileRecord:
    hash: str
    chunks: list[str]
    title: str = ""
    pages: int = 0


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
    """Chroma collection + manifest + keyword index of one index folder."""

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
        self._groups: list[PartnershipGroup] | None = None
        self.marker_path = self.index_dir / "ingest.incomplete"
        self._chroma = (chroma_host, chroma_port)
        self._client: Any = None
        self._coll: Any = None
        self._manifest: Manifest | None = None
        self._manifest_error: CorruptIndex | None = None
        try:
            self._manifest = Manifest.load(self.manifest_path)
        except CorruptIndex as exc:
            # raised on first use, so that `ingest --rebuild` can still open and reset the index
            self._manifest_error = exc
        self._keyword: KeywordIndex | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(settings.index_dir, chroma_host=settings.chroma_host,
                   chroma_port=settings.chroma_port, collection=settings.chroma_collection)

    @property
    def _collection(self) -> Any:
        # opened on first use: an ingest with nothing to do never pays for starting Chroma
        if self._coll is None:
            if self._client is None:
                self._client = _make_client(self.index_dir, *self._chroma)
            host, port = self._chroma
            with _reachable(host, port):
                coll = self._client.get_or_create_collection(
                    self.collection_name, embedding_function=None,
                    metadata={"hnsw:space": "cosine"},
                )
            self._coll = _ServerCollection(coll, host, port) if host else coll
        return self._coll

    # -- interrupted runs -----------------------------------------------------------------

    def begin_change(self) -> None:
        """Mark the index as being changed; the mark stays if the process dies midway."""
        if not self.marker_path.exists():
            _atomic_write(self.marker_path, "an ingest run changed this index and did not finish\n")

    def end_change(self) -> None:
        self.marker_path.unlink(missing_ok=True)

    def was_interrupted(self) -> bool:
        return self.marker_path.exists()

    # -- manifest -------------------------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            assert self._manifest_error is not None
            raise self._manifest_error
        return self._manifest

    @manifest.setter
    def manifest(self, value: Manifest) -> None:
        self._manifest, self._manifest_error = value, None

    def check_embedder(self, name: str) -> None:
        built = self.manifest.embedder
        if built and self.manifest.files and built != name:
            raise ModelMismatch(built, name)

    def save_manifest(self) -> None:
        self.begin_change()
        self.manifest.save(self.manifest_path)

    def is_empty(self) -> bool:
        return not self.manifest.files

    # -- chunks ---------------------------------------------------------------------------

    def add(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        self.begin_change()
        for start in range(0, len(chunks), 1000):
            part = chunks[start : start + 1000]
            self._collection.upsert(
                ids=[c.id for c in part],
                embeddings=vectors[start : start + 1000].tolist(),
                documents=[c.text for c in part],
                metadatas=[c.metadata() for c in part],
            )

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        if ids:
            self.begin_change()
        for start in range(0, len(ids), 1000):
            self._collection.delete(ids=ids[start : start + 1000])

    def stored_ids(self) -> set[str]:
        return set(self._collection.get(include=[])["ids"])

    def count(self) -> int:
        return int(self._collection.count())

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        if not ids:
            return []
        res = self._collection.get(ids=list(ids), include=["documents", "metadatas"])
        by_id = {
            cid: _chunk(cid, doc, meta)
            for cid, doc, meta in zip(res["ids"], res["documents"] or [], res["metadatas"] or [],
                                      strict=True)
        }
        return [by_id[i] for i in ids if i in by_id]

    def all_chunks(self) -> list[Chunk]:
        res = self._collection.get(include=["documents", "metadatas"])
        return [
            _chunk(cid, doc, meta)
            for cid, doc, meta in zip(res["ids"], res["documents"] or [], res["metadatas"] or [],
                                      strict=True)
        ]

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[Chunk, float]]:
        n = self.count()
        if n == 0:
            return []
        res = self._collection.query(
            query_embeddings=[vector.tolist()], n_results=min(k, n),
            include=["documents", "metadatas", "distances"],
        )
        out = []
        for cid, doc, meta, dist in zip(res["ids"][0], (res["documents"] or [[]])[0],
                                        (res["metadatas"] or [[]])[0],
                                        (res["distances"] or [[]])[0], strict=True):
            out.append((_chunk(cid, doc, meta), 1.0 - float(dist)))
        return out

    # -- keyword index --------------------------------------------------------------------

    def keyword(self) -> KeywordIndex:
        """The bm25 index, rebuilt from Chroma if it is missing or does not match the manifest."""
        fingerprint = self.manifest.fingerprint()
        if self._keyword is not None and self._keyword.fingerprint == fingerprint:
            return self._keyword
        loaded = KeywordIndex.load(self.keyword_dir)
        if loaded is None or loaded.fingerprint != fingerprint:
            log.info("keyword index missing or stale; rebuilding from the vector store")
            loaded = self.rebuild_keyword()
        self._keyword = loaded
        return loaded

    def keyword_stale(self) -> bool:
        return KeywordIndex.saved_fingerprint(self.keyword_dir) != self.manifest.fingerprint()

    def rebuild_keyword(self) -> KeywordIndex:
        wanted = self.manifest.chunk_ids()
        chunks = [c for c in self.all_chunks() if c.id in wanted]
        index = KeywordIndex.build([(c.id, _keyword_text(c)) for c in chunks],
                                   self.manifest.fingerprint())
        index.save(self.keyword_dir)
        self._keyword = index
        return index

    # -- partnership registry -------------------------------------------------------------

    def registry_stale(self) -> bool:
        from .registry import REGISTRY_VERSION

        try:
            payload = json.loads(self.registry_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return True
        return bool(payload.get("fingerprint") != self.manifest.fingerprint()
                    or payload.get("version") != REGISTRY_VERSION)

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
        """Every partnership in the index, merged across documents."""
        from . import registry

        if self._groups is None:
            try:
                records = registry.from_json(self.registry_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                records = []
            self._groups = registry.merge(records)
        return self._groups

    # -- maintenance ----------------------------------------------------------------------

    def reset(self) -> None:
        """Drop everything: the collection, the manifest and the keyword index."""
        self.begin_change()
        self._collection  # noqa: B018 - opens the client
        with contextlib.suppress(Exception):
            self._client.delete_collection(self.collection_name)
        self._coll = None
        self.manifest = Manifest()
        self.manifest_path.unlink(missing_ok=True)
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
def _reachable(host: str | None, port: int) -> Iterator[None]:
    """A failed call to a Chroma server becomes one clear error; the next call tries again."""
    try:
        yield
    except KPError:
        raise
    except Exception as exc:  # httpx transport errors and Chroma's own; the user needs one line
        if not host:
            raise
        raise StoreUnavailable(f"{host}:{port}", f"{type(exc).__name__}: {exc}") from exc


class _ServerCollection:
    """A Chroma server's collection whose failing calls raise StoreUnavailable, not httpx errors."""

    def __init__(self, collection: Any, host: str, port: int) -> None:
        self._collection, self._host, self._port = collection, host, port

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._collection, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with _reachable(self._host, self._port):
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
        where = f"the Chroma server at {host}:{port}" if host else f"{index_dir / 'chroma'}"
        raise KPError(f"Cannot open the vector store ({where}): {exc}") from exc


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
