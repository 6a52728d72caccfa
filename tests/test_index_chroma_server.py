"""Chroma server mode for real: `chroma run` on 127.0.0.1 instead of the on-disk store.

Ingest and ask go through a server started here; the server is restarted under a live
Assistant, which must report the outage clearly and answer again afterwards without being
recreated. The integration checks of test_integration.py run once more with their vectors in
a server: the one `.ci/run` starts (KP_TEST_CHROMA_URL), or else one started here.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import test_integration as checks
from conftest import (
    chroma_args,
    chroma_heartbeat,
    free_port,
    hashing,
    make_corpus,
    stop,
    wait_for_http,
)
from kp_assistant.assistant import Assistant
from kp_assistant.errors import KPError
from kp_assistant.index.store import COLLECTION
from kp_assistant.settings import Settings
from kp_assistant.web.chat import ChatHandler

pytestmark = pytest.mark.chroma_server

# answered from retrieved passages (dense + keyword); list questions may not need Chroma at all
QUESTION = "Vad handlar samarbetet mellan Robertsfors och Machakos om?"


class ChromaProcess:
    """One `chroma run` with its data folder and port, which can be stopped and started again."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "db"
        self.log = folder / "chroma.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                chroma_args(self.path, self.port), stdout=out, stderr=subprocess.STDOUT
            )
        wait_for_http(chroma_heartbeat(self.port), self.proc, self.log, timeout=60)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaProcess]:
    server = ChromaProcess(tmp_path_factory.mktemp("chroma-own"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def chroma_client(host: str, port: int) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.HttpClient(
        host=host, port=port, settings=ChromaSettings(anonymized_telemetry=False)
    )


def drop_collection(host: str, port: int) -> None:
    # every index on one server shares the collection name, so each test starts from none
    with contextlib.suppress(Exception):  # not there yet
        chroma_client(host, port).delete_collection(COLLECTION)


def on_server(tmp_path: Path, chroma: ChromaProcess) -> Settings:
    drop_collection("127.0.0.1", chroma.port)
    return hashing(
        tmp_path, make_corpus(tmp_path), chroma_host="127.0.0.1", chroma_port=chroma.port
    )


def test_ingest_and_ask_through_a_chroma_server(tmp_path: Path, chroma: ChromaProcess) -> None:
    settings = on_server(tmp_path, chroma)
    assistant = Assistant.from_settings(settings)
    summary = assistant.ingest()
    assert summary.failed == {} and len(summary.added) == 4

    answer = assistant.ask(QUESTION)
    assert answer.grounded, answer.text
    assert "jämställdhet" in answer.text
    assert "robertsfors_machakos.txt" in {c.source for c in answer.citations}

    # the vectors are in the server, none on disk; a second process sees the same chunks
    assert not (settings.index_dir / "chroma").exists()
    stored = chroma_client("127.0.0.1", chroma.port).get_collection(COLLECTION)
    assert stored.count() == summary.chunks_total == len(assistant.store.manifest.chunk_ids())
    assert Assistant.from_settings(settings).ask(QUESTION).text == answer.text

    # sync keeps working through the server: unchanged embeds nothing, a removal is removed
    again = Assistant.from_settings(settings).ingest()
    assert again.chunks_embedded == 0 and again.added == again.updated == []
    (settings.corpus_dir / "kalix_masaka.md").unlink()
    removed = Assistant.from_settings(settings).ingest()
    assert removed.removed == ["kalix_masaka.md"]
    assert stored.count() == removed.chunks_total < summary.chunks_total


def test_a_restart_of_the_server_gives_a_clear_error_then_answers_again(
    tmp_path: Path, chroma: ChromaProcess
) -> None:
    assistant = Assistant.from_settings(on_server(tmp_path, chroma))
    assistant.ingest()
    before = assistant.ask(QUESTION)
    assert before.grounded

    chroma.stop()
    try:
        with pytest.raises(KPError) as caught:
            assistant.ask(QUESTION)
        message = str(caught.value)
        assert f"127.0.0.1:{chroma.port}" in message and "chroma" in message.lower(), message
        # the chat shows that message as its reply, not the generic failure
        history, _ = list(ChatHandler(assistant, stream_delay=0).respond(QUESTION, []))[-1]
        assert history[-1]["content"] == message
    finally:
        chroma.start()

    # the same Assistant, not recreated, answers again
    after = assistant.ask(QUESTION)
    assert after.text == before.text
    assert [c.chunk_id for c in after.citations] == [c.chunk_id for c in before.citations]


# -- the integration checks, with the dev corpus' vectors in a Chroma server ----------------


@pytest.fixture(scope="module")
def dev_index(
    tmp_path_factory: pytest.TempPathFactory, dev_corpus: Path, chroma_address: tuple[str, int]
) -> Settings:
    host, port = chroma_address
    drop_collection(host, port)
    settings = Settings(
        index_dir=tmp_path_factory.mktemp("dev-on-server") / "index",
        corpus_dir=dev_corpus,
        chroma_host=host,
        chroma_port=port,
    )
    summary = Assistant.from_settings(settings).ingest()
    assert summary.failed == {}
    assert len(summary.added) == len([p for p in dev_corpus.iterdir() if p.is_file()])
    assert not (settings.index_dir / "chroma").exists()
    return settings


@pytest.fixture(scope="module")
def assistant(dev_index: Settings) -> Assistant:
    return Assistant.from_settings(dev_index)


# Collected here a second time, so they use this module's dev_index and assistant.
test_kalix_masaka = pytest.mark.integration(checks.test_kalix_masaka)
test_robertsfors_machakos = pytest.mark.integration(checks.test_robertsfors_machakos)
test_who_can_apply = pytest.mark.integration(checks.test_who_can_apply)
test_unanswerable_question_is_refused = pytest.mark.integration(
    checks.test_unanswerable_question_is_refused
)
test_second_ingest_of_the_unchanged_corpus_embeds_nothing = pytest.mark.integration(
    checks.test_second_ingest_of_the_unchanged_corpus_embeds_nothing
)
