"""The chat in the browser: a Gradio Blocks app mounted on FastAPI, plus a route for cited files.

Each browser session's conversation lives on the server, in a gr.State: the Chatbot only shows
it. No event of this page takes a value a client could turn into a file path (see
docs/security.md), and nothing per user lives in this module.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import gradio as gr

from kp_assistant.answering.llm_answer import Step, is_writable
from kp_assistant.assistant import Assistant
from kp_assistant.errors import EmptyIndex, KPError
from kp_assistant.models import Answer, Citation
from kp_assistant.render import model_note
from kp_assistant.web.markup import code, document_url, escape

logger = logging.getLogger(__name__)

TITLE = "Kommunala partnerskap – kunskapsassistent"
INTRO = (
    "Ställ frågor om ICLD:s program Kommunala partnerskap. Svaren hämtas enbart ur "
    "programmets dokument och visar alltid källorna."
)
EXAMPLES = [
    "Vilka kommuner arbetar med plast?",
    "Kan en region söka kommunalt partnerskap?",
    "Vilka länder kan man samarbeta med?",
    "Vad handlar samarbetet mellan Robertsfors och Machakos om?",
    "När stänger ansökan?",
]
STAFF_PAGE = "/personal/"  # ui_login.STAFF_PATH; the staff area is mounted by ui_staff
NO_SOURCES = "_Källorna till det senaste svaret visas här._"
SEARCHING = "_Söker i dokumenten …_"
EMPTY_INDEX_REPLY = (
    "Kunskapsbasen är tom: inga dokument har lagts in ännu. Be den som driftar tjänsten att "
    "läsa in dokumenten (`kp-assistant ingest`) och försök sedan igen."
)
FAILURE_REPLY = "Något gick fel när frågan skulle besvaras. Försök gärna igen om en stund."

ChatHistory = list[dict[str, Any]]

def message_text(message: dict[str, Any]) -> str:
    """The text of a chat message, whether its content is a string or Gradio's list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict)).strip()
    return ""


def user_questions(chat_history: ChatHistory) -> list[str]:
    return [t for m in chat_history if m.get("role") == "user" and (t := message_text(m))]


