"""Make the index mirror a folder: add new files, re-embed changed ones, drop deleted ones."""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kp_assistant.documents.files import discover
from kp_assistant.documents.ocr import OcrOptions
from kp_assistant.documents.sandbox import PageProgress, Sandbox
from kp_assistant.embedding import Embedder, QueryCache
from kp_assistant.errors import IngestStopped, UnreadableDocument
from kp_assistant.index.changes import Look, choose_root, look, reconcile
from kp_assistant.index.store import FileRecord, Manifest, Store
from kp_assistant.models import (
    Chunk,
    FileEvent,
    IngestSummary,
    ParsedDocument,
)
from kp_assistant.registry.storage import RegistryFile

log = logging.getLogger(__name__)

# sentence vectors of the partnership registry, kept between runs (see QueryCache)
QUERY_CACHE = "query_vectors.npz"

EventHandler = Callable[[FileEvent], None]
# Small files are embedded together, up to this many chunks: one call per file left each
# file's last batch half empty and sorted fewer texts by length, which cost a quarter of the
# encoder's time on the bundled corpus (docs/benchmarks.md). A file this long has a call
# (and an embedding time limit) of its own.
EMBED_GROUP = 128
STOP_CHECK_CHUNKS = 128  # at most this many chunks embedded between two looks at the stop flag


