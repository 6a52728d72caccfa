"""Countries of towns from GeoNames, and the registry placing a partner no document places."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from kp_assistant.language import gazetteer
from kp_assistant.models import Chunk
from kp_assistant.registry.records import extract


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    gazetteer._index.cache_clear()
    yield gazetteer.cache_path()
    gazetteer._index.cache_clear()


def test_towns_give_their_countries_in_swedish_whatever_the_spelling(own_cache: Path) -> None:
    assert gazetteer.countries_named("Poltava") == {"Ukraina"}
    assert gazetteer.countries_named("corum") == gazetteer.countries_named("Çorum") == {"Turkiet"}
    assert gazetteer.countries_named("Gulu") >= {"Uganda", "Kina"}  # a name two countries use
    assert gazetteer.countries_named("Xqzvw") == frozenset()
    assert own_cache.is_file()


def test_the_index_is_kept_and_a_damaged_one_built_again(own_cache: Path) -> None:
    gazetteer.countries_named("Poltava")
    with own_cache.open("rb") as f:
        kept = pickle.load(f)
    assert kept["poltava"] == "UA"
    own_cache.write_bytes(b"not a pickle")
    gazetteer._index.cache_clear()
    assert gazetteer.countries_named("Poltava") == {"Ukraina"}
    with own_cache.open("rb") as f:
        assert pickle.load(f) == kept


def placed(text: str, n: int = 0) -> tuple[str, str]:
    """The partner and country of the one record that states a pair."""
    c = Chunk(id=f"pm-{n:04d}", source="pm.md", page=None, title="Vänorter",
              heading="Samarbeten", text=text, doc_hash="h")
    stated, = (r for r in extract([c]) if r.states)
    return stated.partner, stated.country


def test_a_partner_takes_the_country_its_passage_mentions_when_a_town_there_has_its_name(
) -> None:
    assert placed("Samarbeten med kommuner i Ukraina beskrivs nedan.\n"
                  "Tibro kommun | Poltava | vänort sedan 2023") == ("Poltava", "Ukraina")
    # no country in the passage: the name alone does not place it
    assert placed("Tibro kommun | Poltava | vänort sedan 2023", 1) == ("Poltava", "")
    # a name towns of both countries have is left unplaced
    assert placed("Samarbeten i Uganda och Kina beskrivs nedan.\n"
                  "Tibro kommun | Gulu | vänort sedan 2023", 2) == ("Gulu", "")
