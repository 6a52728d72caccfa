"""Chroma, persistent on disk or a `chroma run` server: opening it, and its failures as one line.

Every failing Chroma call becomes a KPError naming the store (StoreUnavailable for a server,
VectorStoreFailed for the folder), so the user never sees Chroma's own tracebacks.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kp_assistant.errors import KPError, StoreUnavailable, VectorStoreFailed
from kp_assistant.models import Chunk

SQLITE_FILE = "chroma.sqlite3"  # Chroma's name for its database in the persistent folder


def vector_problem(chroma_dir: Path, settle_s: float = 1.0) -> str | None:
    """What is wrong with the on-disk vector store, seen without opening it; None if it looks
    whole.

    A file that looks truncated is looked at again for up to `settle_s`: another process in
    the middle of writing it shows a header ahead of the file's length for a moment, while a
    truly cut file stays cut.
    """
    deadline = time.monotonic() + settle_s
    while True:
        problem, truncated = _inspect(chroma_dir / SQLITE_FILE)
        if not truncated or time.monotonic() >= deadline:
            return problem
        time.sleep(0.05)


def _inspect(db: Path) -> tuple[str | None, bool]:
    try:
        with open(db, "rb") as fh:
            header = fh.read(100)
            size = os.fstat(fh.fileno()).st_size
    except FileNotFoundError:
        return f"the vector store {db} is missing", False
    except OSError as exc:
        return f"the vector store {db} cannot be read: {exc.strerror or exc}", False
    if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
        return f"the vector store {db} is not a SQLite database", False
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # the header's page count is valid when the change counter equals "version valid for"
    if header[24:28] == header[92:96] and pages * page_size > size:
        if _hot_journal(db):
            # a writer was stopped inside a commit: SQLite puts the old pages back from the
            # journal when the file is next opened
            return None, False
        return f"the vector store {db} is truncated ({size} of {pages * page_size} bytes)", True
    return None, False


_JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")  # the start of a rollback journal's header


def _hot_journal(db: Path) -> bool:
    """Whether a rollback journal of an unfinished commit lies beside the database."""
    try:
        with open(db.with_name(db.name + "-journal"), "rb") as fh:
            return fh.read(8) == _JOURNAL_MAGIC
    except OSError:
        return False


def chunk_from(cid: str, doc: str | None, meta: Any) -> Chunk:
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
def reachable(host: str | None, port: int, folder: Path) -> Iterator[None]:
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


class CheckedCollection:
    """A Chroma collection whose failing calls raise a one-line KPError, not Chroma's own."""

    def __init__(self, collection: Any, host: str | None, port: int, folder: Path) -> None:
        self._collection, self._where = collection, (host, port, folder)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._collection, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with reachable(*self._where):
                return method(*args, **kwargs)

        return call


def make_client(index_dir: Path, host: str | None, port: int) -> Any:
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
