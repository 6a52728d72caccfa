"""Check each sentence a language model wrote against the passages it cites, without a model.

A sentence passes when its cited passages hold its content words (stemmed; compounds and
inflections matched by prefix, suffix or character 4-grams), every number, month and name it
states, and agree with it on negation. The checks are deliberately lexical: they cannot prove a
sentence true, but they catch the common ways a model strays from its sources.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from kp_assistant.answering.question import glossary_entries, term_matches
from kp_assistant.documents.chunking import split_sentences
from kp_assistant.index.keyword import tokenize
from kp_assistant.models import Chunk

# Share of a sentence's content words its passages must hold. Chosen before any measurement:
# a paraphrase keeps most of its source's words, a claim from elsewhere does not.
MIN_COVERAGE = 0.6

MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_MARKER_AFTER_STOP = re.compile(r"([.!?])[ \t]*((?:\[\d+(?:\s*[,;]\s*\d+)*\][ \t]*)+)")
_LEADING_MARKERS = re.compile(r"^((?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+)[\s.]*")
_NUMBER = re.compile(r"(?<![\w.,])(?:\d{1,3}(?:[ \u00a0]\d{3})+|\d+)(?:[.,]\d+)?(?!\w)")
_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*", re.UNICODE)
_NAME = re.compile(r"\b[A-ZÅÄÖÉ][\w'’-]*\w|\b[A-ZÅÄÖ]{2,}\b")
_GENITIVE = re.compile(r"(:s|:n|'s|’s)$")
_NUMBER_WORDS = {
    "noll": 0, "två": 2, "tre": 3, "fyra": 4, "fem": 5, "sex": 6, "sju": 7, "åtta": 8,
    "nio": 9, "tio": 10, "elva": 11, "tolv": 12, "tretton": 13, "fjorton": 14, "femton": 15,
    "sexton": 16, "sjutton": 17, "arton": 18, "nitton": 19, "tjugo": 20, "trettio": 30,
    "fyrtio": 40, "femtio": 50, "hundra": 100, "tusen": 1000, "zero": 0, "two": 2,
    "three": 3, "four": 4, "five": 5, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "twenty": 20, "hundred": 100, "thousand": 1000,
}
_SCALES = {"tusen": 1e3, "thousand": 1e3, "miljon": 1e6, "miljoner": 1e6, "million": 1e6,
           "millions": 1e6, "mkr": 1e6, "miljard": 1e9, "miljarder": 1e9, "billion": 1e9}
_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "maj": 5, "may": 5, "jun": 6, "jul": 7, "aug": 8,
    "sep": 9, "okt": 10, "oct": 10, "nov": 11, "dec": 12,
}
_MONTH_WORD = re.compile(
    r"\b(januari|january|februari|february|mars|march|april|maj|may|juni|june|juli|july|"
    r"augusti|august|september|oktober|october|november|december)\b", re.I
)
_NEGATION = frozenset(
    "inte ej icke aldrig ingen inget inga varken not no never none cannot neither nor".split()
)
_NEGATION_SUFFIX = re.compile(r"\w+n't\b", re.I)
# Words about the documents themselves: "Enligt dokumenten …" adds nothing to check.
_META = frozenset(tokenize(
    "ja nej yes dokument dokumenten dokumentet källa källan utdrag utdraget utdragen stycke "
    "passage passagen text texten information uppgift uppgifter står framgår anges nämns "
    "enligt according document documents source passage excerpt states mentions says"
))
# Sentences in a passage that address a reader or a model with orders are not evidence: a
# model that obeys one would otherwise be "supported" by the very instruction it followed.
_INSTRUCTION = re.compile(
    r"\b(ignor\w*|disregard|glöm|forget|bortse\s+från)\b.{0,60}\b(instru\w*|tidigare|previous|"
    r"above|ovan|prompt\w*|regler|rules)"
    r"|\b(system\s*-?prompt\w*|systemmeddelande\w*)\b"
    r"|^\W*(system|assistant|assistent|user|användare)\s*:"
    r"|\b(du är nu|you are now|från och med nu|from now on|act as|agera som|låtsas att)\b"
    r"|\b(svara|answer|respond|reply|säg|say|skriv|write|tell the user)\s+(bara|endast|alltid|"
    r"only|always|att|that)\b",
    re.I,
)


def is_instruction(sentence: str) -> bool:
    return bool(_INSTRUCTION.search(sentence))


@dataclass
class Passage:
    """One numbered piece of evidence: a chunk's sentences, instructions left out."""

    n: int
    chunk: Chunk
    sentences: list[str]

    @classmethod
    def from_chunk(cls, n: int, chunk: Chunk) -> Passage:
        lines = [s for line in chunk.text.split("\n") for s in split_sentences(line)]
        kept = [s for s in lines if not s.startswith("#") and not is_instruction(s)]
        return cls(n, chunk, kept)

    @cached_property
    def facts(self) -> Facts:
        head = f"{self.chunk.title} {self.chunk.heading}"
        return Facts.of(" ".join([head, *self.sentences]), self.sentences)


