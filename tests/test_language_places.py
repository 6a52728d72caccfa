import csv
import io
import itertools
import re
from importlib.resources import files

import pytest

from conftest import DEV_CORPUS as CORPUS
from conftest import need_shared
from kp_assistant.language.places import (
    _NEEDS_SUFFIX,
    Place,
    countries,
    find_places,
    municipalities,
    normalise_municipality,
    regions,
)


def found(text: str, kinds: set[str] | None = None) -> list[tuple[str, str, str]]:
    return [(m.surface, m.place.kind, m.place.name) for m in find_places(text, kinds)]


def corpus_text(name: str) -> str:
    need_shared()
    path = CORPUS / name
    assert path.is_file(), f"dev corpus file missing: {path}"
    return path.read_text(encoding="utf-8")


def corpus_line(name: str, marker: str) -> str:
    """The one line of a corpus file that contains marker."""
    lines = [line for line in corpus_text(name).splitlines() if marker in line]
    assert len(lines) == 1, f"expected one line with {marker!r} in {name}, got {lines}"
    return lines[0]


def corpus_span(name: str, first: str, last: str) -> str:
    """The text of a corpus file from first up to and including last (across lines)."""
    m = re.search(re.escape(first) + r".*?" + re.escape(last), corpus_text(name), re.DOTALL)
    assert m, f"no span {first!r} … {last!r} in {name}"
    return m.group()


def tsv(filename: str) -> list[dict[str, str]]:
    text = files("kp_assistant").joinpath("data", filename).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))


def k(surface: str, name: str | None = None) -> tuple[str, str, str]:
    return (surface, "kommun", name or surface)


def r(surface: str, name: str) -> tuple[str, str, str]:
    return (surface, "region", name)


def c(surface: str, name: str) -> tuple[str, str, str]:
    return (surface, "country", name)


# --- data -------------------------------------------------------------------------------


def test_municipalities_are_the_290():
    places = municipalities()
    assert len(places) == 290
    assert len({p.name for p in places}) == 290
    assert len({p.official for p in places}) == 290
    assert Place("Gotland", "kommun", "Region Gotland") in places
    assert Place("Göteborg", "kommun", "Göteborgs stad") in places
    assert Place("Norrköping", "kommun", "Norrköpings kommun") in places
    assert Place("Falun", "kommun", "Falu kommun") in places


def test_regions_are_the_21():
    places = regions()
    assert len(places) == 21
    assert len({p.name for p in places}) == 21
    assert len({p.official for p in places}) == 21
    assert Place("Gotland", "region", "Region Gotland") in places
    assert Place("Västra Götaland", "region", "Västra Götalandsregionen") in places


def test_every_municipality_lies_in_one_of_the_regions_counties():
    counties = {row["county"] for row in tsv("regions.tsv")}
    assert len(counties) == 21
    assert {row["county"] for row in tsv("municipalities.tsv")} == counties


def test_countries_are_the_un_members_plus_kosovo_and_palestine():
    places = countries()
    assert len(places) == 195
    assert len({p.name for p in places}) == len({p.official for p in places}) == 195
    assert {"Kosovo", "Palestina", "Sydafrika", "Sverige"} <= {p.name for p in places}
    world_regions = {row["region"] for row in tsv("countries.tsv")}
    assert world_regions == {
        "Africa", "Asia", "Europe", "Latin America", "Middle East", "Oceania", "North America",
    }  # fmt: skip


# --- every name, on its own ---------------------------------------------------------------


def test_every_municipality_is_found_by_name_and_official_form():
    for place in municipalities():
        # Gotland is one body; written bare or as "Region Gotland" it is the region.
        kind = "region" if place.name == "Gotland" else "kommun"
        assert found(f"Vi besökte {place.official} i maj.") == [(place.official, kind, place.name)]
        expected = [] if place.name in _NEEDS_SUFFIX else [(place.name, kind, place.name)]
        assert found(f"Vi besökte {place.name} i maj.") == expected, place


def test_every_region_is_found_by_official_form():
    for place in regions():
        assert found(f"Vi besökte {place.official} i maj.") == [r(place.official, place.name)]


def test_every_country_is_found_by_swedish_and_english_name():
    for place in countries():
        assert found(f"Vi besökte {place.name} i maj.") == [c(place.name, place.name)]
        assert found(f"We visited {place.official} in May.") == [c(place.official, place.name)]


# --- sentences from the dev corpus -----------------------------------------------------


