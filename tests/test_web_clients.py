"""The real app, started as `kp-assistant serve` on 127.0.0.1, used the way users' tools use it.

The official `gradio_client` asks through the app's public `/ask` endpoint; Debian's Chromium,
driven by Playwright, types into the chat, reads the streamed answer and its sources, and opens
a cited document. The index holds a few dev-corpus documents, built with the hashing backend.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import VENV_BIN, free_port, log_tail, running

pytestmark = pytest.mark.clients

KALIX = "dev_partnerskap_kalix_masaka.md"
PROGRAMME_PDF = "dev_programbeskrivning_kommunala_partnerskap.pdf"
DOCUMENTS = [KALIX, PROGRAMME_PDF, "dev_faq_for_sokande.md", "dev_natverk_klimat.html"]
KALIX_QUESTION = "Vad handlar projektet mellan Kalix och Masaka om?"
PDF_QUESTION = "Hur länge pågår en förberedelse normalt?"  # the programme PDF, page 3
UNANSWERABLE = "Vilka svenska kommuner har partnerskap med kommuner i Namibia?"

CHROMIUM = Path("/usr/bin/chromium")
# Headless and quiet: no GPU, no QUIC, no calls home; a new profile for every run.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CITATION_KEYS = {"n", "source", "page", "chunk_id", "quote", "score", "title"}


@dataclass
class App:
    url: str
    log: Path


def kp_env(**extra: str) -> dict[str, str]:
    """The subprocess environment: this one without KP_* variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KP_")}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, dev_corpus: Path) -> Iterator[App]:
    """`kp-assistant serve` on a free port over a fresh index; stopped after the module."""
    tmp = tmp_path_factory.mktemp("clients")
    corpus = tmp / "corpus"
    corpus.mkdir()
    for name in DOCUMENTS:
        shutil.copy(dev_corpus / name, corpus / name)
    kp = VENV_BIN / "kp-assistant"
    assert kp.is_file(), f"{kp} is missing: install the package (pip install -e '.[test]')"
    env = kp_env(KP_EMBEDDING_BACKEND="hashing")
    index = tmp / "index"
    done = subprocess.run(
        [str(kp), "ingest", "--index", str(index), "--json", str(corpus)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp / "serve.log"
    args = [str(kp), "serve", "--index", str(index), "--host", "127.0.0.1", "--port", str(port)]
    with running(args, url, log, env=env, timeout=120):
        yield App(url, log)


@pytest.fixture(scope="module")
def client(app: App) -> Any:
    from gradio_client import Client

    client = Client(app.url, verbose=False, download_files=False)
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    if "/ask" not in endpoints:
        pytest.fail(
            "the app has no public /ask endpoint for API clients (gr.api(..., api_name='ask') "
            f"in ui.build_ui); named endpoints: {sorted(endpoints)}"
        )
    return client


def fetch(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers["content-type"], response.read()


# -- gradio_client ---------------------------------------------------------------------------


def test_gradio_client_asks_and_reads_answer_with_citations(app: App, client: Any) -> None:
    result = client.predict(KALIX_QUESTION, api_name="/ask")
    assert result["question"] == KALIX_QUESTION
    assert result["grounded"] is True, result
    assert "plast" in result["answer"].lower()
    citations = result["citations"]
    assert citations and all(set(c) >= CITATION_KEYS for c in citations)
    assert [c["n"] for c in citations] == list(range(1, len(citations) + 1))
    assert all(f"[{c['n']}]" in result["answer"] for c in citations)
    assert KALIX in {c["source"] for c in citations}
    first = citations[0]
    assert first["quote"] and first["chunk_id"]

    # the cited document opens from the same server
    status, kind, body = fetch(app.url + "dokument/" + first["source"])
    assert status == 200 and kind.startswith("text/plain")
    assert first["quote"].split()[0] in body.decode("utf-8")


def test_gradio_client_gets_the_page_of_a_cited_pdf(app: App, client: Any) -> None:
    result = client.predict(PDF_QUESTION, api_name="/ask")
    assert result["grounded"] is True, result
    pdf = [c for c in result["citations"] if c["source"] == PROGRAMME_PDF]
    assert pdf, result["citations"]
    assert all(isinstance(c["page"], int) and c["page"] >= 1 for c in pdf)
    status, kind, body = fetch(app.url + "dokument/" + PROGRAMME_PDF)
    assert (status, kind) == (200, "application/pdf") and body.startswith(b"%PDF")


def test_gradio_client_follow_up_and_refusal(client: Any) -> None:
    follow_up = client.predict("Och Masaka?", [KALIX_QUESTION], api_name="/ask")
    assert follow_up["question"] == "Och Masaka?" and follow_up["grounded"], follow_up
    refused = client.predict(UNANSWERABLE, api_name="/ask")
    assert refused["grounded"] is False and refused["citations"] == []
    assert refused["answer"].startswith("Jag hittar ing")


def test_gradio_client_errors_are_messages(client: Any) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as caught:
        client.predict("   ", api_name="/ask")
    assert "Traceback" not in str(caught.value) and str(caught.value).strip()


def test_concurrent_gradio_client_sessions(app: App, client: Any) -> None:
    from gradio_client import Client

    questions = [KALIX_QUESTION, PDF_QUESTION, UNANSWERABLE] * 4
    expected = {q: client.predict(q, api_name="/ask")["answer"] for q in set(questions)}

    def ask(question: str) -> str:
        return str(Client(app.url, verbose=False).predict(question, api_name="/ask")["answer"])

    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        answers = list(pool.map(ask, questions))
    assert answers == [expected[q] for q in questions]  # each session gets its own answer


# -- a real browser -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser_context() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        message = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does this)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="kp-chromium-") as profile:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
            locale="sv-SE",
        )
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()


def settled_text(locator: Any, timeout: float = 30) -> str:
    """The text of a streamed grounded answer once it is whole: it ends with a citation marker
    and has stopped growing for a while."""
    deadline = time.monotonic() + timeout
    last, same = None, 0
    while time.monotonic() < deadline:
        text = locator.inner_text().strip()
        same = same + 1 if text == last and text.endswith("]") else 0
        if same >= 6:
            return str(text)
        last = text
        time.sleep(0.25)
    raise AssertionError(f"the answer did not settle within {timeout} s: {last!r}")


def test_browser_asks_sees_sources_and_opens_cited_document(
    app: App, browser_context: Any, tmp_path: Path
) -> None:
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app.url, wait_until="load")
    box = page.get_by_placeholder("Skriv din fråga här", exact=False)
    box.wait_for()  # the page is drawn by Gradio's scripts after "load"
    assert "Kommunala partnerskap" in page.title()

    box.fill(KALIX_QUESTION)
    box.press("Enter")

    bot = page.locator('[data-testid="bot"]').last
    bot.wait_for()
    answer = settled_text(bot)
    assert "plast" in answer.lower() and "[1]" in answer, answer
    assert page.locator('[data-testid="user"]').last.inner_text().strip() == KALIX_QUESTION

    link = page.locator(f'a[href^="/dokument/{KALIX}"]').first
    link.wait_for()
    sources = page.locator(".prose", has=link).first.inner_text()
    assert "Källor" in sources and KALIX in sources and "[1]" in sources, sources
    page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
    assert (tmp_path / "chat.png").stat().st_size > 10_000

    # the link opens the document in a new tab, from this server
    with (
        browser_context.expect_event(
            "response", predicate=lambda r: "/dokument/" in r.url
        ) as response_info,
        browser_context.expect_page() as tab_info,
    ):
        link.click()
    response = response_info.value
    assert response.status == 200, response.url
    assert response.headers["content-type"].startswith("text/plain")
    tab = tab_info.value
    tab.wait_for_load_state()
    assert "Masaka" in tab.locator("body").inner_text()
    tab.close()
    assert errors == [], errors
    page.close()


def test_browser_opens_a_cited_pdf_at_its_page(app: App, browser_context: Any) -> None:
    page = browser_context.new_page()
    page.goto(app.url, wait_until="load")
    box = page.get_by_placeholder("Skriv din fråga här", exact=False)
    box.fill(PDF_QUESTION)
    page.get_by_role("button", name="Skicka").click()

    link = page.locator(f'a[href^="/dokument/{PROGRAMME_PDF}#page="]').first
    link.wait_for()
    assert "på s." in link.inner_text()
    with browser_context.expect_event(
        "response", predicate=lambda r: f"/dokument/{PROGRAMME_PDF}" in r.url
    ) as response_info:
        link.click()
    response = response_info.value
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    page.close()


def test_server_log_has_no_tracebacks(app: App) -> None:
    # runs last in this module: nothing the clients did above may have crashed a handler
    assert "Traceback" not in app.log.read_text(errors="replace"), log_tail(app.log)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
