"""Score the partnership registry against a table of (Swedish party, partner) pairs made by hand.

Names are compared loosely, the way a reader would: type words ("kommun", "County",
"Municipality"), a genitive s before a type word, case, diacritics and punctuation do not
count, and one name may be the start of the other ("Serowe" / "Serowe Town").
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kp_assistant.errors import KPError
from kp_assistant.registry.records import to_rows

if TYPE_CHECKING:
    from kp_assistant.assistant import Assistant

Pair = tuple[str, str]

_TYPE_WORDS = re.compile(
    r"\b(?:kommun|kommuner|kommunen|stad|staden|distriktet|countyt|city council|town council"
    r"|district council|county council|municipal council|local municipality"
    r"|metropolitan municipality|municipality|county|district|council|city|town)\b",
    re.I,
)
_GOLD_COLUMNS = ("swedish", "partner")


def normalise(name: str, swedish: bool) -> str:
    """The comparable core of a name: "Kalix kommuns" -> "kalix", "Region Gävleborg" kept."""
    text = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    text = text.strip()
    region = swedish and text.lower().startswith("region ")
    typed = bool(_TYPE_WORDS.search(text))
    text = _TYPE_WORDS.sub(" ", text)
    text = re.sub(r"^region\s+", "", text, flags=re.I)
    text = " ".join(re.sub(r"[^\w\s-]", " ", text).casefold().split())
    # "Bergs kommun" is Berg: the s is a genitive only when a type word followed it
    if swedish and typed and not region and len(text) > 4 and text.endswith("s"):
        text = text[:-1]
    return f"region {text}" if region else text


def same_name(a: str, b: str) -> bool:
    return bool(a and b) and (a.startswith(b) or b.startswith(a))


def _matches(pair: Pair, others: Iterable[Pair]) -> bool:
    return any(same_name(pair[0], o[0]) and same_name(pair[1], o[1]) for o in others)


@dataclass
class RegistryScore:
    found: int
    gold: int
    precision: float
    recall: float
    extra: list[Pair] = field(default_factory=list)
    missed: list[Pair] = field(default_factory=list)

    def report(self, label: str = "") -> str:
        lines = [f"  extra   {s} – {p}" for s, p in self.extra]
        lines += [f"  missed  {s} – {p}" for s, p in self.missed]
        head = f"{label}: " if label else ""
        lines.append(f"{head}registry pairs: {self.found} found, {self.gold} gold; "
                     f"precision {self.precision:.3f} recall {self.recall:.3f}")
        return "\n".join(lines)


def load_gold(path: Path) -> set[Pair]:
    """The pairs of a hand-made table (tab-separated, columns swedish and partner at least)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KPError(f"Cannot read the partnership table {path}: {exc}") from exc
    rows = list(csv.DictReader(text.splitlines(), delimiter="\t"))
    if not rows or any(c not in rows[0] for c in _GOLD_COLUMNS):
        raise KPError(f"{path}: not a partnership table (needs the tab-separated columns "
                      f"{', '.join(_GOLD_COLUMNS)})")
    return {(normalise(r["swedish"] or "", True), normalise(r["partner"] or "", False))
            for r in rows}


def registry_pairs(rows: Sequence[dict[str, Any]]) -> set[Pair]:
    """Every (Swedish party, partner) of registry rows; a row may name several parties."""
    out = set()
    for r in rows:
        for party in re.split(r"\s*;\s*", r.get("swedish") or ""):
            if party:
                out.add((normalise(party, True), normalise(r.get("partner") or "", False)))
    return out


def score_pairs(gold: set[Pair], found: set[Pair]) -> RegistryScore:
    right = {p for p in found if _matches(p, gold)}
    seen = {g for g in gold if _matches(g, found)}
    return RegistryScore(
        found=len(found), gold=len(gold),
        precision=len(right) / len(found) if found else 0.0,
        recall=len(seen) / len(gold) if gold else 0.0,
        extra=sorted(found - right), missed=sorted(gold - seen),
    )


def evaluate_registry(assistant: Assistant, table: Path, corpus: Path, *,
                      reextract: bool = True) -> RegistryScore:
    """Ingest the corpus (only what changed is embedded), extract the registry again from the
    stored chunks (sentence vectors come from the index's cache), and score its pairs."""
    from kp_assistant.embedding import QueryCache
    from kp_assistant.ingest import QUERY_CACHE

    gold = load_gold(table)
    if not corpus.is_dir():
        raise KPError(f"The corpus folder {corpus} does not exist")
    assistant.ingest([corpus])
    if reextract:
        store = assistant.store
        cache = QueryCache(assistant.embedder, store.index_dir / QUERY_CACHE)
        assistant.registry.rebuild(store.all_chunks(), store.fingerprint(), cache)
        cache.save()
    return score_pairs(gold, registry_pairs(to_rows(assistant.registry.partnerships())))
