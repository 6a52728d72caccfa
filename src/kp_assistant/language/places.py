"""Place names in text: Swedish municipalities and regions, and the world's countries."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Literal

Kind = Literal["kommun", "region", "country"]
KINDS: frozenset[str] = frozenset({"kommun", "region", "country"})


@dataclass(frozen=True)
class Place:
    """For countries `name` is the Swedish name and `official` the English one."""

    name: str
    kind: Kind
    official: str


@dataclass(frozen=True)
class PlaceMention:
    place: Place
    start: int
    end: int
    surface: str


# First names, surnames or words in a partner country's language ("Mark", "Nora", Turkish
# "Eda", Swahili "sala"), where a capital letter proves nothing: only "Marks kommun" counts.
_NEEDS_SUFFIX = frozenset({"Berg", "Dorotea", "Eda", "Mark", "Nora", "Sala", "Salem", "Vilhelmina"})
# Ordinary lower-case words (vara, kil, boden, klippan, säter, trosa, English ale, kinda):
# capitalised mid-sentence they are the place; at a sentence start they could be the word.
_MID_SENTENCE_ONLY = frozenset(
    {"Ale", "Boden", "Kil", "Kinda", "Klippan", "Säter", "Trosa", "Vara"}
)
# A bare name shared by a municipality and a region means the municipality ("Stockholm",
# "Uppsala"); the region needs "Region …" or "… län". Gotland is the exception: Region Gotland
# is one body doing both jobs, and it calls itself the region.
_BARE_MEANS_REGION = frozenset({"Gotland"})
_EXONYMS = {"Göteborg": ("Gothenburg",)}
# "svenska kommuner" / "Swedish municipalities" is the programme's own vocabulary, not a
# mention of Sweden.
_NO_ADJECTIVE = frozenset({"Sverige"})
# Also an English word in place names ("Robben Island", "Rhode Island").
_NOT_AFTER_CAPITALISED = frozenset({"Island"})

_SUFFIXES = ("kommun", "Kommun", "stad", "Stad")
_EN_SUFFIXES = ("Municipality", "municipality")
_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s")
_PREV_WORD = re.compile(r"(\w+)[ \t]+$")
_OPENERS = " \t\r\n\"'“”‘’«»([*_>#•–-"
# Preference when one written form names several places of different kinds; lower wins.
_PREFIXED_REGION, _NAME, _BARE_REGION = 0, 1, 2


@dataclass(frozen=True)
class _Entry:
    surface: str
    places: tuple[Place, ...]  # in order of preference
    mid_sentence_only: bool


def _rows(filename: str) -> list[dict[str, str]]:
    text = files("kp_assistant").joinpath("data", filename).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))


@lru_cache(maxsize=1)
def municipalities() -> tuple[Place, ...]:
    return tuple(Place(r["name"], "kommun", r["official"]) for r in _rows("municipalities.tsv"))


@lru_cache(maxsize=1)
def regions() -> tuple[Place, ...]:
    return tuple(Place(r["name"], "region", r["official"]) for r in _rows("regions.tsv"))


@lru_cache(maxsize=1)
def countries() -> tuple[Place, ...]:
    return tuple(Place(r["sv"], "country", r["en"]) for r in _rows("countries.tsv"))


def _genitive(name: str) -> str:
    return name if name[-1] in "sxz" else name + "s"


def _spellings(name: str) -> set[str]:
    """Both ways of joining a name: "Upplands Väsby" / "Upplands-Väsby", "Upplands-Bro"."""
    return {name, name.replace("-", " "), name.replace(" ", "-")}


def _municipality_forms(place: Place) -> tuple[set[str], set[str]]:
    """(bare forms, forms with kommun/stad) of one municipality."""
    bare: set[str] = set()
    for name in (place.name, *_EXONYMS.get(place.name, ())):
        for spelling in _spellings(name):
            bare |= {spelling, _genitive(spelling)}
    stems = set(bare)
    head, _, tail = place.official.rpartition(" ")
    if tail in ("kommun", "stad"):
        stems |= _spellings(head)  # "Falu" of "Falu kommun"
    suffixed = {place.official, _genitive(place.official)}
    for stem in stems:
        for suffix in _SUFFIXES:
            suffixed |= {f"{stem} {suffix}", f"{stem} {suffix}s"}
        for suffix in _EN_SUFFIXES:
            suffixed.add(f"{stem} {suffix}")
        suffixed |= {f"City of {stem}", f"Municipality of {stem}"}
    return bare, suffixed


def _region_forms(place: Place, county: str) -> tuple[set[str], set[str]]:
    """(bare forms, forms with "Region"/"regionen"/"län") of one region."""
    # "Region Jönköpings län" is also called "Region Jönköping"
    short = place.name.removesuffix(" län")
    if short != place.name:
        short = short.removesuffix("s")
    prefixed = {place.official, _genitive(place.official), county, _genitive(county)}
    for name in {place.name, short}:
        prefixed |= {f"Region {name}", f"region {name}", f"Region {_genitive(name)}"}
    if short == place.name:
        prefixed |= {f"{_genitive(short)}regionen", f"{short}-regionen"}
    return {place.name, _genitive(place.name)}, prefixed


def _country_forms(row: dict[str, str]) -> Iterator[str]:
    names = [row["sv"], *filter(None, row["aliases"].split(";"))]
    yield row["en"]
    for name in names:
        yield from (name, _genitive(name))
    if row["sv"] in _NO_ADJECTIVE:
        return
    if stem := row["adjective_sv"]:
        for form in (stem, stem + "a", stem + "t", stem + "e"):
            yield from (form, form[0].upper() + form[1:])
    if adjective := row["adjective_en"]:
        yield from (adjective, _genitive(adjective))


@lru_cache(maxsize=1)
def _index() -> dict[str, list[_Entry]]:
    """Entries keyed by their first word, longest first."""
    candidates: dict[str, dict[Place, int]] = defaultdict(dict)
    mid_sentence_only: set[str] = set()

    def add(surface: str, place: Place, rank: int) -> None:
        candidates[surface][place] = min(rank, candidates[surface].get(place, rank))

    kommun_names = {p.name for p in municipalities()}
    for place in municipalities():
        bare, suffixed = _municipality_forms(place)
        for surface in suffixed:
            add(surface, place, _NAME)
        if place.name not in _NEEDS_SUFFIX:
            for surface in bare:
                add(surface, place, _NAME)
            if place.name in _MID_SENTENCE_ONLY:
                mid_sentence_only |= bare
    for place, row in zip(regions(), _rows("regions.tsv"), strict=True):
        bare, prefixed = _region_forms(place, row["county"])
        for surface in prefixed:
            add(surface, place, _PREFIXED_REGION)
        if place.name in _BARE_MEANS_REGION:
            for surface in bare:
                add(surface, place, _PREFIXED_REGION)
        elif place.name not in kommun_names:
            for surface in bare:
                add(surface, place, _BARE_REGION)
    for place, row in zip(countries(), _rows("countries.tsv"), strict=True):
        for surface in _country_forms(row):
            add(surface, place, _NAME)

    index: dict[str, list[_Entry]] = defaultdict(list)
    for surface, ranked in candidates.items():
        if places := _resolve(ranked):
            entry = _Entry(surface, places, surface in mid_sentence_only)
            index[_WORD.match(surface).group()].append(entry)  # type: ignore[union-attr]
    for entries in index.values():
        entries.sort(key=lambda e: -len(e.surface))
    return dict(index)


def _resolve(ranked: dict[Place, int]) -> tuple[Place, ...]:
    """Places in order of preference; a form naming two places of one kind
    ("kongolesisk", "Dominican") names neither."""
    by_kind: dict[str, list[tuple[int, Place]]] = defaultdict(list)
    for place, rank in ranked.items():
        by_kind[place.kind].append((rank, place))
    kept = []
    for items in by_kind.values():
        best = min(rank for rank, _ in items)
        top = [place for rank, place in items if rank == best]
        if len(top) == 1:
            kept.append((best, top[0]))
    return tuple(place for _, place in sorted(kept, key=lambda t: (t[0], t[1].kind)))


def _at_sentence_start(text: str, start: int) -> bool:
    before = text[:start]
    stripped = before.rstrip(_OPENERS)
    gap = before[len(stripped) :]
    return not stripped or stripped[-1] in ".!?:" or gap.count("\n") >= 2


def _after_capitalised_word(text: str, start: int) -> bool:
    m = _PREV_WORD.search(text, max(0, start - 40), start)
    return m is not None and m.group(1)[0].isupper()


def find_places(text: str, kinds: AbstractSet[str] | None = None) -> list[PlaceMention]:
    """Place mentions in text order, non-overlapping, the longest written form winning.

    Expects NFC text; line breaks inside a name ("Kalix\\nkommun") are allowed.
    """
    wanted = KINDS if kinds is None else frozenset(kinds)
    if unknown := wanted - KINDS:
        raise ValueError(f"unknown place kinds: {sorted(unknown)}")
    index = _index()
    flat = _SPACE.sub(" ", text)  # same length, so offsets still point into text
    mentions: list[PlaceMention] = []
    end = 0
    for word in _WORD.finditer(flat):
        start = word.start()
        if start < end:
            continue
        for entry in index.get(word.group(), ()):
            stop = start + len(entry.surface)
            if not flat.startswith(entry.surface, start):
                continue
            if stop < len(flat) and flat[stop].isalnum():
                continue
            if entry.mid_sentence_only and _at_sentence_start(text, start):
                continue
            if entry.surface in _NOT_AFTER_CAPITALISED and _after_capitalised_word(text, start):
                continue
            place = next((p for p in entry.places if p.kind in wanted), None)
            if place is not None:
                mentions.append(PlaceMention(place, start, stop, text[start:stop]))
                end = stop
                break
    return mentions


@lru_cache(maxsize=1)
def _municipality_lookup() -> dict[str, Place]:
    lookup: dict[str, Place] = {}
    for place in municipalities():
        bare, suffixed = _municipality_forms(place)
        for surface in bare | suffixed:
            lookup.setdefault(surface.casefold(), place)
    return lookup


def normalise_municipality(surface: str) -> Place | None:
    """The municipality one written form names ("Norrköpings kommun", "borås stad", "Mark").

    Case and spacing are forgiven and _NEEDS_SUFFIX does not apply: the caller already
    knows the string is meant as a municipality.
    """
    return _municipality_lookup().get(" ".join(surface.split()).casefold())


@lru_cache(maxsize=1)
def _world_region_forms() -> tuple[tuple[re.Pattern[str], str], ...]:
    """A pattern per world region (Afrika, afrikanska, African …) and the region's name as
    the countries table gives it. Swedish adjectives are stems that take -a, -t or -e."""
    out = []
    for row in _rows("world_regions.tsv"):
        forms = []
        for name in row["names"].split(";"):
            if name[0].islower():  # an adjective stem: any of its forms, either case
                forms.append(f"[{name[0].upper()}{name[0]}]{re.escape(name[1:])}[ate]?")
            else:
                forms.append(re.escape(name) + "s?")
        out.append((re.compile(r"\b(?:" + "|".join(forms) + r")\b"), row["region"]))
    return tuple(out)


def world_regions(text: str) -> list[tuple[str, str]]:
    """World regions named in text, as (the words written, the region): "afrikanska" names
    Africa."""
    return [(m.group(0), region) for pattern, region in _world_region_forms()
            for m in pattern.finditer(text)]


def countries_in(region: str) -> list[Place]:
    """The countries of a world region of the countries table ("Africa", "Asia" …)."""
    return [p for p, row in zip(countries(), _rows("countries.tsv"), strict=True)
            if row["region"] == region]
