"""What staff may do to the corpus: list its documents, add uploads, delete, re-index.

Uploads are stored only in the top folder of the corpus, under a cleaned name, and never
replace another document unless asked to (`replace=True`). Every change is followed by a sync
of the whole corpus folder, so the index mirrors the folder as after `kp-assistant ingest`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from kp_assistant.assistant import Assistant
from kp_assistant.documents.files import discover
from kp_assistant.errors import KPError
from kp_assistant.ingest import EventHandler
from kp_assistant.models import SUPPORTED_SUFFIXES, IngestSummary

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 120
FAILURE = "Något gick fel; ingenting mer ändrades. Se serverns logg för detaljer."
MB = 1 << 20
_BLOCK = 1 << 20
# what else a name may hold besides letters and digits of any script
_KEEP = set(" -_.,()&+'")
_SIGNATURES = {".pdf": (b"%PDF-", 1024), ".docx": (b"PK\x03\x04", 4)}

DocumentStatus = Literal["indexed", "failed", "pending", "missing"]
UploadStatus = Literal["saved", "replaced", "unchanged", "refused"]
STATUS_TEXT: dict[str, str] = {
    "indexed": "inläst",
    "failed": "misslyckades",
    "pending": "ej inläst ännu",
    "missing": "filen saknas",
}


class StaffError(KPError):
    """A staff action that was refused; the message says why, in Swedish.

    `status` is the HTTP status the JSON routes answer with.
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def safe_filename(name: str) -> str:
    """A plain file name from whatever a browser or client sent.

    Keeps letters of any script (å, ä, ö), digits and a few punctuation marks; drops path
    parts, control and formatting characters (such as right-to-left overrides), and leading
    dashes and dots; collapses spaces; limits the length. "" when nothing usable is left.
    """
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        c if c.isalnum() or c in _KEEP else " "
        for c in name
        if not unicodedata.category(c).startswith("C")
    )
    name = re.sub(r"\s+", " ", name).strip().lstrip("-. _")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = stem.rstrip(" .")
    suffix = re.sub(r"[^0-9A-Za-z]", "", suffix).lower()[:10]
    room = MAX_NAME_CHARS - len(suffix) - 1
    stem = stem[:room].rstrip(" .") or ("dokument" if suffix else "")
    return f"{stem}.{suffix}" if suffix else stem


def check_type(name: str, head: bytes) -> None:
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        allowed = ", ".join(sorted(SUPPORTED_SUFFIXES))
        shown = f"Filtypen {suffix}" if suffix else "En fil utan filändelse"
        raise StaffError(f"{shown} kan inte läsas in. Tillåtna filtyper: {allowed}.", 415)
    signature = _SIGNATURES.get(suffix)
    if signature and signature[0] not in head[: signature[1]]:
        raise StaffError(f"”{name}” är ingen giltig {suffix[1:].upper()}-fil.", 415)


@dataclass(frozen=True)
class DocumentRow:
    source: str
    title: str
    status: DocumentStatus
    pages: int = 0
    chunks: int = 0
    reason: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "dokument": self.source,
            "titel": self.title,
            "status": self.status,
            "sidor": self.pages,
            "avsnitt": self.chunks,
            "orsak": self.reason,
        }


@dataclass(frozen=True)
class UploadResult:
    name: str  # the stored name, or the cleaned name of a refused upload
    status: UploadStatus
    message: str

    def to_json(self) -> dict[str, str]:
        return {"dokument": self.name, "status": self.status, "meddelande": self.message}


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


