"""List answers over retrieval: one line per Swedish municipality or region found on the topic."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from kp_assistant.answering.citing import cite, display, hit_citation, passage, shorten
from kp_assistant.answering.evidence import GENERIC_NAMES, Candidate
from kp_assistant.answering.question import FRAME_WORDS, Lang, Question
from kp_assistant.answering.refusal import respelled
from kp_assistant.index.keyword import tokenize
from kp_assistant.language.places import find_places, world_regions
from kp_assistant.models import Answer

_MONTHS = frozenset(
    tokenize(
        "januari februari mars april maj juni juli augusti september oktober november december "
        "january february march june july august october"
    )
)
_LIST_HEAD: dict[Lang, str] = {
    "sv": "Jag hittade {n} i {d}:",
    "en": "I found {n} in {d}:",
}
_NAMED_TOGETHER: dict[Lang, str] = {
    "sv": "Uppräknade tillsammans i dokumenten:",
    "en": "Named together in the documents:",
}
# A sentence among the best few that names at least ENUMERATED names in one coordination
# ("… hade antagits: Falun, Bollnäs, Ovanåker, Kungsör, Piteå och Lund.") may be the set asked
# for, stated at once; it is quoted after the list when it names someone the list does not.
ENUMERATED = 3
ENUMERATION_DEPTH = 8  # best candidates looked at
ENUMERATION_SHARE = 0.85  # of the best candidate's score
_COORDINATION = re.compile(r",\s*|;\s*|\s+(?:och|samt|eller|and|or)\s+")
_NAME = re.compile(r"[A-ZÅÄÖÉ][\w'’.-]*(?:\s+[A-ZÅÄÖÉ&][\w'’.-]*){0,3}")


def topic_terms(q: Question, weights: Mapping[str, float]) -> dict[str, float]:
    """What a list is about: the theme, country or partner, not its dates or frame words."""
    return {
        t: w
        for t, w in weights.items()
        if t not in FRAME_WORDS and t not in q.years and t not in _MONTHS
    }


def list_answer(
    q: Question, scored: Sequence[Candidate], weights: Mapping[str, float]
) -> Answer | None:
    if q.lists:
        # "Vilka vänortssamarbeten …": a line is about one when its sentence says that word;
        # the rest of the question (a relative clause, a place) only describes it
        scored = [x for x in scored if q.lists in tokenize(x.sentence)]
        weights = {q.lists: weights.get(q.lists, 1.0)}
    topic = topic_terms(q, weights)
    # countries are alternatives ("i Peru eller Chile"); any other name is a condition
    # each line must meet ("samarbetar med Arequipa")
    countries = {w.casefold() for m in find_places(q.text, {"country"}) for w in m.surface.split()}
    named = [e for e in q.entities if e not in GENERIC_NAMES]
    names = [_stem(e) for e in named]
    required = [_stem(e) for e in named if e not in countries]
    needed = 0.35 * sum(topic.values())
    lines: dict[str, list[Candidate]] = {}
    excerpts: dict[tuple[int, str], str] = {}  # what a line shows of a long text: its part
    for x in scored:
        if names:
            if not any(n in x.matched for n in names) or not all(
                    n in x.matched or _respelled_in(n, x) for n in required):
                continue
        elif topic and sum(topic.get(t, 0.0) for t in x.matched) < needed:
            continue
        for m in find_places(x.sentence, {"kommun", "region"}):
            if _in_parentheses(x.sentence, m.start):
                continue  # "Ale kommun (Västra Götaland)": the county only locates it
            near = _near(x.sentence, m.start, m.end)
            if near != x.sentence and topic and not names and sum(
                    topic.get(t, 0.0) for t in set(tokenize(near))) < needed:
                continue  # a long text (a flattened table) about the topic elsewhere
            group = lines.setdefault(m.place.official, [])
            if len(group) < 2 and all(g.hit.chunk.source != x.hit.chunk.source for g in group):
                group.append(x)
                excerpts[id(x), m.place.official] = near
    if not lines:
        return None
    ordered = sorted(lines.items(), key=lambda kv: -max(g.score for g in kv[1]))
    picked = [g for _, group in ordered for g in group]
    passages = [passage(g) for g in picked]
    citations, markers = cite(picked, passages)
    shown = dict(zip(map(id, picked), passages, strict=True))
    def quoted(name: str, x: Candidate) -> str:
        near = excerpts[id(x), name]
        return shorten(display(x, shown[id(x)] if near == x.sentence else f"… {near} …"))

    body = [
        f"- {name}: {quoted(name, group[0])} " + "".join(f"[{markers[id(g)]}]" for g in group)
        for name, group in ordered
    ]
    docs = len({c.source for c in citations})
    head = _LIST_HEAD[q.lang].format(
        n=_count_noun(len(ordered), q.lang), d=_doc_noun(docs, q.lang)
    )
    return Answer(
        question=q.text, text=head + "\n" + "\n".join(body), grounded=True, citations=citations
    )


# Words on either side of a name that count as near it in a long text (a table that lost its
# cell borders, a run of sentences without full stops): about a clause or a row. A text of
# LONG_TEXT words or fewer counts as a whole, as one sentence does.
NEAR_WORDS = 8
LONG_TEXT = 40


def _near(text: str, start: int, end: int) -> str:
    """The text around [start, end), NEAR_WORDS words either side, if the text is long."""
    words = list(re.finditer(r"\S+", text))
    if len(words) <= LONG_TEXT:
        return text
    at = next(i for i, w in enumerate(words) if w.end() > start)
    last = next((i for i, w in enumerate(words) if w.end() >= end), len(words) - 1)
    lo, hi = max(0, at - NEAR_WORDS), min(len(words) - 1, last + NEAR_WORDS)
    return text[words[lo].start() : words[hi].end()]


def _respelled_in(name: str, x: Candidate) -> bool:
    """The name, spelled another way, in the sentence or its heading ("Kharkiv", "Charkiv")."""
    words = set(re.findall(r"\w+", f"{x.hit.chunk.heading} {x.sentence}".lower()))
    return respelled(name, words)


def _stem(word: str) -> str:
    toks = tokenize(word)
    return toks[0] if toks else word


def _in_parentheses(text: str, pos: int) -> bool:
    return text.rfind("(", 0, pos) > text.rfind(")", 0, pos)


def _count_noun(n: int, lang: Lang) -> str:
    if lang == "en":
        return f"{n} municipalit{'y' if n == 1 else 'ies'} or region{'' if n == 1 else 's'}"
    return f"{n} {'kommun eller region' if n == 1 else 'kommuner eller regioner'}"


def _doc_noun(n: int, lang: Lang) -> str:
    if lang == "en":
        return f"{n} document{'' if n == 1 else 's'}"
    return f"{n} dokument"


def enumerated_names(sentence: str) -> list[str]:
    """The longest run of capitalised names joined by commas and "och"/"and" in a sentence.
    The run may start at the end of a clause and stop inside one ("… hade antagits: Falun,
    Bollnäs och Lund i december"). Countries are left out: a list of municipalities is asked
    for, and the countries a partner may be in have their own answer."""
    best: list[str] = []
    run: list[str] = []
    for part in (p.strip(" *()\"«»") for p in _COORDINATION.split(sentence.rstrip(" .!?"))):
        if _is_name(part):
            run.append(part)
        else:  # a clause: its first words may end the run, its last words start the next
            lead = _capitalised(part.split(), from_end=False)
            if run and _is_name(lead):
                run.append(lead)
            best = max(best, run, key=len)
            tail = _capitalised(part.split(":")[-1].split(), from_end=True)
            run = [tail] if _is_name(tail) else []
        best = max(best, run, key=len)
    return best


def _capitalised(words: list[str], *, from_end: bool) -> str:
    """The capitalised words at the start or end of a clause, at most four."""
    out: list[str] = []
    for word in reversed(words) if from_end else words:
        word = word.strip("(\"«»*")
        if not word[:1].isupper() or len(out) == 4:
            break
        out.append(word)
    return " ".join(reversed(out) if from_end else out)


def _is_name(text: str) -> bool:
    return bool(text) and _NAME.fullmatch(text) is not None and not find_places(
        text, {"country"}) and not world_regions(text)


def enumerations(q: Question, scored: Sequence[Candidate], answer: Answer) -> list[Candidate]:
    """The best candidates that name ENUMERATED or more names together, any of them one the
    answer does not name yet. When municipalities or regions are asked for, the names must
    be Swedish municipalities or regions."""
    if not scored:
        return []
    best = scored[0].score
    shown = answer.text.casefold()
    out = []
    for x in scored[:ENUMERATION_DEPTH]:
        if x.score < ENUMERATION_SHARE * best:
            break
        names = enumerated_names(x.sentence)
        if q.asks_for_places:
            names = [n for n in names if find_places(n, {"kommun", "region"})]
        if len(names) >= ENUMERATED and any(n.casefold() not in shown for n in names):
            out.append(x)
    return out


def with_enumerations(answer: Answer, found: Sequence[Candidate], lang: Lang) -> Answer:
    """The answer with each enumerating sentence quoted after it, each with a citation."""
    if not found:
        return answer
    citations = list(answer.citations)
    lines = [_NAMED_TOGETHER[lang]]
    for x in found:
        citations.append(hit_citation(len(citations) + 1, x.hit, quote=x.sentence))
        lines.append(f"- «{shorten(x.sentence)}» [{len(citations)}]")
    return replace(answer, text=answer.text + "\n" + "\n".join(lines), citations=citations)
