"""Follow-up questions: an elliptical one ("Och i Kenya?", "Vad kostade det för dem?") is read as
a variation of the previous question; a complete question or small talk stays as it is."""

from __future__ import annotations

import re
from collections.abc import Sequence

from kp_assistant.answering.intent import small_talk
from kp_assistant.answering.question import Question

_FOLLOW_UP = re.compile(
    r"^\s*(och|samt|men|än|också|även|and|what about|how about|also)\b[\s,]*", re.I
)
# A short message that opens with a preposition ("I Kenya?", "För 2021?") leans on the last one.
_LEANING = re.compile(r"^\s*(i|in|för|for|med|with|på|at|under|during|inom|within)\b", re.I)
# Words that point back at something the previous question named.
_BACK_REFERENCE = re.compile(
    r"\b(de|dem|deras|dess|där|dit|dom|they|them|their|there|its)\b", re.I
)
_NAME_OR_YEAR = re.compile(r"^[\s,]*([A-ZÅÄÖ][\w-]*|(19|20)\d\d)([\s,]+([A-ZÅÄÖ][\w-]*|och|and|"
                           r"(19|20)\d\d))*[\s?.!]*$")


def contextualise(question: str, history: Sequence[str]) -> str:
    """Read a short follow-up ("Och i Kenya?") as a variation of the previous question.

    Earlier follow-ups are resolved first, so a chain of them keeps its standalone question.
    """
    resolved: list[str] = []
    for earlier in history:
        resolved.append(_resolve(earlier, resolved[-1] if resolved else None))
    return _resolve(question, resolved[-1] if resolved else None)


def _resolve(question: str, previous: str | None) -> str:
    """Rewrite only elliptical follow-ups; a complete question or small talk stays as it is."""
    if previous is None or small_talk(question) or small_talk(previous):
        return question
    words = question.split()
    if _FOLLOW_UP.match(question) or (len(words) <= 3 and (
            _LEANING.match(question) or _NAME_OR_YEAR.match(question))):
        rest = _FOLLOW_UP.sub("", question).strip().rstrip("?").strip()
        return f"{previous.strip().rstrip('?').strip()} {rest}?" if rest else question
    if len(words) <= 6 and _BACK_REFERENCE.search(question):
        # "Vad gjorde de sedan?": the names and years of the previous question fill the gap
        prev = Question.parse(previous)
        named = [w for w in re.findall(r"[\w-]+", previous)
                 if w.lower() in prev.entities or w in prev.years]
        if named:
            return f"{question.strip().rstrip('?').strip()} ({', '.join(named)})?"
    return question
