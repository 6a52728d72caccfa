"""Make the index mirror a folder: add new files, re-embed changed ones, drop deleted ones."""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from kp_assistant.documents.files import discover, hidden_target, outside_root
from kp_assistant.documents.ocr import OcrOptions
from kp_assistant.documents.sandbox import PageProgress, Sandbox
from kp_assistant.embedding import Embedder, QueryCache
from kp_assistant.errors import IngestStopped, KPError, UnreadableDocument
from kp_assistant.index.store import FileRecord, Manifest, Store
from kp_assistant.models import (
    Chunk,
    FileEvent,
    FileStatus,
    IngestSummary,
    ParsedDocument,
)
from kp_assistant.registry.storage import RegistryFile

log = logging.getLogger(__name__)

# Part of every document hash: bump it when reading or chunking changes, to re-index all.
PIPELINE_VERSION = "3"
# sentence vectors of the partnership registry, kept between runs (see QueryCache)
QUERY_CACHE = "query_vectors.npz"

EventHandler = Callable[[FileEvent], None]
STOP_CHECK_CHUNKS = 64  # chunks embedded between two looks at the stop flag


def file_hash(path: Path, chunk_words: int, overlap: int) -> str:
    h = hashlib.sha256(f"{PIPELINE_VERSION}/{chunk_words}/{overlap}\0".encode())
    # O_NONBLOCK: a named pipe in the corpus must not make the run wait for a writer
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError("not a regular file")
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:32]