@dataclass
class Pending:
    """A file read and chunked, waiting for its vectors."""

    source: str
    path: Path
    key: str
    chunks: list[Chunk]
    record: FileRecord
    previous: FileRecord | None


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
        self._looks: dict[str, Look] = {}
        self._scan = 0  # where the look for the next file to read goes on from
        # files handled but not yet reported, in order (`done`, and the event or the file read)
        self._queue: list[tuple[int, FileEvent | Pending]] = []
        self._waiting = 0  # chunks of the queued files, to be embedded

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
        root = choose_root(manifest, root, files)
        manifest.embedder = self.embedder_name
        summary = IngestSummary()
        if not files.keys() <= manifest.files.keys():
            self.sandbox.start()  # a new file needs reading: the reader starts while Chroma opens
        # a clean previous run leaves nothing to repair, so Chroma need not even be opened
        changed = (reconcile(store, manifest) if store.was_interrupted() or not manifest.files
                   else False)
        failed_before = dict(manifest.failed)

        gone = [src for src in manifest.files if src not in files and _inside(root / src, given)]
        total = len(files) + len(gone)
        done = 0
        items = list(files.items())
        self._looks, self._queue, self._scan, self._waiting = {}, [], 0, 0

        def report(ready: list[tuple[int, FileEvent]]) -> None:
            nonlocal changed
            for n, event in ready:
                changed |= event.status in ("added", "updated") or (
                    event.status == "failed" and failed_before.get(event.source) != event.reason
                )
                if on_event:
                    on_event(FileEvent(event.source, event.status, event.chunks, event.reason,
                                       n, total))

        def settle() -> None:
            if on_event and self._waiting:  # the bar would otherwise stand still meanwhile
                on_event(FileEvent("", "embedding", self._waiting, "", self._queue[0][0] - 1,
                                   total))
            report(self._settle(summary))

        try:
            for source, path in items:
                self._check_stop()
                done += 1
                on_page = _page_reporter(on_event, source, done, total)
                item = self._sync_file(source, path, summary, root, on_page, items, done)
                if isinstance(item, Pending) and len(item.chunks) >= EMBED_GROUP:
                    settle()  # a long file is embedded on its own
                self._queue.append((done, item))
                self._waiting += len(item.chunks) if isinstance(item, Pending) else 0
                # (a long run of unchanged files after a changed one is reported as it goes)
                if not self._waiting or max(self._waiting, len(self._queue)) >= EMBED_GROUP:
                    settle()
            settle()
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

    def _look(self, source: str, path: Path, root: Path) -> Look:
        if source not in self._looks:
            box = self.sandbox
            ocr = f"{box.ocr_timeout_s}/{box.ocr.dpi}" if box.ocr and box.ocr.enabled else "off"
            # the read limits are part of the key: raising one retries files that hit it
            limits = f"{box.timeout_s}/{box.memory_mb}/{box.max_chars}/{ocr}/{self.embed_timeout}"
            self._looks[source] = look(source, path, root, self.manifest, limits,
                                       self.chunk_words, self.overlap)
        return self._looks[source]

    def _sync_file(self, source: str, path: Path, summary: IngestSummary, root: Path,
                   on_page: PageProgress | None, items: Sequence[tuple[str, Path]],
                   ahead: int) -> FileEvent | Pending:
        """`items[ahead:]` are the files still to come, for the reader to start on the next."""
        manifest = self.manifest
        previous = manifest.files.get(source)
        look = self._look(source, path, root)
        if look.unchanged and previous:
            summary.unchanged.append(source)
            return FileEvent(source, "unchanged", len(previous.chunks))
        if not look.needs_read:
            return self._fail(source, look.failure, summary)
        from kp_assistant.documents.chunking import (
            chunk_document,  # only a changed file needs the chunker
        )

        try:
            doc = self.sandbox.read(path, on_page=on_page)
            # the reader goes on to the next file to read while this one is chunked and embedded
            # (files already found to need no read are not looked at again)
            self._scan = max(self._scan, ahead)
            while self._scan < len(items):
                next_source, next_path = items[self._scan]
                if self._look(next_source, next_path, root).needs_read:
                    self.sandbox.prefetch(next_path)
                    break
                self._scan += 1
            chunks = chunk_document(doc, source, look.digest, max_words=self.chunk_words,
                                    overlap=self.overlap)
            if not chunks:
                raise UnreadableDocument(str(path), "no text found")
        except UnreadableDocument as exc:
            manifest.failed_keys[source] = look.key
            return self._fail(source, exc.reason, summary)
        record = FileRecord(
            hash=look.digest, chunks=[c.id for c in chunks], title=doc.title,
            pages=sum(1 for p in doc.pages if p.number is not None) or len(doc.pages),
            ocr=self._ocr_pages(source, doc),
        )
        return Pending(source, path, look.key, chunks, record, previous)

    def _settle(self, summary: IngestSummary) -> list[tuple[int, FileEvent]]:
        """Embed and store the files read so far, one call for all; their events, in order."""
        queue, self._queue, self._waiting = self._queue, [], 0
        pending = [p for _, p in queue if isinstance(p, Pending)]
        try:
            vectors = self._embed([_embed_text(c) for p in pending for c in p.chunks],
                                  [p.path for p in pending])
        except UnreadableDocument as exc:  # too slow: every file of the call fails
            for p in pending:
                self.manifest.failed_keys[p.source] = p.key
            failed = {p.source: self._fail(p.source, exc.reason, summary) for p in pending}
            return [(n, failed[e.source] if isinstance(e, Pending) else e) for n, e in queue]
        if pending:
            self._store(pending, vectors, summary)
        return [(n, FileEvent(e.source, "updated" if e.previous else "added", len(e.chunks))
                 if isinstance(e, Pending) else e) for n, e in queue]

    def _store(self, pending: list[Pending], vectors: np.ndarray,
               summary: IngestSummary) -> None:
        """Chunks first, then the manifest entries; the old versions' chunks last."""
        manifest = self.manifest
        self.store.add([c for p in pending for c in p.chunks], vectors)
        for p in pending:
            manifest.files[p.source] = p.record
            manifest.failed.pop(p.source, None)
            summary.chunks_embedded += len(p.chunks)
            (summary.updated if p.previous else summary.added).append(p.source)
        # the manifest is saved before old chunks go, so a crash here leaves only orphans
        self.store.save_manifest(manifest)
        old = {cid for p in pending if p.previous for cid in p.previous.chunks}
        if old:
            self.store.delete(old - {c.id for p in pending for c in p.chunks})

    def _ocr_pages(self, source: str, doc: ParsedDocument) -> dict[str, float]:
        read = {str(p.number): p.ocr_confidence for p in doc.pages
                if p.ocr_confidence is not None and p.number is not None}
        low = [n for n, conf in read.items() if conf < self.ocr_min_confidence]
        if low:  # indexed all the same: an uncertain page beats a missing one; citations say so
            log.warning("%s: page(s) %s read by OCR with low confidence (below %g)", source,
                        ", ".join(low), self.ocr_min_confidence)
        return read

    def _embed(self, texts: list[str], paths: list[Path]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        parts = []
        # equal slices of at most STOP_CHECK_CHUNKS: a long file stops midway too
        size = math.ceil(len(texts) / math.ceil(len(texts) / STOP_CHECK_CHUNKS))
        deadline = time.monotonic() + self.embed_timeout
        for start in range(0, len(texts), size):
            self._check_stop()
            if time.monotonic() > deadline:  # one file must not hold a sync (and its lock)
                raise UnreadableDocument(", ".join(map(str, paths)), "embedding took longer "
                                         f"than {self.embed_timeout:g} s (limit KP_EMBED_TIMEOUT)")
            parts.append(self.embedder.embed_passages(texts[start : start + size]))
        return np.vstack(parts)

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
