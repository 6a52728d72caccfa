"""What a sync must do: with each file (from its links, its hash and the manifest alone), with
a corpus folder given anew, and with what an interrupted run left behind."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kp_assistant.documents.files import hidden_target, outside_root
from kp_assistant.errors import KPError
from kp_assistant.index.manifest import Manifest

if TYPE_CHECKING:
    from kp_assistant.index.store import Store

log = logging.getLogger(__name__)

# Part of every document hash: bump it when reading or chunking changes, to re-index all.
PIPELINE_VERSION = "6"


def file_hash(path: Path, chunk_words: int, overlap: int) -> str:
    h = hashlib.sha256(f"{PIPELINE_VERSION}/{chunk_words}/{overlap}\0".encode())
    # O_NONBLOCK: a named pipe in the corpus must not make the run wait for a writer
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError("not a regular file")
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:32]


@dataclass(frozen=True)
class Look:
    failure: str = ""  # why the file cannot be indexed (as it is, with these limits)
    unchanged: bool = False
    digest: str = ""
    key: str = ""  # digest and read limits: a failure is tried again when either changes

    @property
    def needs_read(self) -> bool:
        return not (self.failure or self.unchanged)


def look(source: str, path: Path, root: Path, manifest: Manifest, limits: str,
         chunk_words: int, overlap: int) -> Look:
    """Whether `source` is unchanged, fails before it is read, or must be read."""
    try:
        escapes = outside_root(path, root)
    except RuntimeError:  # pathlib's "Symlink loop from …"
        return Look("symbolic link loop")
    if escapes:
        return Look("symbolic link pointing outside the corpus")
    if hidden_target(path, root):  # hidden files are never indexed, by any name
        return Look("symbolic link to a hidden file")
    try:
        digest = file_hash(path, chunk_words, overlap)
    except OSError as exc:
        return Look(f"cannot read file ({exc.strerror or exc})")
    if (previous := manifest.files.get(source)) and previous.hash == digest:
        return Look(unchanged=True, digest=digest)
    key = f"{digest}/{limits}"
    if source in manifest.failed and manifest.failed_keys.get(source) == key:
        return Look(manifest.failed[source], digest=digest, key=key)
    return Look(digest=digest, key=key)


def choose_root(manifest: Manifest, root: Path, files: dict[str, Path]) -> Path:
    """The folder sources are relative to: the index's own, which a sub-folder keeps."""
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


def reconcile(store: Store, manifest: Manifest) -> bool:
    """Undo an interrupted run: drop chunks no file owns and records whose chunks are gone."""
    stored = store.stored_ids()
    orphans = stored - manifest.chunk_ids()
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