def stream_pieces(text: str, max_steps: int = 40) -> Iterator[str]:
    """Growing prefixes of `text`, a few words at a time, in at most about `max_steps` steps."""
    words = re.findall(r"\S+\s*", text)
    size = max(3, -(-len(words) // max_steps))
    for end in range(size, len(words) + size, size):
        yield "".join(words[:end]).rstrip()


def _citation_block(c: Citation, numbered: bool) -> str:
    head = f"[{c.n}] " if numbered else ""
    page = f" · s. {c.page}" if c.page else ""
    if c.ocr:  # the reader should know the quote may hold misread characters
        page += f" · OCR ({c.ocr_confidence:.0f} %{', osäker läsning' if c.ocr_uncertain else ''})"
    action = "Ladda ner" if c.source.lower().endswith(".docx") else "Öppna"
    where = f" på s. {c.page}" if c.page and c.source.lower().endswith(".pdf") else ""
    return (
        f"**{head}{escape(c.title or c.source)}**{page}  \n{code(c.source)}\n\n"
        f"> {escape(c.quote)}\n\n[{action} dokumentet{where}]({document_url(c)})"
    )


def sources_markdown(answer: Answer) -> str:
    """The sources panel for one answer: its citations, or the related passages if ungrounded."""
    parts: list[str] = []
    if answer.resolved_question and answer.resolved_question != answer.question:
        parts.append(f"_Tolkat som: ”{escape(answer.resolved_question)}”_")
    if answer.grounded and answer.citations:
        parts.append("### Källor")
        parts += [_citation_block(c, numbered=True) for c in answer.citations]
    elif not answer.grounded:
        parts.append("### Möjligen relaterat")
        if answer.related:
            parts.append(
                "_Svaret finns inte i dokumenten; de här avsnitten ligger närmast frågan._"
            )
            parts += [_citation_block(c, numbered=False) for c in answer.related]
        else:
            parts.append("_Inga närliggande avsnitt hittades._")
    else:
        parts.append("_Svaret saknar källhänvisningar._")
    return "\n\n".join(parts)


# -- answers written by a language model --------------------------------------------------

WRITING = "_Språkmodellen skriver; varje mening visas först när den är kontrollerad mot källan …_"


def reply_markdown(answer: Answer) -> str:
    """The chat message of an answer that went past a language model: notice, text, note."""
    text = escape(answer.text) if answer.mode == "llm" else answer.text
    parts = [f"_{escape(answer.notice)}_", text] if answer.notice else [text]
    if note := model_note(answer):
        removed = "\n".join(f"- ”{escape(d.sentence)}” – {escape(d.reason)}"
                            for d in answer.dropped)
        parts.append(f"<details><summary>{html.escape(note)}</summary>\n\n{removed}\n\n"
                     "</details>" if removed else f"_{escape(note)}_")
    return "\n\n".join(parts)


def written_reply(history: ChatHistory, steps: Iterator[Step]) -> Iterator[tuple[ChatHistory, str]]:
    """Chat updates from a model's verified sentences; the sources once the answer is final."""
    for step in steps:
        if step.final is None:
            yield [*history, {"role": "assistant", "content": escape(step.text)}], WRITING
        else:
            reply = {"role": "assistant", "content": reply_markdown(step.final)}
            yield [*history, reply], sources_markdown(step.final)


class ChatHandler:
    """The chat's event handlers. `stream_delay` is the pause between streamed pieces."""

    def __init__(self, assistant: Assistant, *, stream_delay: float = 0.02) -> None:
        self.assistant = assistant
        self.stream_delay = stream_delay

    def respond(
        self, message: str, chat_history: ChatHistory | None
    ) -> Iterator[tuple[ChatHistory, str | dict[str, Any]]]:
        """Answer `message` in the conversation `chat_history`, yielding the growing reply."""
        history = list(chat_history or [])
        question = (message or "").strip()
        if not question:
            yield history, gr.skip()
            return
        previous = user_questions(history)
        history.append({"role": "user", "content": question})
        yield [*history, {"role": "assistant", "content": "…"}], SEARCHING
        try:
            answer = self.assistant.ask(question, history=previous, llm=False)
            writer = self.assistant.writer
        except EmptyIndex:
            yield [*history, {"role": "assistant", "content": EMPTY_INDEX_REPLY}], NO_SOURCES
            return
        except KPError as exc:
            yield [*history, {"role": "assistant", "content": str(exc)}], NO_SOURCES
            return
        except Exception:
            logger.exception("answering %r failed", question)
            yield [*history, {"role": "assistant", "content": FAILURE_REPLY}], NO_SOURCES
            return
        if writer is not None and is_writable(answer):
            yield from written_reply(history, writer.stream(answer))
            return
        sources = sources_markdown(answer)
        for piece in stream_pieces(answer.text):
            yield [*history, {"role": "assistant", "content": piece}], sources
            if self.stream_delay:
                time.sleep(self.stream_delay)
        yield [*history, {"role": "assistant", "content": answer.text}], sources

    @staticmethod
    def take_question(message: str) -> tuple[str, str]:
        """Empty the textbox at once and hand its text on to `respond`."""
        return "", message

    @staticmethod
    def reset() -> tuple[ChatHistory, str]:
        return [], NO_SOURCES

    def api_ask(self, question: str, history: list[str] | None = None) -> dict[str, Any]:
        """Answer one question for API clients: the answer and its citations, as `ask --json`.

        `history` lists the conversation's earlier questions, so that follow-ups are understood.
        """
        if not (question or "").strip():
            raise gr.Error("Frågan är tom.", print_exception=False)
        try:
            return self.assistant.ask(question, history=history or []).to_json()
        except EmptyIndex:
            raise gr.Error(EMPTY_INDEX_REPLY, print_exception=False) from None
        except KPError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception:
            logger.exception("answering %r failed", question)
            raise gr.Error(FAILURE_REPLY, print_exception=False) from None


def build_ui(
    assistant: Assistant, *, stream_delay: float = 0.02, staff_link: bool = False
) -> gr.Blocks:
    """The chat page. It is not launched; `create_app` mounts it."""
    handler = ChatHandler(assistant, stream_delay=stream_delay)
    # the chat takes no files; CSV downloads are written by the server and cleaned up hourly
    demo = gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600))
    with demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Tab("Chatt", id="chatt"):
            pending = gr.State("")  # the question on its way from the textbox to the handler
            # the conversation, kept on the server: a client cannot send a history of its own
            conversation = gr.State([])
            with gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label="Samtal",
                        height=520,
                        buttons=["copy"],
                        feedback_options=None,
                        placeholder="Ställ en fråga om Kommunala partnerskap – eller välj ett "
                        "exempel nedan.",
                    )
                    with gr.Row():
                        textbox = gr.Textbox(
                            show_label=False,
                            scale=5,
                            autofocus=True,
                            max_lines=6,
                            placeholder="Skriv din fråga här, t.ex. ”Vilka länder kan man "
                            "samarbeta med?”",
                        )
                        send = gr.Button("Skicka", variant="primary", scale=1, min_width=90)
                    with gr.Row():
                        examples = [gr.Button(q, size="sm") for q in EXAMPLES]
                    clear = gr.Button("Ny konversation", size="sm", variant="secondary")
                with gr.Column(scale=2):
                    sources = gr.Markdown(NO_SOURCES, label="Källor", max_height=640)

        # imported here: ui_partnerships imports document_url from this module
        from kp_assistant.web.partnerships import partnerships_tab

        partnerships_tab(assistant)
        if staff_link:
            gr.Markdown(f"[Personal: hantera dokument]({STAFF_PAGE})")

        # The events are for this page only, not a public API.
        private: dict[str, Any] = {"api_visibility": "private"}
        instant: dict[str, Any] = {"queue": False, **private}

        def respond(question: str, history: ChatHistory) -> Iterator[tuple[Any, ...]]:
            for shown, panel in handler.respond(question, history):
                yield shown, shown, panel

        def answer_after(event: Any) -> None:
            event.then(
                respond,
                [pending, conversation],
                [chatbot, conversation, sources],
                show_progress="minimal",
                **private,
            )

        for trigger in (textbox.submit, send.click):
            answer_after(trigger(handler.take_question, [textbox], [textbox, pending], **instant))
        for button in examples:
            answer_after(button.click(lambda q: q, [button], [pending], **instant))
        for reset in (clear.click, chatbot.clear):
            reset(lambda: ([], [], NO_SOURCES), None, [chatbot, conversation, sources], **instant)
        # the one public endpoint, for gradio_client and other programs: /ask
        gr.api(handler.api_ask, api_name="ask")  # type: ignore[attr-defined]  # not in __all__
    demo.queue(default_concurrency_limit=4)  # several users may ask at once
    return demo