def test_press_release_list_of_twelve():
    block = corpus_span(
        "dev_pressmeddelande_juni2020_miljonsatsning.md", "- Borås stad", "- Växjö kommun"
    )
    assert found(block) == [
        k("Borås stad", "Borås"),
        k("Forshaga kommun", "Forshaga"),
        k("Göteborgs stad", "Göteborg"),
        k("Kalix kommun", "Kalix"),
        k("Norrköpings kommun", "Norrköping"),
        k("Piteå kommun", "Piteå"),
        r("Region Gotland", "Gotland"),
        r("Region Västernorrland", "Västernorrland"),
        k("Robertsfors kommun", "Robertsfors"),
        k("Strängnäs kommun", "Strängnäs"),
        k("Umeå kommun", "Umeå"),
        k("Växjö kommun", "Växjö"),
    ]


def test_press_release_sentence_with_bare_genitive():
    sentence = (
        "Växjö, Kalix, Strängnäs, Forshaga, Region Gotland, Region Västernorrland, Borås stad, "
        "Göteborgs stad, Umeå, Norrköpings, Piteå och Robertsfors kommun"
    )
    assert found(sentence) == [
        k("Växjö"),
        k("Kalix"),
        k("Strängnäs"),
        k("Forshaga"),
        r("Region Gotland", "Gotland"),
        r("Region Västernorrland", "Västernorrland"),
        k("Borås stad", "Borås"),
        k("Göteborgs stad", "Göteborg"),
        k("Umeå"),
        k("Norrköpings", "Norrköping"),
        k("Piteå"),
        k("Robertsfors kommun", "Robertsfors"),
    ]


def test_press_release_kenyan_adjective():
    line = corpus_line(
        "dev_pressmeddelande_juni2020_miljonsatsning.md", "förnyar samarbetet med kenyanska"
    )
    assert found(line) == [
        r("Region Västernorrland", "Västernorrland"),
        c("Kenya", "Kenya"),
        r("Region Västernorrland", "Västernorrland"),
        c("kenyanska", "Kenya"),
    ]


def test_recipients_2021_bare_names_and_regions():
    line = corpus_line("dev_beviljade_maj2021_8_4_miljoner.md", "Mottagare denna gång")
    assert found(line) == [
        k("Forshaga"),
        r("Gotland", "Gotland"),
        r("Region Gotland", "Gotland"),
        k("Hultsfred"),
        r("Region Östergötland", "Östergötland"),
        k("Jönköping"),
        k("Göteborg"),
        k("Åmål"),
        r("Region Stockholm", "Stockholm"),
    ]


def test_lundazi_is_not_lund():
    line = corpus_line("dev_beviljade_maj2021_8_4_miljoner.md", "Lundazi District Council")
    assert found(line) == [k("Forshaga kommun", "Forshaga"), c("Zambia", "Zambia")]
    assert found("Lundazi District Council i Zambia") == [c("Zambia", "Zambia")]


def test_gothenburg_in_south_africa():
    line = corpus_line("dev_beviljade_maj2021_8_4_miljoner.md", "Nelson Mandela Bay i Sydafrika")
    assert found(line) == [k("Göteborgs stad", "Göteborg"), c("Sydafrika", "Sydafrika")]


def test_numbered_list_2019_with_regions_and_a_non_municipality():
    block = corpus_span("dev_beviljade_juni2019_18_projekt.txt", " 1. Arvika", "12. Upplands-Bro")
    assert found(block) == [
        k("Arvika"),
        k("Borlänge"),
        r("Gotland", "Gotland"),
        k("Härryda"),
        k("Kalix"),
        # "Sjuhärad (Sjuhärads kommunalförbund)" is an association, not a municipality
        k("Skellefteå"),
        k("Sundsvall"),
        k("Vänersborg"),
        r("Västernorrland", "Västernorrland"),
        k("Växjö"),
        k("Upplands-Bro"),
    ]


def test_somali_refugees():
    line = corpus_line("dev_beviljade_juni2019_18_projekt.txt", "somaliska flyktingar")
    assert found(line) == [c("somaliska", "Somalia")]


def test_english_country_list():
    span = corpus_span("dev_en_24_new_partnerships_2018.txt", "In this round", "Vietnam.")
    assert [name for _, _, name in found(span)] == [
        "Tanzania", "Botswana", "Kenya", "Zambia",
        "Georgien", "Kosovo", "Moldavien", "Sydafrika", "Vietnam",
    ]  # fmt: skip


def test_english_exonym_and_country_names():
    line = corpus_line("dev_en_24_new_partnerships_2018.txt", "Gothenburg (Sweden)")
    assert found(line) == [
        k("Gothenburg", "Göteborg"),
        c("Sweden", "Sverige"),
        c("South Africa", "Sydafrika"),
    ]


def test_english_table_row():
    line = corpus_line("dev_en_programme_overview.md", "| Europe |")
    assert found(line) == [
        c("Bosnia and Herzegovina", "Bosnien och Hercegovina"),
        c("Kosovo", "Kosovo"),
        c("Serbia", "Serbien"),
        c("Ukraine", "Ukraina"),
    ]


