"""Sentences a new user might write: pairs need a stated relation, and only the right pairs."""

from __future__ import annotations

import pytest

from kp_assistant.models import Chunk
from kp_assistant.registry.records import extract, partner_name


def chunk(text: str, *, title: str = "", heading: str = "", ordinal: int = 0) -> Chunk:
    return Chunk(id=f"probe.md-{ordinal:04d}", source="probe.md", page=None, title=title,
                 heading=heading, text=text, doc_hash="test")


def pairs(text: str, **kwargs: str) -> set[tuple[tuple[str, ...], str, str]]:
    return {(r.swedish, partner_name(r.partner), r.country)
            for r in extract([chunk(text, **kwargs)])}


@pytest.mark.parametrize("text", [
    # a conference in one place with guests from another
    "Mötet ordnades i Uppsala och samlade gäster från Mwanza i Tanzania.",
    "Konferensen i Örebro hade deltagare från Kisumu County i Kenya.",
    # a partnership that is over, or never was
    "Gävle kommun har inte längre något samarbete med Lusaka.",
    "Västerviks kommun samarbetar inte med Chipata i Zambia.",
    "Nybro kommun ansökte om ett partnerskap med Tamale i Ghana men fick avslag.",
    "Ansökan från Sala kommun om samarbete med Blantyre i Malawi avslogs.",
    # a wish, a visit, a twin town
    "Tidaholms kommun och Mzuzu i Malawi vill gärna samarbeta i framtiden.",
    "Borgmästaren i Arusha i Tanzania besökte Motala under våren.",
    "Ludvika har en vänort i Norge, Kongsberg i Norge.",
    # a company named after the town is not the town
    "Mälarenergi och AB Västerås Hamn arbetar med Mombasa i Kenya.",
])
def test_no_relation_no_pair(text: str) -> None:
    assert pairs(text) == set()


def test_each_party_keeps_its_own_partner_in_a_coordinated_sentence() -> None:
    got = pairs("Luleå matchades med Mbale i Uganda, medan Sundsvall matchades med Nakuru "
                "i Kenya.")
    assert got == {(("Luleå kommun",), "Mbale", "Uganda"),
                   (("Sundsvalls kommun",), "Nakuru", "Kenya")}


def test_a_second_clause_with_its_own_subject_starts_afresh() -> None:
    got = pairs("Mora och Kitwe i Zambia har samarbetat sedan 2015, och Ljusdals projekt "
                "startade året efter.")
    assert got == {(("Mora kommun",), "Kitwe", "Zambia")}


@pytest.mark.parametrize("text", [
    "Skellefteå kommun har ett partnerskap med Lira i norra Uganda.",
    "Skellefteå samarbetar sedan 2019 med den ugandiska staden Lira.",
    "Skellefteås partnerkommun i Uganda heter Lira.",
    "Skellefteå inledde ett partnerskap med staden Lira i Uganda.",
])
def test_partners_introduced_by_apposition(text: str) -> None:
    assert pairs(text) == {(("Skellefteå kommun",), "Lira", "Uganda")}


def test_dash_lines_of_a_network_list() -> None:
    text = "Partnerskapen i nätverket:\nMora – Uzhhorod\nNässjö – Bila Tserkva\nVimmerby – Irpin"
    assert {(p[0], p[1]) for p in pairs(text)} == {
        (("Mora kommun",), "Uzhhorod"), (("Nässjö kommun",), "Bila Tserkva"),
        (("Vimmerby kommun",), "Irpin")}


def test_partner_in_a_section_heading_of_a_document_about_one_municipality() -> None:
    got = pairs("Samarbetet gäller i första hand ungas inflytande i Thembisile Hani.",
                title="Nybro kommuns internationella arbete",
                heading="Partnern: Thembisile Hani Local Municipality, Sydafrika (sedan 2005)")
    assert got == {(("Nybro kommun",), "Thembisile Hani", "Sydafrika")}


@pytest.mark.parametrize("title", ["Tranås kommun får en ny partner", "NYHETER | TRANÅS"])
def test_a_labelled_partner_line_pairs_with_the_documents_party(title: str) -> None:
    got = pairs("Partner: Serowe och Central District, Botswana.", title=title)
    assert {p[1] for p in got} == {"Serowe", "Central"}
    assert {p[0] for p in got} == {("Tranås kommun",)}


def test_a_flattened_table_gives_one_pair_per_row() -> None:
    text = ("Svensk part | Ukrainsk part | Tema | Period Mora kommun | Uzhhorod | Skola | 2024 "
            "Nässjö kommun | Bila Tserkva | Vatten | 2023–2025 Region Dalarna | Poltava "
            "(med Jelgava, Lettland) | Krisberedskap | 2024")
    assert pairs(text) == {
        (("Mora kommun",), "Uzhhorod", "Ukraina"), (("Nässjö kommun",), "Bila Tserkva", "Ukraina"),
        (("Region Dalarna",), "Poltava", "Ukraina"), (("Region Dalarna",), "Jelgava", "Lettland")}


def test_a_table_read_from_a_pdf_lists_partners_after_the_party() -> None:
    text = ("Svensk kommun Ukrainska kommuner Tema\nMora Uzhhorod, Irpin\nSkola och "
            "vuxenutbildning Nässjö Bila Tserkva, Bucha Rent vatten")
    assert {(p[0], p[1]) for p in pairs(text)} == {
        (("Mora kommun",), "Uzhhorod"), (("Mora kommun",), "Irpin"),
        (("Nässjö kommun",), "Bila Tserkva"), (("Nässjö kommun",), "Bucha")}


def test_the_same_partners_named_again_for_another_party() -> None:
    text = ("Moras partnerskap är trepartigt, med Kitwe i Zambia och Blantyre i Malawi.\n"
            "Projektet handlar om ungas inflytande.\n"
            "Samma två partner samarbetar också med Nässjö kommun.")
    assert {(p[0], p[1]) for p in pairs(text)} == {
        (("Mora kommun",), "Kitwe"), (("Mora kommun",), "Blantyre"),
        (("Nässjö kommun",), "Kitwe"), (("Nässjö kommun",), "Blantyre")}
    denied = text.replace("samarbetar också med", "samarbetar inte med")
    assert {p[0] for p in pairs(denied)} == {("Mora kommun",)}
