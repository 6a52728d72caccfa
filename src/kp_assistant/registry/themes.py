"""A theme taxonomy kept as data, matched in Swedish and English text and by embeddings."""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

import numpy as np

from kp_assistant.embedding import Embedder

_WORD = re.compile(r"\w+")
# Words of a multi-word term that must be written exactly ("våld mot kvinnor").
_EXACT_WORDS = {"och", "av", "mot", "med", "i", "om", "för", "på", "till", "de", "den", "det", "of",
                "and", "the"}
# How many letters an inflection may add after a compound head: "dricksvattnet", "närmiljön".
_MAX_ENDING = 4
# Embedding themes. Some descriptions sit close to any sentence about municipalities, so each
# theme's similarity to these neutral sentences is subtracted first. Then the best theme must
# clear an absolute margin (tuned on multilingual-e5-small) and stand out from the other themes.
_NEUTRAL = (
    "Kommunen får pengar för ett projekt tillsammans med sin partner.",
    "ICLD har beviljat medel till tolv svenska kommuner och regioner.",
    "Parterna träffas två gånger per år.",
    "The municipalities will work together in a partnership.",
    "Region Stockholm och Jinja (Uganda).",
)
EMBEDDING_MIN_MARGIN = 0.045
EMBEDDING_MIN_Z = 1.5


@dataclass(frozen=True)
class Theme:
    key: str
    terms: tuple[tuple[str, ...], ...]  # each term as lower-case words
    description: str


@lru_cache(maxsize=1)
def taxonomy() -> tuple[Theme, ...]:
    text = files("kp_assistant").joinpath("data", "themes.tsv").read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    themes = []
    for row in rows:
        terms = [t for col in ("terms_sv", "terms_en") for t in row[col].split(";") if t.strip()]
        words = tuple(dict.fromkeys(tuple(_WORD.findall(t.lower())) for t in terms))
        themes.append(Theme(row["theme"], words, row["description"]))
    return tuple(themes)


@lru_cache(maxsize=4096)
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("swedish")


@lru_cache(maxsize=65536)
def word_matches(term: str, word: str) -> bool:
    """One term word against one text word, both lower case, inside Swedish compounds.

    "plast" matches "plastens" and "plastavfall", "vatten" matches "dricksvattnet",
    "könsrelaterat" matches "könsrelaterade"; short words and particles must match exactly.
    """
    if term == word:
        return True
    if term in _EXACT_WORDS or len(term) < 3:
        return False
    if word.startswith(term):
        return True
    stem = _stem(term)
    if len(stem) >= 5 and word.startswith(stem):
        return True
    for part in {term, stem}:
        if len(part) < 4:
            continue
        at = word.find(part, 3)  # a compound head needs a real first part before it
        if at > 0 and len(word) - at - len(part) <= _MAX_ENDING:
            return True
    return False


@lru_cache(maxsize=65536)
def _starts(word: str) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """(theme index, term) for every term whose first word matches this word."""
    return tuple(
        (i, term) for i, theme in enumerate(taxonomy()) for term in theme.terms
        if word_matches(term[0], word)
    )


@lru_cache(maxsize=1 << 17)  # a registry's sentences, read again for each theme question
def match_themes(text: str) -> tuple[str, ...]:
    """Themes whose terms occur in text, in taxonomy order."""
    words = _WORD.findall(text.lower())
    found: set[int] = set()
    for at, word in enumerate(words):
        for i, term in _starts(word):
            rest = words[at + 1 : at + len(term)]
            if i not in found and len(rest) == len(term) - 1 and all(
                word_matches(t, w) for t, w in zip(term[1:], rest, strict=True)
            ):
                found.add(i)
    return tuple(theme.key for i, theme in enumerate(taxonomy()) if i in found)


def resolve_themes(query: str) -> set[str]:
    """The themes a user's filter value names: a theme key or any of its terms ("waste")."""
    exact = {t.key for t in taxonomy() if t.key.casefold() == query.strip().casefold()}
    return exact or set(match_themes(query))


