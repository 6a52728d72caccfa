"""Answers written by a language model, shown sentence by sentence once each is verified.

The extractive answer chooses the evidence and stays the fallback: when the model is not
reachable, times out, breaks off, or writes nothing that survives verification, the extractive
answer is returned (with a one-line notice when the model failed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from kp_assistant.answering.llm import NO_ANSWER, prompt_messages, stream_text
from kp_assistant.answering.question import Lang, detect_language
from kp_assistant.answering.verify import (
    MARKER,
    Passage,
    Verdict,
    attach_markers,
    split_generated,
    strip_markers,
    unfinished,
    verify,
)
from kp_assistant.models import Answer, Chunk, Citation, Dropped

logger = logging.getLogger(__name__)

NOTICE: dict[Lang, str] = {
    "sv": "Språkmodellen svarade inte ({why}); svaret nedan är hämtat direkt ur dokumenten.",
    "en": "The language model did not answer ({why}); the answer below is taken from the "
    "documents directly.",
}


@dataclass
class Step:
    """What the reader may see so far: verified sentences only; `final` once it is done."""

    text: str
    final: Answer | None = None


def is_writable(answer: Answer) -> bool:
    """A model rewrites short grounded answers (and their further reading); refusals and
    complete lists stay as they are."""
    lines = answer.text.splitlines()
    return answer.grounded and bool(answer.citations) and len(lines) == 1 + answer.further


class Writer:
    """Writes an answer with `llm` from the passages an extractive answer cited."""

    def __init__(self, llm: Any, chunks: Callable[[Sequence[str]], list[Chunk]], *,
                 model: str, timeout: float) -> None:
        self.llm = llm
        self.chunks = chunks  # chunk ids -> chunks (Store.get)
        self.model = model
        self.timeout = timeout

    def passages(self, answer: Answer) -> list[Passage]:
        ids = list(dict.fromkeys(c.chunk_id for c in answer.citations))
        return [Passage.from_chunk(i, c) for i, c in enumerate(self.chunks(ids), start=1)]

    def write(self, answer: Answer) -> Answer:
        """The whole answer at once (one non-streaming request), verified."""
        final = None
        for step in self.stream(answer, streaming=False):
            final = step.final
        assert final is not None  # stream always ends with a final step
        return final

    def stream(self, answer: Answer, *, streaming: bool = True) -> Iterator[Step]:
        """Verified sentences as the model writes them, then the finished answer."""
        started = time.perf_counter()
        question = answer.resolved_question or answer.question
        lang = detect_language(question)
        passages = self.passages(answer)
        if not passages:
            yield Step(answer.text, answer)
            return
        shown = _Shown(passages)
        dropped: list[Dropped] = []
        first: float | None = None
        buffer = ""
        try:
            messages = prompt_messages(question, lang, passages)
            deltas = stream_text(self.llm, messages) if streaming else iter(
                [self.llm.chat(messages).message.content or ""])
            began: float | None = None
            for delta in deltas:
                # waiting for the first byte is bounded by the client's own timeout
                began = began or time.perf_counter()
                if time.perf_counter() - began > self.timeout:
                    raise TimeoutError(f"no complete answer within {self.timeout:g} s")
                buffer += delta
                pieces = split_generated(buffer)
                if len(pieces) < 2 or unfinished(pieces[-1]):
                    continue
                # all but the last are finished; the last may still grow or get its marker
                for sentence in pieces[:-1]:
                    if shown.take(verify(sentence, passages), dropped, lang):
                        first = first or time.perf_counter()
                        yield Step(shown.text())
                buffer = _rest_after(buffer, pieces[-1])
            for sentence in split_generated(buffer):
                if shown.take(verify(sentence, passages), dropped, lang):
                    first = first or time.perf_counter()
                    yield Step(shown.text())
        except Exception as exc:  # any failure of the model or its server: fall back
            logger.warning("language model failed: %s", exc)
            notice = NOTICE[lang].format(why=_why(exc))
            yield Step(answer.text, _fallback(answer, dropped, notice, self.model))
            return
        if not shown.verdicts:
            yield Step(answer.text, _fallback(answer, dropped, "", self.model))
            return
        done = time.perf_counter()
        timings = dict(answer.timings_ms)
        timings["llm_first"] = ((first or done) - started) * 1000
        timings["llm"] = (done - started) * 1000
        timings["total"] = timings.get("total", 0.0) + timings["llm"]
        yield Step(shown.text(), replace(
            answer, text=shown.text(), citations=shown.citations(), mode="llm",
            dropped=dropped, model=self.model, timings_ms=timings, notice="",
        ))


class _Shown:
    """Sentences that passed, with their markers renumbered to citations in order of use."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        self.passages = {p.n: p for p in passages}
        self.verdicts: list[Verdict] = []
        self.numbers: dict[int, int] = {}  # passage number -> citation number
        self.support: dict[int, list[int]] = {}

    def take(self, verdict: Verdict, dropped: list[Dropped], lang: Lang) -> bool:
        if not verdict.ok:
            reason = verdict.reason
            if not verdict.cited and _is_no_answer(verdict.sentence, lang):
                reason = "says the passages do not answer the question"
            dropped.append(Dropped(strip_markers(verdict.sentence), reason))
            return False
        for n in verdict.cited:
            self.numbers.setdefault(n, len(self.numbers) + 1)
            seen = self.support.setdefault(n, [])
            seen += [i for i in verdict.support if i not in seen]
        self.verdicts.append(verdict)
        return True

    def text(self) -> str:
        return " ".join(
            f"{_sentence_body(v.sentence)} " + "".join(f"[{self.numbers[n]}]" for n in v.cited)
            for v in self.verdicts
        )

    def citations(self) -> list[Citation]:
        out = []
        for n, number in sorted(self.numbers.items(), key=lambda kv: kv[1]):
            p = self.passages[n]
            picked = sorted(self.support.get(n, [])) or range(len(p.sentences))
            quote = " … ".join(p.sentences[i] for i in picked if i < len(p.sentences))
            out.append(Citation(number, p.chunk.source, p.chunk.page, p.chunk.id, quote, 1.0,
                                p.chunk.title))
        return out


def _sentence_body(sentence: str) -> str:
    body = strip_markers(sentence).rstrip()
    return body if body[-1:] in ".!?" else f"{body}."


def _is_no_answer(sentence: str, lang: Lang) -> bool:
    plain = strip_markers(sentence).strip(" .\"'").lower()
    return any(plain.startswith(t.strip(" .").lower()[:20]) for t in NO_ANSWER.values())


def _rest_after(buffer: str, last: str) -> str:
    """The unfinished end of `buffer`, from where its last sentence starts."""
    core = MARKER.split(last)[0].strip()[:12] or last
    at = buffer.rfind(core)
    return buffer[at:] if at >= 0 else last


def _why(exc: BaseException) -> str:
    name = type(exc).__name__
    if "Timeout" in name or isinstance(exc, TimeoutError):
        return "timeout"
    if "Connection" in name or isinstance(exc, ConnectionError):
        return "no connection"
    return name


def _fallback(answer: Answer, dropped: list[Dropped], notice: str, model: str) -> Answer:
    return replace(answer, mode="extractive", dropped=dropped, notice=notice, model=model)


__all__ = ["NOTICE", "Step", "Writer", "attach_markers", "is_writable"]
