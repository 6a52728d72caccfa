"""Sentence vectors of the evidence model: kept on disk, reused, rebuilt when unusable."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kp_assistant.answering.sentences import FILE_NAME, SentenceVectors, candidate_lines
from kp_assistant.assistant import Assistant
from kp_assistant.embedding import HashingEmbedder
from kp_assistant.settings import Settings

TEXTS = ["Kalix samarbetar med Masaka.", "Projektet handlar om plast.", "Det pågick i tre år."]


class Counting(HashingEmbedder):
    """Hashing vectors that count the texts embedded."""

    def __init__(self, name: str = "hashing-256") -> None:
        super().__init__()
        self.name = name
        self.embedded = 0

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.embedded += len(texts)
        return super().embed(texts)


def test_vectors_are_saved_and_reused_by_the_next_process(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    first = Counting()
    assert SentenceVectors(first, path=path).warm(TEXTS) == 3
    assert first.embedded == 3 and path.is_file()

    again = Counting()
    vectors = SentenceVectors(again, path=path)
    got = vectors.get(TEXTS[:2])
    assert again.embedded == 0  # read from the file, not computed
    expected = HashingEmbedder().embed_passages(TEXTS[:2])
    assert np.allclose(np.stack([got[t] for t in TEXTS[:2]]), expected)
    assert vectors.warm(TEXTS) == 0


def test_another_models_vectors_are_not_used(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    SentenceVectors(Counting("model-a"), path=path).warm(TEXTS)
    other = Counting("model-b")
    SentenceVectors(other, path=path).get(TEXTS)
    assert other.embedded == 3


def test_a_damaged_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    path.write_bytes(b"not a numpy archive")
    embedder = Counting()
    vectors = SentenceVectors(embedder, path=path)
    assert vectors.warm(TEXTS) == 3
    assert len(SentenceVectors(Counting(), path=path).get(TEXTS)) == 3


def test_warming_stops_when_asked_and_keeps_what_it_made(tmp_path: Path) -> None:
    stop = threading.Event()
    texts = [f"Mening nummer {i} om partnerskap." for i in range(10)]
    path = tmp_path / FILE_NAME
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        stop.set()  # after the first batch

    made = SentenceVectors(Counting(), path=path).warm(texts, stop=stop, batch=4,
                                                       on_progress=progress)
    assert made == 4 and seen == [4]
    assert len(SentenceVectors(Counting(), path=path).get(texts[:4])) == 4


def test_candidate_lines_skip_headings_and_fragments() -> None:
    text = "# Rubrik\nKort rad\nEn mening som säger något om projektet.\n- en punkt i en lista"
    assert candidate_lines(text) == [(2, "En mening som säger något om projektet."),
                                     (3, "- en punkt i en lista")]


def test_the_assistant_warms_every_sentence_of_its_index_once(
    hashing_settings: Settings,
) -> None:
    assistant = Assistant.from_settings(hashing_settings)
    again = Assistant.from_settings(hashing_settings)  # a new process on the same index
    try:
        assistant.ingest()
        lines = {ln for c in assistant.store.all_chunks() for _, ln in candidate_lines(c.text)}
        assert assistant.warm_sentences() == len(lines) > 0
        assert (hashing_settings.index_dir / FILE_NAME).is_file()
        assert again.warm_sentences() == 0
        thread = again.warm_sentences_later()
        thread.join(timeout=30)
        assert not thread.is_alive()
        assert again.ask("Vad handlar partnerskapet om?").text  # answers from warmed vectors
    finally:
        assistant.store.close()
        again.store.close()


def test_a_table_rule_is_no_evidence() -> None:
    from kp_assistant.answering.sentences import candidate_lines

    text = "| Omgång | Belopp |\n|---|---|\n| Pilot 2021 | 1,8 miljoner kronor |\n|:---:|---:|"
    assert [ln for _, ln in candidate_lines(text)] == [
        "| Omgång | Belopp |", "| Pilot 2021 | 1,8 miljoner kronor |"]