def embedding_themes(texts: Sequence[str], embedder: Embedder) -> list[tuple[str, ...]]:
    """For each text, the one theme its meaning is clearly closest to, if any."""
    if not texts:
        return []
    themes = taxonomy()
    fixed = [f"{t.key}: {t.description}" for t in themes] + list(_NEUTRAL)
    # e5-style models expect "query: " on both sides of a symmetric comparison; one call for
    # the themes, the neutral sentences and the texts fills the encoder's batches better
    vecs = embedder.embed_queries([*fixed, *texts])
    theme_vecs = vecs[: len(themes)]
    bias = (vecs[len(themes) : len(fixed)] @ theme_vecs.T).mean(axis=0)
    margins = vecs[len(fixed) :] @ theme_vecs.T - bias
    out: list[tuple[str, ...]] = []
    for row in margins:
        best = int(np.argmax(row))
        z = (row[best] - row.mean()) / (row.std() or 1.0)
        ok = row[best] >= EMBEDDING_MIN_MARGIN and z >= EMBEDDING_MIN_Z
        out.append((themes[best].key,) if ok else ())
    return out


def ordered(keys: Iterable[str]) -> tuple[str, ...]:
    """Theme keys deduplicated, in taxonomy order (unknown keys last)."""
    rank = {t.key: i for i, t in enumerate(taxonomy())}
    return tuple(sorted(set(keys), key=lambda k: (rank.get(k, len(rank)), k)))


# --- open-vocabulary topics: the words a question asks about, found in the sentences ---------

# What a list question says about its topic: "arbetar med turism", "partnerskap om korruption",
# "work on digitalisation". Only the words after such a phrase are the topic.
_TOPIC = re.compile(
    r"\b(?:arbeta[rdt]?|arbetade|jobba[rt]?|samarbeta[rt]?|fokusera[rt]?|satsa[rt]?|handlar)\s+"
    r"(?:med|på|om|kring|inom|mot)\s+(?P<sv>[^?.!]+)"
    r"|\b(?:partnerskap|samarbeten|projekt)\s+(?:om|inom|kring|som rör|med (?:fokus|inriktning) på)"
    r"\s+(?P<sv2>[^?.!]+)"
    r"|\btema(?:t)?\s+(?P<sv3>[^?.!]+)"
    r"|\bwork(?:s|ed|ing)?\s+(?:on|with)\s+(?P<en>[^?.!]+)"
    r"|\b(?:partnerships|projects|cooperation)\s+(?:on|about|concerning)\s+(?P<en2>[^?.!]+)",
    re.I,
)
# Words of such a phrase that name no topic: the partnership itself, its parties, fillers.
_NO_TOPIC = {
    "kommun", "kommuner", "kommunen", "kommunerna", "region", "regioner", "regionen", "partner",
    "partners", "partnern", "partnerskap", "partnerskapet", "samarbete", "samarbeten", "svensk",
    "svenska", "frågor", "frågan", "området", "områden", "temat", "tema", "arbete", "arbetet",
    "projekt", "municipality", "municipalities", "regions", "partnership", "partnerships",
    "swedish", "issues", "projects", "field", "area", "theme", "landet", "länder", "countries",
}


def topic_words(question: str) -> tuple[tuple[str, ...], ...]:
    """What a list question says its partnerships work on, as alternatives of content words
    ("fiske eller sjöfart": two; "lokala guider": one of two words that must
    stand in one sentence). Places are left out: they are filters of their own.
    """
    from kp_assistant.language.places import find_places, world_regions

    m = _TOPIC.search(question)
    if not m:
        return ()
    phrase = next(g for g in m.groups() if g)
    if _NOT_A_TOPIC_START.match(phrase):  # "arbetar med i vårt projekt": no topic follows
        return ()
    for place in sorted(find_places(phrase), key=lambda p: -p.start):
        phrase = phrase[: place.start] + " " + phrase[place.end :]
    for surface, _ in world_regions(phrase):  # "afrikanska": a filter too
        phrase = re.sub(rf"\b{re.escape(surface)}\b", " ", phrase)
    stop = _stopwords()
    out = []
    for part in _ALTERNATIVES.split(phrase.lower()):
        words = tuple(dict.fromkeys(
            w for w in _WORD.findall(part)
            if len(w) >= 3 and w not in stop and w not in _NO_TOPIC and not w.isdigit()
        ))
        if words:
            out.append(words)
    return tuple(out)


