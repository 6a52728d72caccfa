"""What a message is: its language, whether it is small talk, whether it asks for a set.

Language comes from a trained identifier (langid, whose model ships inside the package), told
to choose between Swedish and English. Proper names are masked first: "Växjö" says nothing
about the language the question is written in.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

Lang = Literal["sv", "en"]

# Function words only; they decide when a message is too short for the identifier.
_SV_WORDS = frozenset(
    "och att det som var ligger är för på med har kan vilka vilken vilket hur vad när vem "
    "finns ska får "
    "måste om de den till mellan vår vårt vi oss jag mig du ni tack hej fick gick blev inte "
    "också även eller men från efter under".split()
)
_EN_WORDS = frozenset(
    "the and which what who how when where is are can does do did of to in with for our we us "
    "i you thanks thank hello hi not also or but from after under was were get got".split()
)
_CAPITALISED = re.compile(r"\b[A-ZÅÄÖÉ][\w'’-]*")
_WORD = re.compile(r"[^\W\d_]+")

# Thanks, greetings and acknowledgements, in both languages: general conversational words.
_SMALL_TALK = frozenset(
    "tack tackar så mycket hej hallå hejsan god morgon dag kväll ok okej okay bra toppen "
    "perfekt fint kanon jättebra utmärkt hejdå adjö vi ses thanks thank you very much cheers "
    "hello hi hey good morning great perfect fine nice excellent bye goodbye see".split()
)
_THANKS = re.compile(r"\b(tack|tackar|thanks|thank|cheers)\b", re.I)
_BYE = re.compile(r"\b(hejdå|adjö|bye|goodbye)\b", re.I)

_REPLY: dict[tuple[str, Lang], str] = {
    ("thanks", "sv"): "Varsågod! Fråga gärna mer om Kommunala partnerskap.",
    ("thanks", "en"): "You are welcome! Feel free to ask more about Municipal Partnerships.",
    ("bye", "sv"): "Hej då, och lycka till med partnerskapet!",
    ("bye", "en"): "Goodbye, and good luck with the partnership!",
    ("hello", "sv"): "Hej! Fråga mig om Kommunala partnerskap, så svarar jag ur dokumenten.",
    ("hello", "en"): "Hello! Ask me about Municipal Partnerships and I answer from the documents.",
}

# A question asks for a set when a plural noun of the kinds the registry and the lists over
# retrieval hold (municipalities, regions, partnerships, partners, countries) follows its
# question word. Projects and organisations are no such kind: a question for the projects of
# a partnership is answered from the sentences about them. A Swedish compound names its kind
# by its last part: "vänortssamarbeten" are samarbeten.
_SV_SET_NOUNS = r"kommuner|regioner|partnerskap|partnerkommuner|partner|länder|samarbeten|" \
    r"mottagare|städer"
_SET_NOUNS = (
    r"(\w*?(?:kommuner\w*|regioner\w*|partnerskap\w*|partnerkommuner\w*|partner|partners|"
    r"länder\w*|samarbeten\w*|mottagare\w*|städer\w*)|"
    r"municipalities|regions|partnerships|partners|countries|cities|towns)"
)
_SET_WORD = re.compile(r"\b(?:vilka|lista|nämn|ange)\s+(\w+)", re.I)
_COMPOUND_SET = re.compile(rf"(\w{{3,}}?)(?:{_SV_SET_NOUNS})\w*", re.I)
# words of the kinds themselves: "partnerkommuner" and "partnerskapsprojekt" list no subkind
_KIND_STEMS = ("partner", "kommun", "region", "samarbet", "land", "stad")
_ASKS_FOR_SET = re.compile(
    r"\b(vilka|which|what|lista|list|nämn|ange|name)\s+(\w+\s+){0,2}" + _SET_NOUNS + r"\b"
    r"|\b(vilken|vilket|which)\s+(svensk\w*\s+)?(kommun|region|partnerkommun|municipality)\b"
    r"|\b(finns det|are there|is there)\s+(\w+\s+){0,2}" + _SET_NOUNS + r"\b",
    re.I,
)


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from langid.langid import LanguageIdentifier, model

    ident = LanguageIdentifier.from_modelstring(model, norm_probs=True)
    ident.set_languages(["sv", "en"])
    return ident


def mask_names(text: str) -> str:
    """The text without capitalised words after its first: names must not vote."""
    first = re.match(r"\s*\S+", text)
    head = first.group(0) if first else ""
    return head + _CAPITALISED.sub(" ", text[len(head):])


def detect_language(text: str) -> Lang:
    masked = mask_names(text)
    words = [w.lower() for w in _WORD.findall(masked)]
    sv = sum(w in _SV_WORDS for w in words)
    en = sum(w in _EN_WORDS for w in words)
    if len(words) <= 3 and sv != en:
        return "sv" if sv > en else "en"  # too short for character statistics
    if not words:
        return "sv"
    lang, prob = _identifier().classify(masked.lower())
    if prob < 0.9 and sv != en:
        return "sv" if sv > en else "en"
    return "en" if lang == "en" else "sv"


def small_talk(text: str) -> str | None:
    """"thanks", "bye" or "hello" when the message is only that, else None."""
    words = [w.lower() for w in _WORD.findall(text)]
    if not words or len(words) > 6 or not all(w in _SMALL_TALK for w in words):
        return None
    if _THANKS.search(text):
        return "thanks"
    if _BYE.search(text):
        return "bye"
    return "hello"


def small_talk_reply(kind: str, lang: Lang) -> str:
    return _REPLY[(kind, lang)]


# "Vilka organisationer får ansöka?": a modal verb followed by the verb itself, not by a
# subject of its own ("… kan vi fråga om råd?"), asks which kinds are allowed, which a rule says
_ELIGIBLE = re.compile(
    r"\b(vilka|which|what)\s+(\w+\s+){0,2}" + _SET_NOUNS + r"\s+(får|kan|ska|måste|may|can|"
    r"must|are allowed to|are eligible to)\s+(?!(vi|ni|man|jag|du|de|dom|we|you|i|they|one)\b)"
    r"\w+",
    re.I,
)


def asks_for_set(text: str) -> bool:
    return bool(_ASKS_FOR_SET.search(text)) and not _ELIGIBLE.search(text)


def set_compound(text: str) -> str | None:
    """The compound a set question lists, when it says more than the kind does:
    "Vilka vänortssamarbeten …" lists vänortssamarbeten, not every samarbete."""
    m = _SET_WORD.search(text)
    if not m or not asks_for_set(text):
        return None
    word = m.group(1)
    compound = _COMPOUND_SET.fullmatch(word)
    if compound is None or compound.group(1).lower().startswith(_KIND_STEMS):
        return None
    return word.lower()
