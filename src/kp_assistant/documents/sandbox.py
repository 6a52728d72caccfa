"""Read untrusted files in a child process with a time, memory and text-size bound.

A parser that loops, recurses in C or allocates without end on a crafted file then costs one
file, not the ingest run: the parent kills the child and reports the file as unreadable.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import traceback
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kp_assistant.errors import KPError, UnreadableDocument
from kp_assistant.models import ParsedDocument

if TYPE_CHECKING:
    from kp_assistant.documents.ocr import OcrOptions

log = logging.getLogger(__name__)

Reader = Callable[[Path], ParsedDocument]
PageProgress = Callable[[int, int], None]  # (pages OCR'd, pages to OCR)
# Start-up imports Python and the readers; on a loaded machine that can take seconds.
START_TIMEOUT_S = 60.0
_CHILD = "from kp_assistant.documents.sandbox import _child_main; _child_main()"


def read_bounded(
    path: Path,
    *,
    timeout_s: float,
    memory_mb: int,
    max_chars: int | None = None,
    reader: Reader | None = None,
) -> ParsedDocument:
    """Read one file in a fresh child process. Ingestion keeps one `Sandbox` per run instead."""
    with Sandbox(timeout_s=timeout_s, memory_mb=memory_mb, max_chars=max_chars) as sandbox:
        return sandbox.read(path, reader)


class Sandbox:
    """One reader process, started on first use and reused until a file kills or stalls it.

    The child is a fresh interpreter (like multiprocessing's "spawn", not fork: the parent has
    Chroma's threads and locks), started with `python -c` so that it never re-imports the
    parent's main script. `reader` replaces `read_document` (tests only); it must be a
    module-level function, which the child imports by name. Not thread-safe.
    """

    def __init__(self, *, timeout_s: float, memory_mb: int, max_chars: int | None = None,
                 ocr: OcrOptions | None = None, ocr_timeout_s: float | None = None) -> None:
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.max_chars = max_chars
        self.ocr = ocr  # None or disabled: a PDF without text layer is refused
        # a file that needs OCR gets this bound instead of timeout_s, once OCR has started
        self.ocr_timeout_s = max(ocr_timeout_s or timeout_s, timeout_s)
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._ready = False
        self._busy = False
        self._pending: tuple[Path, Reader | None] | None = None  # sent, its answer not yet read
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the child without waiting for it, so its imports overlap the caller's work."""
        if self._process is not None and self._process.poll() is None:
            return
        self.close()
        ours, theirs = socket.socketpair()
        # the child sees the parent's sys.path, e.g. a checkout's src/ added by app.py
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        with ours, theirs:
            process = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                env=env,
            )
            conn = Connection(ours.detach())
        # kills the child if this object is dropped, or at exit (e.g. after Ctrl-C), unclosed
        self._finalizer = weakref.finalize(self, _kill, process)
        self._process, self._conn, self._ready = process, conn, False
        conn.send((self.memory_mb, self.max_chars, logging.getLogger().getEffectiveLevel()))

    def prefetch(self, path: Path, reader: Reader | None = None) -> None:
        """Have the child read `path` now, while the caller works; `read(path)` collects it."""
        if self._pending is not None:
            return  # the child reads one file at a time
        request = (path, reader, self.ocr_timeout_s, self.ocr)
        self.start()
        try:
            assert self._conn is not None
            self._conn.send(request)
        except OSError:  # the idle child has died since its last file: a fresh one
            self.close()
            self.start()
            assert self._conn is not None
            self._conn.send(request)
        self._pending, self._busy = (path, reader), True

    def read(self, path: Path, reader: Reader | None = None,
             on_page: PageProgress | None = None) -> ParsedDocument:
        """Read `path`; `on_page(done, total)` hears of every page OCR'd (first with done=0).

        The time limit counts from this call: a prefetched file is not charged for the time
        the caller spent elsewhere, only a stuck one is detected later.
        """
        if self._pending is not None and self._pending != (path, reader):
            self.close()  # the prefetched answer is not wanted; a fresh child is quicker
        if self._pending is None:
            self.prefetch(path, reader)
        self._wait_ready()
        process, conn = self._process, self._conn
        assert process is not None and conn is not None
        started = time.monotonic()
        deadline, ocr = started + self.timeout_s, False
        try:
            while True:
                wait = deadline - time.monotonic()
                if wait <= 0 or not conn.poll(wait):
                    self.close()
                    raise UnreadableDocument(str(path), self._limit(ocr))
                message = conn.recv()
                if message[0] != "ocr-page":
                    break
                _, done, total = message
                if not ocr:
                    ocr, deadline = True, started + self.ocr_timeout_s
                log.info("%s: OCR page %d of %d", path.name, done, total)
                if on_page:
                    on_page(done, total)
            kind, value, records = message
        except (EOFError, OSError):  # the child died: a signal, or C code aborting
            exitcode = _wait(process, 5)
            self.close()
            if exitcode == -signal.SIGALRM:  # its own alarm: stuck while nobody was waiting
                raise UnreadableDocument(str(path), self._limit(ocr)) from None
            raise UnreadableDocument(str(path), _crash_reason(exitcode)) from None
        self._busy, self._pending = False, None
        for name, level, message in records:
            logging.getLogger(name).log(level, "%s: %s", path.name, message)
        match kind:
            case "ok":
                doc: ParsedDocument = value
                return doc
            case "unreadable":
                raise UnreadableDocument(str(path), value)
            case "memory":
                self.close()  # a fresh process: the failed allocation may have left C state behind
                limit = f"reading needed more than {self.memory_mb} MB (limit KP_READ_MEMORY_MB)"
                raise UnreadableDocument(str(path), limit)
            case _:  # a reader bug; the file is reported, the traceback logged
                log.warning("%s: reader failed\n%s", path, value[1])
                raise UnreadableDocument(str(path), f"could not be read ({value[0]})")

    def _limit(self, ocr: bool) -> str:
        if ocr:
            # pages read so far are cached: raising the limit resumes where this run stopped
            return f"OCR took longer than {self.ocr_timeout_s:g} s (limit KP_OCR_TIMEOUT)"
        return f"reading took longer than {self.timeout_s:g} s (limit KP_READ_TIMEOUT)"

    def close(self) -> None:
        """Stop the child: politely when idle, at once when it is stuck in a file."""
        process, conn, busy, finalizer = self._process, self._conn, self._busy, self._finalizer
        self._process = self._conn = self._finalizer = self._pending = None
        self._busy = self._ready = False
        if finalizer is not None:
            finalizer.detach()
        if process is None:
            return
        if busy:
            process.kill()
        if conn is not None:
            conn.close()  # an idle child sees end-of-file and exits
        if _wait(process, 2) is None:
            _kill(process)

    def _wait_ready(self) -> None:
        if self._ready:
            return
        process, conn = self._process, self._conn
        assert process is not None and conn is not None
        busy, self._busy = self._busy, True  # if it hangs in start-up, close() must not wait
        try:
            if conn.poll(START_TIMEOUT_S) and conn.recv() == "ready":
                self._ready, self._busy = True, busy
                return
        except (EOFError, OSError):
            pass
        exitcode = _wait(process, 5)
        self.close()
        raise KPError(f"The reader process did not start ({_crash_reason(exitcode)}).")


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait()


