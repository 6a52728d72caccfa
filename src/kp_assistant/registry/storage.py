"""The partnership registry on disk: extracted from every chunk of an index, saved beside it.

The saved file carries the fingerprint of the chunk set it was extracted from, so a sync
knows when to extract again and readers in other processes see each new version.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from kp_assistant.answering.rules import CountryList, extract_country_lists
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
        self._lists: list[CountryList] = []
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
        # the lists of countries a partner may be in, for questions about eligibility
        payload["country_lists"] = [u.to_json() for u in extract_country_lists(ordered)]
        payload["fingerprint"] = fingerprint
        atomic_write(self.path, json.dumps(payload, ensure_ascii=False))
        self._groups = None

    def partnerships(self) -> list[PartnershipGroup]:
        """Every partnership saved, merged across documents; [] if none was saved."""
        self._read()
        return self._groups or []

    def country_lists(self) -> list[CountryList]:
        """Every list of countries found in the documents; [] if none was saved."""
        self._read()
        return self._lists

    def _read(self) -> None:
        seen = signature(self.path)
        if self._groups is not None and seen == self._seen:
            return
        # read anew: re-extracted by another run
        try:
            text = self.path.read_text(encoding="utf-8")
            records = registry.from_json(text)
            lists = [CountryList.from_json(d) for d in json.loads(text).get("country_lists", [])]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            records, lists = [], []
        self._groups, self._lists, self._seen = registry.merge(records), lists, seen

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)
        self._groups, self._lists = None, []
