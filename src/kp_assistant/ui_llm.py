"""The chat's view of an answer written by a language model: streamed, verified sentences,
then the notice, the answer and a note on who wrote it, with the removed sentences."""

from __future__ import annotations

import html
from collections.abc import Iterator

from .llm_answer import Step
from .models import Answer
from .render import model_note
from .ui import ChatHistory, _escape, sources_markdown

WRITING = "_Språkmodellen skriver; varje mening visas först när den är kontrollerad mot källan …_"


def reply_markdown(answer: Answer) -> str:
    """The chat message of an answer that went past a language model: notice, text, note."""
    text = _escape(answer.text) if answer.mode == "llm" else answer.text
    parts = [f"_{_escape(answer.notice)}_", text] if answer.notice else [text]
    if note := model_note(answer):
        removed = "\n".join(f"- ”{_escape(d.sentence)}” – {_escape(d.reason)}"
                            for d in answer.dropped)
        parts.append(f"<details><summary>{html.escape(note)}</summary>\n\n{removed}\n\n"
                     "</details>" if removed else f"_{_escape(note)}_")
    return "\n\n".join(parts)


def written_reply(history: ChatHistory, steps: Iterator[Step]) -> Iterator[tuple[ChatHistory, str]]:
    """Chat updates from a model's verified sentences; the sources once the answer is final."""
    for step in steps:
        if step.final is None:
            yield [*history, {"role": "assistant", "content": _escape(step.text)}], WRITING
        else:
            reply = {"role": "assistant", "content": reply_markdown(step.final)}
            yield [*history, reply], sources_markdown(step.final)
