"""Read a question: its language, what kind of answer it wants, its terms and names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

from kp_assistant.answering.intent import Lang, asks_for_set, detect_language, set_compound
from kp_assistant.index.keyword import tokenize

__all__ = ["Lang", "Question", "detect_language", "expand_query", "term_matches"]

Wants = Literal["amount", "count", "person", "date", "place", "any"]

_SV_HINTS = frozenset(
    [
        "och",
        "att",
        "det",
        "som",
        "är",
        "för",
        "på",
        "med",
        "har",
        "kan",
        "vilka",
        "vilken",
        "vilket",
        "hur",
        "vad",
        "när",
        "var",
        "vem",
        "finns",
        "ska",
        "får",
        "måste",
        "kommun",
        "kommuner",
        "i",
        "om",
        "de",
        "den",
        "till",
        "mellan",
        "vår",
        "vårt",
        "vi",
    ]
)
_EN_HINTS = frozenset(
    [
        "the",
        "and",
        "which",
        "what",
        "who",
        "how",
        "when",
        "where",
        "is",
        "are",
        "can",
        "does",
        "do",
        "of",
        "to",
        "in",
        "with",
        "for",
        "municipality",
        "municipalities",
        "partner",
        "our",
        "we",
    ]
)
_ASKS_FOR_PLACES = re.compile(
    r"\b(kommuner|regioner|mottagare|municipalities|regions|vilka svenska|which swedish|"
    r"vilken (svensk )?(kommun|region)|which (swedish )?(municipality|region))\b",
    re.I,
)
_AMOUNT_Q = re.compile(
    r"\b(hur mycket|how much|belopp|summa|kostar|\w*budget)\w*"
    r"|\bhur stor\w*\s+(\w+\s+)?(bidrag|anslag|stöd|kostnad)\w*|\bhow large\s+(a|was|is)\b",
    re.I,
)
# "Hur stora är klasserna?", "how big …": a size is given as a number (money is an amount,
# above)
_COUNT_Q = re.compile(r"\b(hur många|how many|antal|hur stor[at]?|how (big|large))\b", re.I)
# "Vem kan söka?" asks who is eligible, not for a person's name
_WHO_Q = re.compile(
    r"^\s*(vem|vilka personer|who)\b(?!\s+(kan|får|may|can|is eligible|are eligible))"
    r"|\b(vilken|vilka|which)\s+(\w+\s+)?(person\w*|\w*(lärare|ledare|rektor|ordförande|"
    r"samordnare|handläggare|chef|coordinator|manager|director|mayor|teacher)s?)\b"
    r"|\bkontaktperson\w*"
    # "Vad heter rektorn?" asks for the name of the person in a role
    r"|\b(vad heter|what is the name of)\b.*\b\w*(lärare|ledare|rektor|ordförande|samordnare|"
    r"handläggare|chef|coordinator|manager|director|mayor|teacher|head)\w*\b",
    re.I,
)
# "när"/"when" asks for a time where a question or a clause of one starts; inside a clause it
# is a conjunction ("Vad hände när avtalet löpte ut?"). "Sista dag" and its compounds: the
# last day of something is a date.
_WHEN_Q = re.compile(
    r"(^\s*|\b(och|samt|men|till|sedan|and|but|until|since)\s+|[,;]\s*)(när|when)\b"
    r"|\b(vilket (datum|år)|vilken månad|datum|sista \w*dag(en)?|what date|"
    r"(which|what) (year|month)|deadline|tidpunkt)\b",
    re.I,
)
# "Var ligger …", "I vilket land …": the answer is a place
_WHERE_Q = re.compile(
    r"^\s*(var|where)\b(?!\s+(det|det inte|there))|\b(vilket land|vilken stad|which country|"
    r"which city|what country)\b",
    re.I,
)
_YES_NO = re.compile(
    r"^\s*(kan|får|ska|måste|behöver|är|finns|gäller|can|may|must|should|is|are|does|do)\b",
    re.I,
)
# A question that starts with its verb and then its subject is a yes/no question ("Kostar det
# något?", "Går det att …?", "Does it …" is covered above)
_VERB_FIRST = re.compile(
    r"^\s*(?!(vad|vem|vems|vilka|vilken|vilket|hur|när|var|varför|what|who|which|how|when|"
    r"where|why)\b)[a-zåäö]+\s+(det|man|vi|ni|jag|du|de|den|detta|dessa|it|we|you|they|there)\b",
    re.I,
)
_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
# A question about how something changed: its answer is a sequence of dated statements
_OVER_TIME = re.compile(
    r"\b(förändr\w*|ändrat\w*|ändrats|utvecklat\w*|utvecklats|utvecklades|"
    r"över tid|genom åren|med åren|"
    r"chang(ed|es)|evolved|developed|over time|over the years|through the years)\b",
    re.I,
)
_ENTITY = re.compile(r"\b[A-ZÅÄÖ][\w'’-]*\w")
_SENTENCE_START = re.compile(r"(^|[.!?]\s+)$")
_NOUN_TAIL = re.compile(r"(-[a-zåäö]+)+$")

# Words that say what kind of thing is asked for; they do not tell the topic apart.
FRAME_WORDS = frozenset(
    tokenize(
        "vilka vilken vilket kommun kommuner kommunen regioner region regionen svenska svensk "
        "partnerskap partnerskapet partner partnern arbetar arbeta jobbar underlaget dokumenten "
        "mottagare samarbeten samarbete "
        "enligt finns which municipality municipalities swedish region regions partnership "
        "partnerships work works working documents according"
    )
)

# Words that only shape a question ("hur stor", "how long"); they are never evidence.
QUESTION_WORDS = frozenset(
    tokenize(
        "hur mycket många vad vilka vilken vilket när var vem vems varför finns fanns kan får fick "
        "måste ska skulle gör gjorde göra stor stort stora länge enligt underlaget dokumenten "
        "dokumentet stämmer ungefär cirka omkring "
        "fortfarande gäller idag dag vår vårt våra vi oss olika förekommer förekomma nämns "
    "omnämns "
        "which what how long many much who whom whose when where why does did do can could should "
        "according documents document there any our we us approximately roughly"
    )
    # function words the index's stop lists lack (its English one has 33 words): pronouns,
    # auxiliaries, prepositions, which say nothing of a topic
    + tokenize(
        "sitt "
        "am were been being has had having does doing would shall might must could "
        "should he him his she her hers its our ours your yours my me mine you them those these "
        "who whom whose from about above below after before again against all both each few "
        "some only own so than too very just also over between through during without "
        "within upon onto off out up down yet nor because while until since ever"
    )
)


REFUSAL: dict[Lang, str] = {
    "sv": "Jag hittar inget svar på den frågan i dokumenten.",
    "en": "I cannot find the answer to that question in the documents.",
}


@lru_cache(maxsize=1)
def glossary_entries() -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """Stemmed Swedish or English term -> its translations, as (phrase, stems) pairs."""
    text = resources.files("kp_assistant.data").joinpath("glossary.tsv").read_text("utf-8")
    out: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for line in text.splitlines()[1:]:
        sv, _, en = line.partition("\t")
        sides = [
            [(p.strip(), tuple(tokenize(p))) for p in side.split(";") if tokenize(p)]
            for side in (sv, en)
        ]
        for this, other in (sides, sides[::-1]):
            for _, stems in this:
                if len(stems) == 1:
                    out.setdefault(stems[0], []).extend(other)
    return out


@dataclass
class Question:
    text: str
    lang: Lang
    terms: list[str]  # stemmed content words
    alternatives: dict[str, list[tuple[str, tuple[str, ...]]]]  # term -> (phrase, stems)
    entities: list[str]  # proper names as written, lower-cased
    years: list[str]
    wants_list: bool
    asks_for_places: bool  # "vilka kommuner …": the answer is a list of municipalities
    wants: Wants
    yes_no: bool = False  # "Kan en region söka?": answered by a rule
    over_time: bool = False  # "Hur har … förändrats?": answered by dated statements in order
    lists: str | None = None  # "Vilka vänortssamarbeten …": the compound listed, stemmed

    @classmethod
    def parse(cls, text: str) -> Question:
        terms = list(
            dict.fromkeys(t for t in tokenize(text) if t not in QUESTION_WORDS and len(t) > 1)
        )
        glossary = glossary_entries()
        entities = _entities(text)
        alternatives = {t: list(glossary.get(t, [])) for t in terms}
        for name in entities:  # a name in the genitive is also the name ("Vračars", "Vračar")
            bare = name[:-1] if len(name) > 4 and name.endswith("s") else name
            stems, bare_stems = tokenize(name), tuple(tokenize(bare))
            if len(stems) == 1 and stems[0] in alternatives and bare_stems != (stems[0],):
                alternatives[stems[0]].append((bare, bare_stems))
        wants_list = asks_for_set(text)
        last = last_sentence(text)
        yes_no = bool(_YES_NO.match(last) or _VERB_FIRST.match(last))
        return cls(
            text=text,
            lang=detect_language(text),
            terms=terms,
            alternatives=alternatives,
            entities=entities,
            years=_YEAR.findall(text),
            wants_list=wants_list,
            asks_for_places=wants_list and bool(_ASKS_FOR_PLACES.search(text)),
            # a yes/no question is answered by a rule or a statement, not by a fact of a kind
            wants="any" if yes_no else _wants(text),
            yes_no=yes_no,
            over_time=bool(_OVER_TIME.search(text)),
            lists=next(iter(tokenize(compound)), None) if (compound := set_compound(text))
            else None,
        )

    def matched(self, tokens: Iterable[str], terms: Iterable[str] | None = None) -> set[str]:
        """The question terms (or a subset) that `tokens` contain, directly or translated."""
        toks = set(tokens)
        out = set()
        for term in self.terms if terms is None else terms:
            if _present(term, toks) or any(
                all(_present(p, toks) for p in stems)
                for _, stems in self.alternatives.get(term, [])
            ):
                out.add(term)
        return out


# A stem this long names one word family; shorter ones join unrelated words ("led": leda,
# ledare, leden), so they must match whole.
SPECIFIC_STEM = 5


def term_matches(term: str, token: str) -> bool:
    """A stemmed term matches a stemmed token, also inside Swedish compounds.

    "avfall" matches "avfallshanter", "vatten" matches "dricksvatten"; stems shorter than five
    letters must match exactly so that "unga" does not match "ungefär".
    """
    if term == token:
        return True
    short, long_ = (term, token) if len(term) <= len(token) else (token, term)
    if len(short) < SPECIFIC_STEM:
        return False
    return long_.startswith(short) or long_.endswith(short)


def _present(term: str, tokens: set[str]) -> bool:
    return term in tokens or any(term_matches(term, t) for t in tokens)


def last_sentence(text: str) -> str:
    """The question itself when a message first says something about the asker: "Vår partner
    ligger i Peru. Kan den vara med?"."""
    parts = [p for p in re.split(r"(?<=[.!?])\s+", text.strip()) if p]
    return parts[-1] if parts else text