@dataclass
class Facts:
    """What verification compares: stems, numbers, months, lower-cased text, per sentence."""

    stems: set[str]
    grams: set[str]
    numbers: set[float]
    months: set[int]
    lower: str
    sentence_stems: list[tuple[set[str], bool]]  # (stems, negated) of each sentence

    @classmethod
    def of(cls, text: str, sentences: Sequence[str] = ()) -> Facts:
        stems = set(tokenize(text))
        words = {w.lower() for w in _WORD.findall(text)}
        return cls(stems, {g for w in words for g in _grams(w)},
                   numbers(text, every_reading=True), months(text),
                   text.lower(), [(set(tokenize(s)), negated(s)) for s in sentences])

    def merge(self, other: Facts) -> Facts:
        return Facts(self.stems | other.stems, self.grams | other.grams,
                     self.numbers | other.numbers, self.months | other.months,
                     f"{self.lower} {other.lower}", self.sentence_stems + other.sentence_stems)


@dataclass
class Verdict:
    sentence: str  # as written, markers included
    cited: list[int]  # passage numbers the sentence is supported by (after any re-citing)
    reason: str = ""  # empty when it passed
    recited: bool = False
    support: list[int] = field(default_factory=list)  # indexes of the supporting sentences

    @property
    def ok(self) -> bool:
        return not self.reason


def strip_markers(sentence: str) -> str:
    return " ".join(MARKER.sub(" ", sentence).split()).replace(" .", ".").strip()


def markers(sentence: str) -> list[int]:
    found = [int(n) for m in MARKER.finditer(sentence) for n in re.split(r"[,;]", m.group(1))]
    return list(dict.fromkeys(found))


def numbers(text: str, *, every_reading: bool = False) -> set[float]:
    """Every number stated, digits or words, with "5 000", "5,5" and "2 miljoner" normalised.

    A number with a scale word ("2 miljoner") is read as the product; `every_reading` also
    keeps the bare number, for passages, so that either way of stating it is found there.
    """
    out: set[float] = set()
    text = MARKER.sub(" ", text)
    for m in _NUMBER.finditer(text):
        values = _readings(m.group(0).replace("\u00a0", " "))
        after = text[m.end():m.end() + 12].lower().split()
        scale = _SCALES.get(after[0].strip(".,;:"), 1.0) if after else 1.0
        scaled = {round(v * scale, 6) for v in values}
        out |= scaled | (values if every_reading else set())
    words = [w for w in _WORD.findall(text.lower())]
    for i, w in enumerate(words):
        if w in _NUMBER_WORDS:
            scale = _SCALES.get(words[i + 1], 0.0) if i + 1 < len(words) else 0.0
            if scale and w not in _SCALES:
                out.add(_NUMBER_WORDS[w] * scale)
                if not every_reading:
                    continue
            if not (i > 0 and words[i - 1] in _NUMBER_WORDS and w in _SCALES):
                out.add(float(_NUMBER_WORDS[w]))
    return out


def _readings(raw: str) -> set[float]:
    head, sep, tail = re.fullmatch(r"(\d+)(?:([.,])(\d+))?", raw.replace(" ", "")).groups()  # type: ignore[union-attr]
    if not sep:
        return {float(head)}
    values = {float(f"{head}.{tail}")}
    if len(tail) == 3:  # "1.500" or "1,500": a thousands separator or a decimal
        values.add(float(head + tail))
    return values


def months(text: str) -> set[int]:
    return {_MONTHS[m.group(1).lower()[:3]] for m in _MONTH_WORD.finditer(text)}


def negated(text: str) -> bool:
    words = {w.lower() for w in _WORD.findall(text)}
    return bool(words & _NEGATION) or bool(_NEGATION_SUFFIX.search(text))


def names(sentence: str) -> list[str]:
    """Capitalised words that are not capitalised only because they start the sentence."""
    text = strip_markers(sentence)
    out = []
    for m in _NAME.finditer(text):
        word = _GENITIVE.sub("", m.group(0))
        at_start = not text[: m.start()].strip(" \"'“”(-–*") or re.search(
            r"[.!?:]\s*[\"'“”(]*$", text[: m.start()])
        if at_start and not word.isupper():
            continue
        if word.lower() not in _NEGATION:
            out.append(word)
    return out


