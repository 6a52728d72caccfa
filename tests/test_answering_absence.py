"""Passages that say the asked fact is missing turn the answer into a refusal that quotes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import hashing, write_files
from kp_assistant.answering.absence import says_missing, stated_absent
from kp_assistant.answering.evidence import Candidate
from kp_assistant.answering.question import Question
from kp_assistant.assistant import Assistant
from kp_assistant.models import Chunk, Hit


def candidate(text: str, line: int = 0, title: str = "Vara och Kisumu") -> Candidate:
    chunk = Chunk(id="doc-0000", source="vara.md", page=None, title=title, heading="",
                  text=text, doc_hash="h")
    return Candidate(text.split("\n")[line], Hit(chunk, 1.0), line, 0, 1.0, set())


@pytest.mark.parametrize(("question", "fires"), [
    ("Hur mycket pengar fick Vara för samarbetet med Kisumu?", True),
    ("How much money did Vara get for its work with Kisumu?", True),
    ("Vilket år började Vara samarbeta med Kisumu?", False),  # a year is another kind of fact
    ("Hur mycket pengar fick Tibro för samarbetet med Gulu?", False),  # not what it is about
    ("Vilka kommuner har fått pengar?", False),  # a list: nothing in particular is missing
])
def test_the_missing_fact_must_be_the_kind_asked_for_about_the_names_asked_about(
    question: str, fires: bool
) -> None:
    c = candidate("Vara och Kisumu har samarbetat sedan 2019.\n"
                  "Beloppet som beviljades framgår inte av protokollet.", line=1)
    assert (stated_absent(Question.parse(question), [c]) is not None) is fires


@pytest.mark.parametrize(("text", "missing"), [
    ("Datumet för avtalet framgår inte av protokollet.", True),
    ("Protokollet anger inte vilket år avtalet skrevs.", True),
    ("Beloppet är okänt.", True),
    ("Uppgift om antalet deltagare saknas.", True),
    ("The minutes do not state the amount.", True),
    ("The name of the school is not given.", True),
    ("Protokollet anger att avtalet skrevs 2021.", False),
    ("Det saknas pengar till fler resor.", False),  # lacking money, not a missing figure
    ("The project is missing a second partner.", False),
])
def test_what_counts_as_saying_a_fact_is_not_given(text: str, missing: bool) -> None:
    assert says_missing(text) is missing


def test_something_lacking_is_not_a_fact_left_unstated() -> None:
    # "pengar saknas" says the money is lacking, not that the amount is not given
    lacking = candidate("Vara och Kisumu har samarbetat sedan 2019.\n"
                        "I Vara saknas pengar för att fortsätta projektet med Kisumu.", line=1)
    q = Question.parse("Hur mycket pengar fick Vara för samarbetet med Kisumu?")
    assert stated_absent(q, [lacking]) is None
    unstated = candidate("Vara och Kisumu har samarbetat sedan 2019.\n"
                         "Uppgift om belopp saknas i protokollet.", line=1)
    assert stated_absent(q, [unstated]) is not None


def test_in_a_row_of_several_partnerships_the_nearest_name_owns_the_gap() -> None:
    row = ("Vara – Kisumu 2 miljoner kronor (besked 2021) Tibro – Gulu "
           "1 miljon kronor (årtal saknas) Lerum – Kisii 3 miljoner kronor")
    c = candidate(row, title="Beviljade projekt")
    tibro = stated_absent(Question.parse("Vilket år inledde Tibro samarbetet med Gulu?"), [c])
    assert tibro is not None and tibro.clause == "årtal saknas"
    assert stated_absent(Question.parse("Vilket år inledde Vara samarbetet med Kisumu?"),
                         [c]) is None
    assert stated_absent(Question.parse("Vilket år inledde Lerum samarbetet med Kisii?"),
                         [c]) is None


def test_a_list_of_what_is_missing_names_the_fact_in_its_items() -> None:
    c = candidate("Följande uppgifter saknas i materialet:\n"
                  "- Antalet deltagare i Tibros ungdomsråd.\n"
                  "- Hur länge samarbetet med Gulu pågick.", line=1, title="Tibro och Gulu")
    assert stated_absent(Question.parse("Hur många deltagare har ungdomsrådet i Tibro?"), [c])
    # the lead-in alone names no kind of fact
    lead = candidate(c.hit.chunk.text, line=0, title="Tibro och Gulu")
    assert stated_absent(Question.parse("Hur många deltagare har ungdomsrådet i Tibro?"),
                         [lead]) is None


REPORT = """# Vara och Kisumu