_NOT_A_TOPIC_START = re.compile(
    r"(?:i|på|om|inom|av|för|till|från|sitt|sin|sina|det|den|de|dem|this|that|it|in|on|of)\b",
    re.I,
)
_ALTERNATIVES = re.compile(r"\s*(?:,|\boch\b|\beller\b|\band\b|\bor\b)\s*")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_SWEDISH

    return frozenset(STOPWORDS_SWEDISH) | frozenset(STOPWORDS_EN)


def mentions_topic(text: str | frozenset[str], topic: Sequence[Sequence[str]]) -> bool:
    """Whether a sentence (or a set of lower-case words) holds every word of one alternative,
    also inside a compound ("turism" in "ekoturismen") or as the parts of one
    ("vattenrening" in "rening av vatten i byarna")."""
    words = words_of(text) if isinstance(text, str) else text
    return _matcher(tuple(tuple(alt) for alt in topic)).matches(words)


@lru_cache(maxsize=1 << 18)  # every sentence of the registry, read again for each question
def words_of(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


@lru_cache(maxsize=64)
def _matcher(topic: tuple[tuple[str, ...], ...]) -> _TopicMatcher:
    return _TopicMatcher(topic)


class _TopicMatcher:
    """A topic's words against a sentence's words. What each term makes of a word is worked
    out once per word, so a registry's sentences cost a few set operations each."""

    def __init__(self, topic: tuple[tuple[str, ...], ...]) -> None:
        self.topic = topic
        self._lock = threading.Lock()
        terms = {t for alt in topic for t in alt}
        self._seen: dict[str, set[str]] = {t: set() for t in terms}
        self._alone: dict[str, set[str]] = {t: set() for t in terms}  # words matching the term
        # per two-part split of a term ("vatten" + "rening"): the words that are its head
        # (and do not start with the first part), and those that start with the first part
        # (as a word, or a compound of at least _MIN_PART more letters)
        self._parts = {t: [(set[str](), set[str]()) for _ in _cuts(t)] for t in terms}

    def matches(self, words: frozenset[str]) -> bool:
        with self._lock:  # the sets grow; two questions may share a matcher
            return any(all(self._term(t, words) for t in alt) for alt in self.topic)

    def _term(self, term: str, words: frozenset[str]) -> bool:
        new = words.difference(self._seen[term])
        if new:
            self._seen[term] |= new
            cuts = list(zip(_cuts(term), self._parts[term], strict=True))
            for w in new:
                if word_matches(term, w):
                    self._alone[term].add(w)
                for (first, head), (heads, firsts) in cuts:
                    if word_matches(head, w) and not w.startswith(first):
                        heads.add(w)
                    if w.startswith(first) and (w == first or len(w) - len(first) >= _MIN_PART):
                        firsts.add(w)
        if not words.isdisjoint(self._alone[term]):
            return True
        return any(not words.isdisjoint(heads) and not words.isdisjoint(firsts)
                   for heads, firsts in self._parts[term])


# The shortest part of a compound that is looked for on its own.
_MIN_PART = 4


@lru_cache(maxsize=256)
def _cuts(term: str) -> tuple[tuple[str, str], ...]:
    """The ways to read a compound term as a first part and a head, each at least _MIN_PART
    letters ("vatten" + "rening"; a linking s is left out: "avfall" + "hantering")."""
    out = []
    for cut in range(_MIN_PART, len(term) - _MIN_PART + 1):
        first, head = term[:cut], term[cut:]
        if first.endswith("s") and len(first) > _MIN_PART:
            first = first[:-1]
        out.append((first, head))
    return tuple(out)
