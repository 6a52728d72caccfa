"""Swedish and English grammar the pair finder leans on: clauses, what cancels a relation,
what states one, and how partner names are introduced.

Everything here is about how the language and tables are written, never about a particular
partnership.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from kp_assistant.language.gazetteer import fold

# A clause ends where a new subject can start: "A matchades med X, medan B matchades med Y",
# "A och X har samarbetat sedan 2012, och Bs projekt startade 2013", "…; …".
_CLAUSE_BREAK = re.compile(
    r",\s+(?:medan|men|och|samt|while|whereas|but|and)\s+(?=[A-ZÅÄÖ])"
    r"|;\s+|(?<=[a-zåäö\d)])[.!?]\s+(?=[A-ZÅÄÖ])"
)
# "inte bara … utan även" and "not only" negate nothing.
_NOT_ONLY = re.compile(r"\b(?:inte bara|inte enbart|inte minst|not only|not least)\b", re.I)
_NEGATED = re.compile(
    r"\b(?:inte|ej|aldrig|ingen|inget|inga|not|never|no longer|avslag|avslogs|avslagen|nekades"
    r"|rejected|declined|refused|turned down)\b",
    re.I,
)
# A wish or a plan is no partnership yet: "de vill gärna samarbeta".
_WISH = re.compile(r"\b(?:vill|ville|velat|önskar|önskade|hoppas|skulle vilja|would like)\b",
                   re.I)
# Meeting someone at a conference or on a visit is no partnership either, unless the clause
# also names the partnership.
_MEETING = re.compile(
    r"konferens|\bmöte|deltagare|deltog|gäst|besök|seminari|mässa|workshop|studieresa|utbyte"
    r"|conference|meeting|participant|guest|visit|delegation|exchange",
    re.I,
)
RELATION = re.compile(
    r"partner|samarbet|samverk|projekt|förstudie|avtal|avsiktsförklaring|nätverk"
    r"|tillsammans|inledde|startade|arbetar med|arbetade med|cooperat|collaborat|partnership"
    r"|project|network|together|work(?:s|ed|ing)? with",
    re.I,
)
# Twin towns ("vänorter") are another kind of tie, unless the clause calls it a partnership.
_TWINNING = re.compile(r"vän(?:ort|region|stad|städer|kommun)|twin town|sister cit", re.I)
_PROGRAMME = re.compile(r"partnerskap|partnership|ICLD", re.I)

# Parties joined into one group of a partnership: "Region Dalarna, Mora kommun och …".
PARTY_JOIN = re.compile(r"\s*(?:,|och|and|&|\+|samt)\s*")
# Words between a party and its partner that state no relation: a bare list "A, X".
BARE_LIST = re.compile(r"\s*,\s*")

_UPPER = "A-ZÅÄÖÉÇŞŠŽČĆ"
_CAP_WORD = rf"[{_UPPER}][\w'’-]*"
# A partner introduced by what it is: "staden Lira", "provinsen Quang Ninh",
# "partnern Serowe", "Skellefteås partnerkommun i Uganda heter Lira".
INTRODUCED = re.compile(
    rf"\b(?:staden|kommunen|provinsen|distriktet|regionen|countyt|orten|partnern|partnerkommunen"
    rf"|partnerstaden|partnerregionen|the city of|the town of|the district of|the municipality of"
    rf"|(?:partner(?:n|kommun(?:en)?|stad(?:en)?|region(?:en)?)|samarbetspart(?:en|ner))"
    rf"(?: i \w+)? (?:heter|är))"
    rf"\s+({_CAP_WORD}(?: {_CAP_WORD}){{0,3}})"
)
# "med Lira i provinsen Lango", "Kitwe, provinsen Copperbelt": a place that locates.
LOCATES = re.compile(r"(?:\bi|\bin|,) $")
# "Hoan Kiem-distriktet", "Mbale-distriktet": the name before the hyphen.
HYPHEN_TYPE = re.compile(rf"({_CAP_WORD}(?: {_CAP_WORD}){{0,3}})-(?:distriktet|distrikt|"
                         r"provinsen|regionen|kommunen|staden)\b")
# A name after "i" places something else: "en ort i provinsen Copperbelt", "ett möte i Kampala".
LOCATED_IN = re.compile(r"(?:\b(?:i|in)|,\s+(?:provinsen|regionen|distriktet|delstaten))\s+"
                        r"(?:(?:provinsen|regionen|distriktet|delstaten|the province of)\s+)?$")
# "A – X" in a list of pairs, and "Mora–Kitwe" in running text.
DASH = re.compile(rf"\s*[–—]\s*|-(?=[{_UPPER}])")
NAME_RUN = re.compile(rf"{_CAP_WORD}(?: (?:{_CAP_WORD}|(?:es|de|da|del|la|of|al|el)\b)){{0,4}}")
# A heading or line that is only two names joined by "och": "Mora och Kitwe".
BARE_PAIR = re.compile(rf"{NAME_RUN.pattern} (?:och|and) {NAME_RUN.pattern}")
# "Partner: Serowe och Central District, Botswana." and the heading "Partnern: X, Land".
LABEL = re.compile(
    r"^\W*(?:partner(?:n|kommun(?:en)?|stad(?:en)?|region(?:en)?)?|samarbetspart(?:ner|en)?"
    r"|partner municipality)\s*:\s*",
    re.I,
)
# A table whose columns hold the Swedish party and its partner:
# "Svensk part | Zambisk partner | …" or, flattened from a PDF, "Svenska parter Ukrainska
# partner".
TABLE_HEADER = re.compile(
    r"(?:svensk|swedish)\w*\s+(?:part|kommun|region|municipalit|partner)\w*\s*\|?\s*"
    r"(?:[\w-]+\s+)?(?:part|partner|kommun|municipalit|region)\w*",
    re.I,
)


# A table column that holds the partners ("Partner", "Partnerkommun", "Kenyanska kommuner",
# "Indisk part", "Partner city"); one about the Swedish side names that side ("Svensk part").
PARTNER_COLUMN = re.compile(
    r"partner|\bpart(?:en|er|erna)?\b|kommun|stad|städer|city|cities|municipal"
    r"|local government|district|county|counterpart|motpart|vänort|twin",
    re.I,
)
SWEDISH_COLUMN = re.compile(r"\b(?:svensk|swedish)", re.I)


# A name that goes on into a company or association: "Mora Energi i Dalarna AB".
ORGANISATION_AFTER = re.compile(
    r"(?:\s+[\w-]+){0,3}\s+(?:AB|Ltd|Inc|GmbH|ekonomisk förening|förening|stiftelse)\b"
)


class Span(NamedTuple):
    start: int
    end: int


def clauses(text: str) -> list[Span]:
    """The clauses of one sentence or line, as spans."""
    out, at = [], 0
    for m in _CLAUSE_BREAK.finditer(text):
        out.append(Span(at, m.start()))
        at = m.end()
    out.append(Span(at, len(text)))
    return [s for s in out if text[s.start : s.end].strip()]


def cancelled(clause: str) -> bool:
    """Whether the clause denies, refuses, wishes for or only meets: no partnership in it."""
    plain = _NOT_ONLY.sub(" ", clause)
    if _NEGATED.search(plain) or _WISH.search(plain):
        return True
    if _TWINNING.search(plain) and not _PROGRAMME.search(plain):
        return True
    return bool(_MEETING.search(plain)) and not RELATION.search(_MEETING.sub(" ", plain))


def list_names(text: str) -> list[Span]:
    """Names of a comma list in a table cell: "Uzhhorod, Irpin, Bucha Rent vatten …".

    The list ends where a capitalised word starts ordinary text (a lower-case word follows).
    """
    out: list[Span] = []
    at = 0
    while m := NAME_RUN.match(text, at):
        words = list(re.finditer(r"\S+", m.group()))
        end = m.end()
        after = re.match(r" ([a-zåäö]\w*)", text[m.end() :])
        if after and len(words) > 1:  # the last word begins a sentence: "Bucha Rent"
            end = m.start() + words[-2].end()
        elif after:
            break
        out.append(Span(m.start(), end))
        sep = re.compile(r",\s*|\s+(?:och|and)\s+").match(text, end)
        if not sep or end != m.end():
            break
        at = sep.end()
    return out


# --- partner names without their type words ------------------------------------------------

_STRIP_SUFFIX = re.compile(
    r"(?:\s+(?:(?:City|Town|District|Municipal|Metropolitan|Local|County)\s+)?"
    r"(?:Councils?|Municipality|Government)|\s+(?:County|District|kommun|stad))+$"
    r"|^(?:City|Municipality) of\s+"
)


def partner_name(written: str) -> str:
    """The partner without "County", "City Council", "kommun": "Machakos County" -> "Machakos"."""
    name = " ".join(written.split()).replace("’", "'")
    while (stripped := _STRIP_SUFFIX.sub("", name)) != name and stripped:
        name = stripped
    return name


@lru_cache(maxsize=1 << 16)  # asked for every partnership in the registry, for each question
def partner_key(written: str) -> str:
    """What two spellings of one partner share: "Bihać", "Bihac" and "bihac" -> "bihac"."""
    return fold(partner_name(written))
