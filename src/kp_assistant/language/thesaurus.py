"""Swedish synonyms, for a question word that no document uses ("anställda" where the documents
say "medarbetare").

The thesaurus is Viggo Kann's Swedish one (from the synonym lexicon of KTH's Folkets lexikon) in
LibreOffice's MyThes format, as Debian's `mythes-sv` package installs it at
/usr/share/mythes/th_sv_SE_v2.dat; `KP_THESAURUS` names another file of the same format, or
turns it off when empty. Without the file the assistant works as before and says so once in
its log.

The format: the first line names the file's encoding; then each entry is a line `word|n`
followed by n lines `(class)|synonym|synonym…`. Headwords are looked up as written; each
synonym keeps the stems the keyword index gives it, so that passages can be matched with it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from kp_assistant.index.keyword import tokenize

log = logging.getLogger(__name__)

DEFAULT_PATH = "/usr/share/mythes/th_sv_SE_v2.dat"

Phrase = tuple[str, tuple[str, ...]]  # a synonym as written, and its stems


class ThesaurusError(ValueError):
    """The thesaurus file is not in the MyThes format."""


@dataclass(frozen=True)
class Thesaurus:
    source: str = ""
    entries: dict[str, tuple[Phrase, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def synonyms(self, word: str) -> tuple[Phrase, ...]:
        """The synonyms of a word as written (lower-case)."""
        return self.entries.get(word, ())


def load(path: str | Path | None = DEFAULT_PATH) -> Thesaurus:
    """The thesaurus at `path`, read once per process; empty when there is none or it is
    damaged (logged: answers then go without synonyms)."""
    return _load(str(path or ""))


@lru_cache(maxsize=4)
def _load(path: str) -> Thesaurus:
    if not path:
        return Thesaurus()
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        log.info("no thesaurus at %s (%s): question words are matched as written; Debian's "
                 "package mythes-sv installs one", path, e.strerror or e)
        return Thesaurus(path)
    try:
        return Thesaurus(path, parse(raw))
    except ThesaurusError as e:
        log.warning("thesaurus %s is unreadable (%s): question words are matched as written",
                    path, e)
        return Thesaurus(path)


def parse(raw: bytes) -> dict[str, tuple[Phrase, ...]]:
    """Headword (lower-cased, as written) -> its synonyms, from a MyThes .dat file's bytes."""
    head, _, body = raw.partition(b"\n")
    encoding = head.decode("ascii", "replace").strip() or "utf-8"
    try:
        text = body.decode(encoding)
    except (LookupError, UnicodeDecodeError) as e:
        raise ThesaurusError(f"cannot decode it as {encoding!r}: {e}") from e
    out: dict[str, dict[str, Phrase]] = {}
    for word, synonyms in _entries(text.splitlines()):
        head_stems = tuple(tokenize(word))
        if len(head_stems) != 1 or len(word.split()) != 1:
            continue  # a phrase or a stop word: no question term is looked up as one
        for synonym in synonyms:
            stems = tuple(tokenize(synonym))
            if stems and stems != head_stems:
                out.setdefault(word.lower(), {}).setdefault(synonym, (synonym, stems))
    return {word: tuple(phrases.values()) for word, phrases in out.items()}


def _entries(lines: list[str]) -> Iterator[tuple[str, list[str]]]:
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        word, sep, count = line.rpartition("|")
        if not sep or not count.isdigit():
            raise ThesaurusError(f"line {i + 1}: expected 'word|count', found {line[:60]!r}")
        n = int(count)
        if i + n > len(lines):
            raise ThesaurusError(f"line {i + 1}: {word!r} announces {n} lines; the file ends")
        synonyms = [s.strip() for ln in lines[i : i + n] for s in ln.split("|")[1:] if s.strip()]
        i += n
        yield word.strip(), synonyms
