"""The partnership registry on disk: extracted from every chunk of an index, saved beside it.

The saved file carries the fingerprint of the chunk set it was extracted from, so a sync
knows when to extract again and readers in other processes see each new version.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from kp_assistant.embedding import Embedder
from kp_assistant.index.manifest import Signature, atomic_write, signature
from kp_assistant.models import Chunk
from kp_assistant.registry import records as registry
from kp_assistant.registry.records import REGISTRY_VERSION, PartnershipGroup

FILE_NAME = "registry.json"


class RegistryFile:
    def __init__(self, index_dir: Path) -> None:
        self.path = Path(index_dir) / FILE_NAME
        self._groups: list[PartnershipGroup] | None = None
        self._seen: Signature | None = None

    def stale(self, fingerprint: str) -> bool:
        """Whether the saved registry belongs to another chunk set or extraction version."""
        try:
            payload = json.loads(self.path.read_text(encoding="utf-8"))
            return bool(payload.get("fingerprint") != fingerprint
                        or payload.get("version") != REGISTRY_VERSION)
        except (OSError, ValueError, AttributeError):  # AttributeError: JSON but not an object
            return True

    def problem(self) -> str | None:
        """Why the saved partnership list cannot be used, or None."""
        try:
            registry.from_json(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return f"{self.path.name} is missing"
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return f"{self.path.name} is unreadable ({type(exc).__name__})"
        return None

    def rebuild(self, chunks: Sequence[Chunk], fingerprint: str,
                embedder: Embedder | None) -> None:
        """Extract every partnership from all chunks at once; documents inform each other."""
        ordered = sorted(chunks, key=lambda c: c.id)
        payload = json.loads(registry.to_json(registry.extract(ordered, embedder)))
        payload["fingerprint"] = fingerprint
        atomic_write(self.path, json.dumps(payload, ensure_ascii=False))
        self._groups = None

    def partnerships(self) -> list[PartnershipGroup]:
        """Every partnership saved, merged across documents; [] if none was saved."""
        seen = signature(self.path)
        if self._groups is None or seen != self._seen:  # re-extracted by another run
            try:
                records = registry.from_json(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                records = []
            self._groups, self._seen = registry.merge(records), seen
        return self._groups

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)
        self._groups = None