def test_swedish_country_lists():
    europe = corpus_line("dev_faq_for_sokande.md", "**Europa:**")
    assert [name for _, _, name in found(europe)] == [
        "Bosnien och Hercegovina", "Georgien", "Kosovo", "Nordmakedonien",
        "Moldavien", "Serbien", "Turkiet", "Ukraina",
    ]  # fmt: skip
    africa = corpus_line("dev_faq_for_sokande.md", "**Afrika:**")
    assert [name for _, _, name in found(africa)] == [
        "Botswana", "Kenya", "Moçambique", "Namibia", "Sydafrika", "Tanzania", "Uganda", "Zambia",
    ]  # fmt: skip


def test_municipality_with_its_region_in_brackets():
    line = corpus_line("dev_partnerskap_kalix_masaka.md", "**Svensk part:**")
    assert found(line) == [k("Kalix kommun", "Kalix"), r("Norrbotten", "Norrbotten")]
    line = corpus_line("dev_partnerskap_kalix_masaka.md", "i övriga Norrbotten")
    assert found(line) == [
        k("Kalix kommun", "Kalix"),
        k("Kalix"),
        r("Norrbotten", "Norrbotten"),
    ]


def test_genitive_and_adjective_in_wrapped_text():
    assert found(corpus_line("dev_partnerskap_arvika_moisbridge.txt", "Arvikas projekt-")) == [
        k("Arvikas", "Arvika")
    ]
    assert found(corpus_line("dev_partnerskap_arvika_moisbridge.txt", "tre kenyanska län")) == [
        c("kenyanska", "Kenya")
    ]


# --- rules on made-up text -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Kalix kommun har beviljats medel.", [k("Kalix kommun", "Kalix")]),
        ("Kalix kommuns talesperson", [k("Kalix kommuns", "Kalix")]),
        ("Göteborgs stads projekt", [k("Göteborgs stads", "Göteborg")]),
        ("Borås Stad och Borås stad", [k("Borås Stad", "Borås"), k("Borås stad", "Borås")]),
        ("Norrköpings, Piteå och Robertsfors kommun", [
            k("Norrköpings", "Norrköping"), k("Piteå"), k("Robertsfors kommun", "Robertsfors"),
        ]),
        ("Upplands Väsby och Malung-Sälen", [k("Upplands Väsby"), k("Malung-Sälen")]),
        ("Falu kommun ligger i Falun.", [k("Falu kommun", "Falun"), k("Falun")]),
        ("City of Gothenburg", [k("City of Gothenburg", "Göteborg")]),
        ("Kalix\nkommun", [k("Kalix\nkommun", "Kalix")]),
    ],
)  # fmt: skip
def test_municipality_forms(text, expected):
    assert found(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Stockholm och Uppsala", [k("Stockholm"), k("Uppsala")]),
        ("Region Stockholm och Region Uppsala", [
            r("Region Stockholm", "Stockholm"), r("Region Uppsala", "Uppsala"),
        ]),
        ("Stockholms län och Stockholms stad", [
            r("Stockholms län", "Stockholm"), k("Stockholms stad", "Stockholm"),
        ]),
        ("Region Jönköpings län, Region Jönköping, Jönköping", [
            r("Region Jönköpings län", "Jönköpings län"),
            r("Region Jönköping", "Jönköpings län"),
            k("Jönköping"),
        ]),
        ("Gotland, Gotlands kommun, Region Gotland", [
            r("Gotland", "Gotland"),
            k("Gotlands kommun", "Gotland"),
            r("Region Gotland", "Gotland"),
        ]),
        ("Västernorrland, Skånes, Jämtland Härjedalen, Västra Götalandsregionen", [
            r("Västernorrland", "Västernorrland"),
            r("Skånes", "Skåne"),
            r("Jämtland Härjedalen", "Jämtland Härjedalen"),
            r("Västra Götalandsregionen", "Västra Götaland"),
        ]),
        ("Härjedalen och Jämtland Härjedalen", [
            k("Härjedalen"), r("Jämtland Härjedalen", "Jämtland Härjedalen"),
        ]),
    ],
)  # fmt: skip
def test_municipality_or_region(text, expected):
    assert found(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Alexander bor i Ale.", [k("Ale")]),
        ("Kalixsidan och Lundazi", []),
        ("Mark Andersson besökte Marks kommun.", [k("Marks kommun", "Mark")]),
        ("Nora och Eda kom från Salem till Sala.", []),
        ("Nora kommun, Eda kommun, Salems kommun, Sala kommun", [
            k("Nora kommun", "Nora"), k("Eda kommun", "Eda"),
            k("Salems kommun", "Salem"), k("Sala kommun", "Sala"),
        ]),
        ("Vara med i projektet! Vi åkte till Vara.", [k("Vara")]),
        ("Ale is brewed here. Ale kommun är med.", [k("Ale kommun", "Ale")]),
        ("Partner i Vara och\nBoden", [k("Vara"), k("Boden")]),
    ],
)  # fmt: skip
def test_names_that_are_also_words(text, expected):
    assert found(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sydafrikanska partnerkommuner", [c("sydafrikanska", "Sydafrika")]),
        ("Sydafrikanska kommuner", [c("Sydafrikanska", "Sydafrika")]),
        ("ett ugandiskt distrikt", [c("ugandiskt", "Uganda")]),
        ("Kenya and a Kenyan town, two Kenyans", [
            c("Kenya", "Kenya"), c("Kenyan", "Kenya"), c("Kenyans", "Kenya"),
        ]),
        ("Bosnien och Hercegovina, Bosnien-Hercegovina, BiH", [
            c("Bosnien och Hercegovina", "Bosnien och Hercegovina"),
            c("Bosnien-Hercegovina", "Bosnien och Hercegovina"),
            c("BiH", "Bosnien och Hercegovina"),
        ]),
        ("Elfenbenskusten, Côte d'Ivoire, Ivory Coast", [
            c("Elfenbenskusten", "Elfenbenskusten"),
            c("Côte d'Ivoire", "Elfenbenskusten"),
            c("Ivory Coast", "Elfenbenskusten"),
        ]),
        ("Kap Verde och Sydsudan, inte Sudan-", [
            c("Kap Verde", "Kap Verde"), c("Sydsudan", "Sydsudan"), c("Sudan", "Sudan"),
        ]),
        ("Guinea-Bissau och Papua Nya Guinea", [
            c("Guinea-Bissau", "Guinea-Bissau"), c("Papua Nya Guinea", "Papua Nya Guinea"),
        ]),
        ("Kenyas och Sveriges kommuner", [c("Kenyas", "Kenya"), c("Sveriges", "Sverige")]),
        # the home country's adjective is programme vocabulary, not a mention of Sweden
        ("svenska kommuner och Swedish municipalities", []),
        # an adjective shared by two countries names neither
        ("kongolesiska partner", []),
        ("Robben Island, men Island och Norge", [c("Island", "Island"), c("Norge", "Norge")]),
    ],
)  # fmt: skip
def test_countries(text, expected):
    assert found(text) == expected