def _entities(text: str) -> list[str]:
    """Capitalised words that are not capitalised only because they start a sentence."""
    out = []
    for m in _ENTITY.finditer(text):
        if _SENTENCE_START.search(text[: m.start()]):
            continue
        word = re.sub(r"(:s|:n|'s|’s)$", "", m.group(0))
        # "Nakuru-skolan", "SKR-projektet": a name compounded with a common noun
        word = _NOUN_TAIL.sub("", word)
        if tokenize(word) and word.lower() not in _SV_HINTS | _EN_HINTS:
            out.append(word.lower())
    return list(dict.fromkeys(out))


def _wants(text: str) -> Wants:
    if _AMOUNT_Q.search(text):
        return "amount"
    if _COUNT_Q.search(text):
        return "count"
    if _WHO_Q.search(text):
        return "person"
    if _WHEN_Q.search(text):
        return "date"
    if _WHERE_Q.search(text):
        return "place"
    return "any"


def expand_query(q: Question) -> str:
    """The question plus translations of its terms, for keyword search across languages."""
    extra: Sequence[str] = [phrase for alts in q.alternatives.values() for phrase, _ in alts]
    if q.yes_no:
        from kp_assistant.language.places import find_places

        # a yes/no question about a country is answered by the list of allowed countries
        if find_places(q.text, {"country"}):
            extra = [*extra, "länder", "countries"]
    return q.text if not extra else f"{q.text} {' '.join(extra)}"