class Ingestor:
    def __init__(
        self,
        store: Store,
        embedder: Embedder | Callable[[], Embedder],
        embedder_name: str,
        *,
        chunk_words: int = 110,
        overlap: int = 1,
        read_timeout: float = 60,
        read_memory_mb: int = 2048,
        read_max_chars: int | None = 10_000_000,
        stop: threading.Event | None = None,
        embed_timeout: float = 600,
        registry: RegistryFile | None = None,
        ocr: OcrOptions | None = None,
        ocr_timeout: float | None = None,
        ocr_min_confidence: float = 60,
    ) -> None:
        self.store = store
        self.registry = registry or RegistryFile(store.index_dir)
        # set from another thread (server shutdown) to end the run at its next file
        self.stop = stop or threading.Event()
        self.embed_timeout = embed_timeout
        # the run's own copy: the store's stays as last saved, for chat threads reading it
        self.manifest = Manifest()
        self._embedder = embedder
        self.embedder_name = embedder_name
        self.chunk_words = chunk_words
        self.overlap = overlap
        # every file is parsed in this child process, started at the first changed file
        self.sandbox = Sandbox(timeout_s=read_timeout, memory_mb=read_memory_mb,
                               max_chars=read_max_chars, ocr=ocr, ocr_timeout_s=ocr_timeout)
        self.ocr_min_confidence = ocr_min_confidence

    @property
    def embedder(self) -> Embedder:
        # the model is loaded only when something has to be embedded
        if not isinstance(self._embedder, Embedder):
            self._embedder = self._embedder()
        return self._embedder

    def run(self, paths: Iterable[Path], *, rebuild: bool = False,
            on_event: EventHandler | None = None) -> IngestSummary:
        started = time.perf_counter()
        given = [Path(p).resolve() for p in paths]
        store = self.store
        root, files = discover(given)  # before any reset: a mistyped path must not wipe the index
        if rebuild:
            store.reset()
            self.registry.reset()
        store.check_embedder(self.embedder_name)
        store.check()  # a lost or damaged vector store is beyond repair by a sync
        manifest = self.manifest = copy.deepcopy(store.manifest)
        root = self._choose_root(root, files)
        manifest.embedder = self.embedder_name
        summary = IngestSummary()
        if not files.keys() <= manifest.files.keys():
            self.sandbox.start()  # a new file needs reading: the reader starts while Chroma opens
        # a clean previous run leaves nothing to repair, so Chroma need not even be opened
        changed = self._reconcile() if store.was_interrupted() or not manifest.files else False
        failed_before = dict(manifest.failed)

        gone = [src for src in manifest.files if src not in files and _inside(root / src, given)]
        total = len(files) + len(gone)
        done = 0
        try:
            for source, path in files.items():
                self._check_stop()
                done += 1
                on_page = _page_reporter(on_event, source, done, total)
                event = self._sync_file(source, path, summary, root, on_page)
                changed |= event.status in ("added", "updated") or (
                    event.status == "failed" and failed_before.get(source) != event.reason
                )
                if on_event:
                    on_event(FileEvent(event.source, event.status, event.chunks, event.reason,
                                       done, total))
        finally:
            self.sandbox.close()
        for source in gone:
            done += 1
            self._remove(source)
            manifest.failed.pop(source, None)
            summary.removed.append(source)
            changed = True
            if on_event:
                on_event(FileEvent(source, "removed", 0, "", done, total))
        for source in list(manifest.failed):
            if source not in files and _inside(root / source, given):
                manifest.failed.pop(source)
                changed = True
        if changed or store.was_interrupted() or not store.manifest_path.exists():
            store.save_manifest(manifest)
        if changed or store.keyword_stale():
            store.rebuild_keyword()
        if changed or self.registry.stale(manifest.fingerprint()):
            self._rebuild_registry()
        store.end_change()
        summary.chunks_total = len(manifest.chunk_ids())
        summary.seconds = time.perf_counter() - started
        return summary

    def _rebuild_registry(self) -> None:
        chunks = self.store.all_chunks()  # only those the manifest lists
        fingerprint = self.store.fingerprint()
        if not self.embedder.semantic:
            self.registry.rebuild(chunks, fingerprint, None)
            return
        cache = QueryCache(self.embedder, self.store.index_dir / QUERY_CACHE)
        self.registry.rebuild(chunks, fingerprint, cache)
        log.info("registry sentences: %d embedded, %d from the cache", cache.misses, cache.hits)
        try:
            cache.save()
        except OSError as exc:  # the next run embeds those sentences again; nothing is lost
            log.warning("cannot save %s: %s", cache.path, exc)

    def _choose_root(self, root: Path, files: dict[str, Path]) -> Path:
        manifest = self.manifest
        stored = Path(manifest.root) if manifest.root else None
        if stored is None or not manifest.files:
            manifest.root = str(root)
            return root
        if stored == root:
            return root
        if root.is_relative_to(stored):
            # a sub-folder of the indexed corpus: keep paths relative to the original root
            rekeyed = {(root / k).relative_to(stored).as_posix(): v for k, v in files.items()}
            files.clear()
            files.update(rekeyed)
            return stored
        raise KPError(
            f"This index holds the corpus {stored}; {root} is outside it. Use another --index "
            "for a different folder, or `kp-assistant ingest --rebuild` to replace the corpus."
        )

    def _reconcile(self) -> bool:
        """Undo an interrupted run: drop chunks no file owns and records whose chunks are gone."""
        store, manifest = self.store, self.manifest
        stored = store.stored_ids()
        owned = manifest.chunk_ids()
        orphans = stored - owned
        if orphans:
            log.info("removing %d chunks left by an interrupted run", len(orphans))
            store.delete(orphans)
        broken = [src for src, rec in manifest.files.items() if not set(rec.chunks) <= stored]
        for src in broken:
            log.warning("%s: chunks missing from the vector store; it will be indexed again", src)
            del manifest.files[src]
        if broken:
            store.save_manifest(manifest)
        return bool(orphans or broken)

    def _sync_file(self, source: str, path: Path, summary: IngestSummary, root: Path,
                   on_page: PageProgress | None = None) -> FileEvent:
        manifest = self.manifest
        previous = manifest.files.get(source)
        try:
            escapes = outside_root(path, root)
        except RuntimeError:  # pathlib's "Symlink loop from …"
            return self._fail(source, "symbolic link loop", summary)
        if escapes:
            return self._fail(source, "symbolic link pointing outside the corpus", summary)
        if hidden_target(path, root):  # hidden files are never indexed, by any name
            return self._fail(source, "symbolic link to a hidden file", summary)
        try:
            digest = file_hash(path, self.chunk_words, self.overlap)
        except OSError as exc:
            return self._fail(source, f"cannot read file ({exc.strerror or exc})", summary)
        if previous and previous.hash == digest:
            summary.unchanged.append(source)
            return FileEvent(source, "unchanged", len(previous.chunks))
        # the read limits are part of the key: raising one retries files that hit it
        box = self.sandbox
        ocr = f"{box.ocr_timeout_s}/{box.ocr.dpi}" if box.ocr and box.ocr.enabled else "off"
        key = f"{digest}/{box.timeout_s}/{box.memory_mb}/{box.max_chars}/{ocr}/{self.embed_timeout}"
        if source in manifest.failed and manifest.failed_keys.get(source) == key:
            return self._fail(source, manifest.failed[source], summary)
        from kp_assistant.documents.chunking import (
            chunk_document,  # only a changed file needs the chunker
        )

        try:
            doc = self.sandbox.read(path, on_page=on_page)
            chunks = chunk_document(doc, source, digest, max_words=self.chunk_words,
                                    overlap=self.overlap)
            if not chunks:
                raise UnreadableDocument(str(path), "no text found")
            self._store_chunks(chunks, path)
        except UnreadableDocument as exc:
            manifest.failed_keys[source] = key
            return self._fail(source, exc.reason, summary)
        manifest.files[source] = FileRecord(
            hash=digest, chunks=[c.id for c in chunks], title=doc.title,
            pages=sum(1 for p in doc.pages if p.number is not None) or len(doc.pages),
            ocr=self._ocr_pages(source, doc),
        )
        manifest.failed.pop(source, None)
        # the manifest is saved before old chunks go, so a crash here leaves only orphans
        self.store.save_manifest(manifest)
        if previous:
            self.store.delete(set(previous.chunks) - {c.id for c in chunks})
        summary.chunks_embedded += len(chunks)
        status: FileStatus = "updated" if previous else "added"
        (summary.updated if previous else summary.added).append(source)
        return FileEvent(source, status, len(chunks))

    def _ocr_pages(self, source: str, doc: ParsedDocument) -> dict[str, float]:
        read = {str(p.number): p.ocr_confidence for p in doc.pages
                if p.ocr_confidence is not None and p.number is not None}
        low = [n for n, conf in read.items() if conf < self.ocr_min_confidence]
        if low:  # indexed all the same: an uncertain page beats a missing one; citations say so
            log.warning("%s: page(s) %s read by OCR with low confidence (below %g)", source,
                        ", ".join(low), self.ocr_min_confidence)
        return read

    def _store_chunks(self, chunks: list[Chunk], path: Path) -> None:
        texts = [_embed_text(c) for c in chunks]
        parts = []
        deadline = time.monotonic() + self.embed_timeout
        for start in range(0, len(texts), STOP_CHECK_CHUNKS):  # a long file stops midway too
            self._check_stop()
            if time.monotonic() > deadline:  # one file must not hold a sync (and its lock)
                raise UnreadableDocument(str(path), f"embedding took longer than "
                                         f"{self.embed_timeout:g} s (limit KP_EMBED_TIMEOUT)")
            parts.append(self.embedder.embed_passages(texts[start : start + STOP_CHECK_CHUNKS]))
        self.store.add(chunks, np.vstack(parts))

    def _check_stop(self) -> None:
        if self.stop.is_set():
            # what is stored so far is consistent; the next run goes on from there
            raise IngestStopped()

    def _fail(self, source: str, reason: str, summary: IngestSummary) -> FileEvent:
        log.warning("%s: %s", source, reason)
        if source in self.manifest.files:
            self._remove(source)  # a stale version must not keep answering questions
        self.manifest.failed[source] = reason
        summary.failed[source] = reason
        return FileEvent(source, "failed", 0, reason)

    def _remove(self, source: str) -> None:
        record = self.manifest.files.pop(source)
        self.store.save_manifest(self.manifest)
        self.store.delete(record.chunks)


def _embed_text(c: Chunk) -> str:
    # the title tells the model which partnership a bare "kommunen" refers to
    context = c.title if c.heading in ("", c.title) else f"{c.title} – {c.heading}"
    return f"{context}\n{c.text}" if context else c.text


def _page_reporter(on_event: EventHandler | None, source: str, done: int,
                   total: int) -> PageProgress | None:
    """Progress of a long scan as "ocr" events of the file being read."""
    if on_event is None:
        return None

    def report(pages_done: int, pages: int) -> None:
        on_event(FileEvent(source, "ocr", 0, f"OCR {pages_done}/{pages}", done - 1, total))

    return report


def _inside(path: Path, scope: list[Path]) -> bool:
    return any(path == s or path.is_relative_to(s) for s in scope)