Vara kommun och Kisumu County i Kenya samarbetar om dricksvatten och om hur invånarna får
säga sin mening om vattenförsörjningen.

## Ekonomi

Beloppet som Vara och Kisumu beviljades framgår inte av det underlag rapporten bygger på.
Resorna gjordes under 2022 och 2023.
"""


def test_the_refusal_quotes_where_the_documents_say_the_fact_is_missing(tmp_path: Path) -> None:
    corpus = write_files(tmp_path / "corpus", {
        "vara_kisumu.md": REPORT,
        "annat.md": "# Annat\n\nTibro och Gulu arbetar med avfall sedan 2018.\n",
    })
    assistant = Assistant.from_settings(hashing(tmp_path, corpus))
    assistant.ingest()
    answer = assistant.ask("Hur mycket pengar fick Vara för samarbetet med Kisumu?")
    assert answer.grounded is False
    assert answer.text.startswith("Dokumenten ger inte den uppgiften"), answer.text
    assert "framgår inte av det underlag" in answer.text
    assert answer.related[0].source == "vara_kisumu.md"
    assert "framgår inte" in answer.related[0].quote
    english = assistant.ask("How much money did Vara receive for the work with Kisumu?")
    assert english.text.startswith("The documents do not give that"), english.text
    # what the report does say is still answered
    topic = assistant.ask("Vad samarbetar Vara och Kisumu om?")
    assert topic.grounded and "dricksvatten" in topic.text, topic.text


def test_an_answer_that_would_quote_the_gap_says_the_fact_is_not_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The passage saying the date is not given ranks below the first three, yet the answer
    would quote it: then the documents' own word that it is missing is the answer."""
    from kp_assistant.answering.compose import Composer
    from kp_assistant.answering.evidence import FEATURES

    text = ("Tibro och Gulu skrev under avtalet efter ett års förberedelser.\n"
            "När avtalet skrevs under deltog politiker från Tibro och Gulu.\n"
            "Avtalet mellan Tibro och Gulu gäller lärarutbyte och elevråd.\n"
            "Tibro och Gulu firade avtalet med en konferens.\n"
            "I nyhetsbrevet om konferensen anges inte datumet.")
    q = Question.parse("Vilket datum skrev Tibro och Gulu under sitt avtal?")
    ranked = []
    for i, (score, matched) in enumerate([
        (0.9, {"tibro", "gulu", "skrev", "avtal"}), (0.85, {"tibro", "gulu", "skrev", "avtal"}),
        (0.8, {"tibro", "gulu", "avtal"}), (0.75, {"tibro", "gulu", "avtal"}),
        (0.7, {"datum"}),
    ]):
        c = candidate(text, line=i, title="Tibro och Gulu")
        c.score, c.matched, c.features = score, matched, [0.0] * len(FEATURES)
        ranked.append(c)
    composer = Composer({}, 1)
    monkeypatch.setattr(composer, "rank", lambda *_: ({t: 1.0 for t in q.terms}, ranked, []))
    monkeypatch.setattr(composer, "refusal_probability", lambda _: 0.0)
    assert stated_absent(q, ranked) is None  # not among the first three
    answer = composer.compose(q, [ranked[0].hit])
    assert answer.grounded is False
    assert answer.text.startswith("Dokumenten ger inte den uppgiften"), answer.text
    assert "anges inte datumet" in answer.text