def test_mentions_carry_offsets_into_the_text():
    text = corpus_text("dev_pressmeddelande_juni2020_miljonsatsning.md")
    mentions = find_places(text)
    assert mentions
    for before, after in itertools.pairwise(mentions):
        assert before.end <= after.start
    for m in mentions:
        assert text[m.start : m.end] == m.surface


def test_kinds_filter():
    text = "Region Gotland och Kalix i Uganda"
    assert found(text, {"country"}) == [c("Uganda", "Uganda")]
    assert found(text, {"region"}) == [r("Region Gotland", "Gotland")]
    # Region Gotland is also the municipality Gotland
    assert found(text, {"kommun"}) == [k("Region Gotland", "Gotland"), k("Kalix")]
    with pytest.raises(ValueError, match="unknown place kinds"):
        find_places(text, {"city"})


@pytest.mark.parametrize(
    ("surface", "name"),
    [
        ("Norrköpings kommun", "Norrköping"),
        ("Norrköpings", "Norrköping"),
        ("borås  stad", "Borås"),
        ("Kalix kommuns", "Kalix"),
        ("Falu kommun", "Falun"),
        ("Region Gotland", "Gotland"),
        ("Mark", "Mark"),
        ("Gothenburg", "Göteborg"),
        ("Upplands-Väsby", "Upplands Väsby"),
    ],
)
def test_normalise_municipality(surface, name):
    place = normalise_municipality(surface)
    assert place is not None
    assert (place.kind, place.name) == ("kommun", name)


@pytest.mark.parametrize("surface", ["Västernorrland", "Kenya", "Lundazi", ""])
def test_normalise_municipality_rejects_other_names(surface):
    assert normalise_municipality(surface) is None


def test_world_regions_and_their_countries() -> None:
    from kp_assistant.language.places import countries_in, world_regions

    assert world_regions("afrikanska partnerkommuner i Asien, and Latin American cities") == [
        ("afrikanska", "Africa"), ("Asien", "Asia"), ("Latin American", "Latin America")]
    assert world_regions("sydafrikanska kommuner") == []  # a country's adjective, not Africa's
    africa = {p.name for p in countries_in("Africa")}
    assert {"Kenya", "Uganda", "Botswana"} <= africa and "Vietnam" not in africa