class StaffService:
    """The corpus operations behind the staff page and its JSON routes."""

    def __init__(self, assistant: Assistant, *, max_bytes: int) -> None:
        self.assistant = assistant
        self.max_bytes = max_bytes
        # one change at a time: uploads, deletions and re-indexing all sync the same index;
        # reentrant, so that an upload can hold it across saving and syncing
        self._lock = threading.RLock()

    @property
    def root(self) -> Path:
        """The corpus folder: the indexed one, or the configured one for an empty index."""
        return (self.assistant.corpus_root or self.assistant.settings.corpus_dir).resolve()

    @property
    def max_mb(self) -> str:
        return f"{round(self.max_bytes / MB, 2):g} MB"

    def _files(self) -> dict[str, Path]:
        return discover([self.root])[1] if self.root.is_dir() else {}

    def documents(self) -> list[DocumentRow]:
        """Every document of the index and of the corpus folder, with its status."""
        stats = self.assistant.stats()
        on_disk = self._files()
        rows = [
            DocumentRow(
                src,
                meta["title"],
                "indexed" if src in on_disk else "missing",
                meta["pages"],
                meta["chunks"],
            )
            for src, meta in stats["files"].items()
        ]
        rows += [DocumentRow(src, "", "failed", reason=why) for src, why in stats["failed"].items()]
        known = set(stats["files"]) | set(stats["failed"])
        rows += [DocumentRow(src, "", "pending") for src in on_disk if src not in known]
        return sorted(rows, key=lambda r: r.source.casefold())

    # -- uploads --------------------------------------------------------------------------

    def save_upload(self, name: str, data: BinaryIO, *, replace: bool = False) -> UploadResult:
        """Store one uploaded file in the corpus folder; the index is not touched."""
        clean = safe_filename(name)
        if not clean:
            raise StaffError(f"Filnamnet ”{name[:80]}” går inte att använda.")
        head = data.read(1024)
        check_type(clean, head)
        root = self.root
        root.mkdir(parents=True, exist_ok=True)
        with self._received(root, head, data) as (tmp, digest):
            target = root / clean
            if target.is_symlink():
                raise StaffError(
                    f"”{clean}” är en länk i dokumentmappen och ersätts inte här.", 409
                )
            if target.exists():
                if target.is_file() and _digest(target) == digest:
                    known = clean in self.assistant.store.manifest.files
                    return UploadResult(
                        clean,
                        "unchanged",
                        f"”{clean}” finns redan med samma "
                        f"innehåll{' (redan inläst)' if known else ''}.",
                    )
                if not replace:
                    raise StaffError(
                        f"Det finns redan ett annat dokument som heter ”{clean}”. Byt namn på "
                        "filen, eller välj ”Ersätt dokument med samma namn”.",
                        409,
                    )
                twin = self._same_content(digest, tmp.stat().st_size, skip=clean)
                if twin:
                    raise StaffError(f"Samma innehåll finns redan som ”{twin}”.", 409)
                os.replace(tmp, target)
                log.info("upload replaced %s", clean)
                return UploadResult(clean, "replaced", f"”{clean}” ersattes med den nya filen.")
            twin = self._same_content(digest, tmp.stat().st_size, skip=clean)
            if twin:
                raise StaffError(f"Samma innehåll finns redan som ”{twin}”; inget sparades.", 409)
            try:
                os.link(tmp, target)  # fails if the name was taken meanwhile: no overwrite
            except FileExistsError:
                raise StaffError(
                    f"”{clean}” sparades av någon annan just nu; försök igen.", 409
                ) from None
            log.info("upload saved %s", clean)
            return UploadResult(clean, "saved", f"”{clean}” sparades.")

    @contextlib.contextmanager
    def _received(self, root: Path, head: bytes, data: BinaryIO) -> Iterator[tuple[Path, str]]:
        """The upload in a hidden file of the corpus folder (ingest skips it), and its hash."""
        tmp = root / f".uppladdning-{secrets.token_hex(8)}.tmp"
        h = hashlib.sha256(head)
        size = len(head)
        try:
            with open(tmp, "xb") as out:
                out.write(head)
                for block in iter(lambda: data.read(_BLOCK), b""):
                    size += len(block)
                    if size > self.max_bytes:
                        raise StaffError(f"Filen är större än gränsen på {self.max_mb}.", 413)
                    h.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            if size == 0:
                raise StaffError("Filen är tom.")
            yield tmp, h.hexdigest()
        finally:
            tmp.unlink(missing_ok=True)

    def _same_content(self, digest: str, size: int, *, skip: str) -> str | None:
        for source, path in self._files().items():
            if source == skip or not path.is_file() or path.is_symlink():
                continue
            with contextlib.suppress(OSError):
                if path.stat().st_size == size and _digest(path) == digest:
                    return source
        return None

    # -- deleting and syncing -------------------------------------------------------------

    def delete(self, source: str) -> None:
        """Remove a listed document's file from the corpus folder; `sync` then unindexes it."""
        known = {r.source: r for r in self.documents()}
        if source not in known:
            raise StaffError(f"Dokumentet ”{source}” finns inte.", 404)
        path = self._files().get(source)
        if path is not None:
            path.unlink()  # a symbolic link is removed itself, never what it points to
            log.info("deleted %s", source)

    def sync(self, on_event: EventHandler | None = None) -> IngestSummary:
        """Make the index mirror the corpus folder, reporting each file to `on_event`."""
        with self.changing():
            root = self.root
            if not root.is_dir():
                raise StaffError(f"Dokumentmappen {root} finns inte.")
            summary = self.assistant.ingest([root], on_event=on_event)
        if summary.added or summary.updated:
            self.assistant.warm_sentences_later()  # new sentences, for quick answers
        return summary

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """Held while files are added, removed or indexed: one change at a time."""
        if not self._lock.acquire(timeout=2):
            raise StaffError("En annan inläsning pågår just nu; försök igen om en stund.", 409)
        try:
            yield
        finally:
            self._lock.release()


def summary_text(summary: IngestSummary) -> str:
    """One line in Swedish, like the CLI's summary."""
    parts = [
        f"{len(summary.added)} nya",
        f"{len(summary.updated)} ändrade",
        f"{len(summary.removed)} borttagna",
        f"{len(summary.unchanged)} oförändrade",
        f"{len(summary.failed)} misslyckade",
    ]
    return (
        f"Inläsningen är klar: {', '.join(parts)}; {summary.chunks_total} avsnitt i indexet "
        f"({summary.seconds:.1f} s)."
    )
