"""Questions in several parts: split where a conjunction is followed by a question word, each
part answered with its own citations, the answers joined with citation numbers running on."""

from __future__ import annotations

from kp_assistant.answering.parts import join_answers, split_parts
from kp_assistant.models import Answer, Citation


def test_parts_split_at_a_conjunction_before_a_question_word() -> None:
    assert split_parts("När inleddes förstudien i Borås, och när beviljades projektet?") == [
        "När inleddes förstudien i Borås?", "När beviljades projektet (Borås)?"]
    assert split_parts("Vilka kommuner deltog 2019, och vilka teman hade de?") == [
        "Vilka kommuner deltog 2019, och vilka teman hade de?"]  # a list stays whole
    assert split_parts("Vilken organisationsform har ICLD och vem är huvudman?") == [
        "Vilken organisationsform har ICLD?", "Vem är huvudman (ICLD)?"]
    # a later part with names of its own keeps them only
    assert split_parts("Vad gör Kalix i Uganda och vad gör Lund i Botswana?") == [
        "Vad gör Kalix i Uganda?", "Vad gör Lund i Botswana?"]


def test_a_later_part_that_points_back_at_the_year_takes_it() -> None:
    assert split_parts("Hur mycket fick Växjö 2019 och hur stor var budgeten det året?") == [
        "Hur mycket fick Växjö 2019?", "Hur stor var budgeten det året (Växjö, 2019)?"]
    assert split_parts("How much did Växjö get in 2019 and what was the budget that year?") == [
        "How much did Växjö get in 2019?", "What was the budget that year (Växjö, 2019)?"]
    # without a pointer back the year stays behind: the later part may ask about another one
    assert split_parts("Hur mycket fick Växjö 2019, och hur är det i år?") == [
        "Hur mycket fick Växjö 2019?", "Hur är det i år (Växjö)?"]


def test_one_question_stays_whole() -> None:
    for text in ("Hur många invånare och anställda har Chkhorotsku?",
                 "Vilka länder ingår i nätverket för klimat och vilka?",
                 "Kan en region söka?"):
        assert split_parts(text) == [text]


def cited(n: int, chunk: str, quote: str) -> Citation:
    return Citation(n=n, source=f"{chunk}.md", page=None, chunk_id=chunk, quote=quote, score=1.0)


def test_answers_are_joined_with_running_citation_numbers() -> None:
    first = Answer("a?", "Förstudien började 2020. [1] Den pågick ett år. [2]", True,
                   citations=[cited(1, "x", "Förstudien började 2020."),
                              cited(2, "y", "Den pågick ett år.")])
    second = Answer("b?", "Projektet beviljades 2022. [1] Som sagt: ett år. [2]", True,
                    citations=[cited(1, "z", "Projektet beviljades 2022."),
                               cited(2, "y", "Den pågick ett år.")])
    joined = join_answers("När … och när …?", ["a?", "b?"], [first, second])
    assert joined.grounded
    assert joined.text.splitlines() == ["Förstudien började 2020. [1] Den pågick ett år. [2]",
                                        "Projektet beviljades 2022. [3] Som sagt: ett år. [2]"]
    assert [c.chunk_id for c in joined.citations] == ["x", "y", "z"]


def test_a_part_without_an_answer_says_so() -> None:
    first = Answer("a?", "Förstudien började 2020. [1]", True,
                   citations=[cited(1, "x", "Förstudien började 2020.")])
    refused = Answer("b?", "Jag hittar inget svar på den frågan i dokumenten.", False,
                     related=[cited(1, "q", "Något närliggande.")])
    joined = join_answers("När började förstudien och vem ledde den?",
                          ["När började förstudien?", "Vem ledde den?"], [first, refused])
    assert joined.grounded and joined.text.endswith("Om «Vem ledde den» hittar jag inget i "
                                                    "dokumenten.")
    assert [c.chunk_id for c in joined.related] == ["q"]
    both = join_answers("a och b?", ["a?", "b?"], [refused, refused])
    assert not both.grounded and both.text == "Jag hittar inget svar på den frågan i dokumenten."


def test_a_sentence_an_earlier_part_quoted_is_not_repeated() -> None:
    same = cited(1, "x", "Förlängningen gäller bara 2018.")
    first = Answer("a?", "Förlängningen gäller bara 2018. [1]", True, citations=[same])
    second = Answer("b?", "Förlängningen gäller bara 2018. [1] Normalt är det 15 mars. [2]",
                    True, citations=[same, cited(2, "y", "Normalt är det 15 mars.")])
    joined = join_answers("a och b?", ["a?", "b?"], [first, second])
    assert joined.text.splitlines() == ["Förlängningen gäller bara 2018. [1]",
                                        "Normalt är det 15 mars. [2]"]
