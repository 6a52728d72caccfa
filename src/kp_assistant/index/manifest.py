"""What is indexed: one record per file (content hash, chunk ids, title, pages), saved as JSON.

A file is listed only after all its chunks are stored, so the manifest is what every reader
trusts; files are written whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kp_assistant.errors import CorruptIndex

MANIFEST_VERSION = 1

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

    def summary(self, min_confidence: float) -> dict[str, Any]:
        """Documents, chunks, failures and OCR'd pages (those below `min_confidence` are
        uncertain), as `kp-assistant stats` and the staff area show them."""
        def ocr(pages: dict[str, float]) -> dict[str, Any]:
            return {
                "pages": sorted(int(n) for n in pages),
                "mean_confidence": round(sum(pages.values()) / len(pages), 1),
                "uncertain_pages": sorted(int(n) for n, c in pages.items() if c < min_confidence),
            }

        return {
            "corpus": self.root,
            "documents": len(self.files),
            "chunks": len(self.chunk_ids()),
            "failed": dict(self.failed),
            "files": {src: {"title": r.title, "pages": r.pages, "chunks": len(r.chunks)}
                      for src, r in sorted(self.files.items())},
            "ocr": {src: ocr(r.ocr) for src, r in sorted(self.files.items()) if r.ocr},
        }

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
        atomic_write(path, json.dumps(data, ensure_ascii=False, indent=1))


def signature(path: Path) -> Signature | None:
    """Changes when the file is replaced or rewritten; None when it is not there."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