def _wait(process: subprocess.Popen[bytes], seconds: float) -> int | None:
    try:
        return process.wait(seconds)
    except subprocess.TimeoutExpired:
        return None


def _crash_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            how = signal.Signals(-exitcode).name
        except ValueError:
            how = f"signal {-exitcode}"
    else:
        how = f"exit code {exitcode}"
    return f"reading crashed the reader process ({how})"


# --- In the child ------------------------------------------------------------------------------


class _Collect(logging.Handler):
    """Keeps the reader's log records, to be logged again in the parent."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


def _child_main() -> None:
    # Ctrl-C reaches the whole process group; the parent handles it and then stops this child.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(int(sys.argv[1]))
    memory_mb, max_chars, level = conn.recv()
    collect = _Collect()
    logging.basicConfig(level=level, handlers=[collect], force=True)
    from kp_assistant.documents.readers import (
        read_document,  # imported before "ready", so no file is charged for it
    )

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    conn.send("ready")
    while True:
        try:
            path, reader, timeout_s, ocr = conn.recv()
        except EOFError:  # the parent closed the connection, or died
            os._exit(0)  # nothing to flush; skipping interpreter teardown saves 0.15 s
        # The parent kills a stuck child; this alarm only ends one whose parent is gone.
        signal.alarm(math.ceil(timeout_s * 2) + 1)

        def progress(done: int, total: int) -> None:
            conn.send(("ocr-page", done, total))

        read = reader or functools.partial(read_document, ocr=ocr, progress=progress)
        result = _read_one(path, read, max_chars)
        signal.alarm(0)
        try:
            conn.send((*result, collect.records))
        except MemoryError:  # pickling a huge result
            conn.send(("memory", None, collect.records))
        collect.records = []


def _read_one(path: Path, reader: Reader, max_chars: int | None) -> tuple[str, Any]:
    try:
        doc = reader(path)
    except UnreadableDocument as exc:
        return "unreadable", exc.reason
    except MemoryError:
        return "memory", None
    except Exception as exc:
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:120]
        return "error", (detail, traceback.format_exc())
    chars = sum(len(page.text) for page in doc.pages)
    if max_chars is not None and chars > max_chars:
        reason = f"text longer than {max_chars:,} characters ({chars:,}; limit KP_READ_MAX_CHARS)"
        return "unreadable", reason
    return "ok", doc