def _grams(word: str) -> set[str]:
    return {word[i:i + 4] for i in range(len(word) - 3)}


def _covered(stem: str, word: str, facts: Facts) -> bool:
    if stem in facts.stems or any(term_matches(stem, t) for t in facts.stems):
        return True
    for _, parts in glossary_entries().get(stem, []):
        if parts and all(p in facts.stems for p in parts):
            return True
    grams = _grams(word)
    # a compound written differently ("avfallshantering" / "hantering av avfall")
    return len(word) >= 8 and bool(grams) and len(grams & facts.grams) / len(grams) >= 0.8


def content(sentence: str) -> list[tuple[str, str]]:
    """(stem, word) pairs of the sentence's content words."""
    pairs = []
    for word in _WORD.findall(strip_markers(sentence).lower()):
        stems = tokenize(word)
        if stems and len(stems[0]) > 1 and stems[0] not in _META:
            pairs.append((stems[0], word))
    return pairs


def check(sentence: str, facts: Facts) -> tuple[str, list[int]]:
    """Why the sentence is not supported by `facts` ("" if it is), and its aligned sentences."""
    words = content(sentence)
    if not words:
        return "states nothing that can be checked", []
    covered = {stem for stem, word in words if _covered(stem, word, facts)}
    share = sum(stem in covered for stem, _ in words) / len(words)
    if share < MIN_COVERAGE:
        missing = ", ".join(dict.fromkeys(w for s, w in words if s not in covered))
        return f"only {share:.0%} of its words are in the cited passage (not: {missing})", []
    for value in sorted(numbers(sentence) - facts.numbers):
        shown = f"{int(value)}" if value.is_integer() else f"{value:g}"
        return f"number {shown} is not in the cited passage", []
    for month in sorted(months(sentence) - facts.months):
        return f"month {month} is not in the cited passage", []
    for name in names(sentence):
        if not _name_in(name, facts.lower):
            return f"name '{name}' is not in the cited passage", []
    ranked = sorted(range(len(facts.sentence_stems)),
                    key=lambda i: -len(covered & facts.sentence_stems[i][0]))
    if ranked:
        best = ranked[0]
        if negated(strip_markers(sentence)) != facts.sentence_stems[best][1]:
            which = "a negation the passage lacks" if negated(sentence) else (
                "no negation where the passage has one")
            return f"says {which}", []
        return "", [i for i in ranked[:2] if covered & facts.sentence_stems[i][0]]
    return "", []


def _name_in(name: str, lower: str) -> bool:
    word = name.lower()
    base = word[:-1] if len(word) > 4 and word.endswith("s") else word
    return base in lower


def verify(sentence: str, passages: Sequence[Passage]) -> Verdict:
    """Check one generated sentence; re-cite it when another passage supports it instead."""
    by_n = {p.n: p for p in passages}
    cited = markers(sentence)
    if not cited:
        return Verdict(sentence, [], "has no [n] marker")
    unknown = [n for n in cited if n not in by_n]
    if unknown:
        return Verdict(sentence, cited, f"cites [{unknown[0]}], which does not exist")
    facts = by_n[cited[0]].facts
    for n in cited[1:]:
        facts = facts.merge(by_n[n].facts)
    reason, support = check(sentence, facts)
    if not reason:
        return Verdict(sentence, cited, support=support)
    for p in passages:
        if p.n not in cited:
            other, support = check(sentence, p.facts)
            if not other:
                return Verdict(sentence, [p.n], recited=True, support=support)
    return Verdict(sentence, cited, reason)


def attach_markers(pieces: Iterable[str]) -> list[str]:
    """Move markers written after a sentence's full stop ("… söka. [1] Nästa") back onto it."""
    out: list[str] = []
    for piece in pieces:
        m = _LEADING_MARKERS.match(piece)
        if m and out:
            out[-1] = f"{out[-1]} {m.group(1).strip()}"
            piece = piece[m.end():]
        if piece.strip():
            out.append(piece.strip())
    return out


def unfinished(piece: str) -> bool:
    """A piece that is only a marker on its way ("[", "[1") is not yet a sentence."""
    return not re.search(r"[^\W\d_]", MARKER.sub("", piece))


def split_generated(text: str) -> list[str]:
    """A model's reply as sentences, each with the markers that belong to it."""
    text = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+", "", text, flags=re.M)  # list bullets
    # "… söka.[1] Nästa" -> "… söka [1]. Nästa", so that the split falls after the marker
    text = _MARKER_AFTER_STOP.sub(lambda m: f" {''.join(m.group(2).split())}{m.group(1)} ", text)
    return attach_markers(s for line in text.splitlines() for s in split_sentences(line))
