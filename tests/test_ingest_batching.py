"""Small files share one call to the encoder; every file still gets its own vectors and event."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from conftest import hashing, write_files
from kp_assistant import ingest
from kp_assistant.assistant import Assistant
from kp_assistant.embedding import HashingEmbedder
from kp_assistant.index.store import Store
from kp_assistant.models import FileEvent


class CountingEmbedder(HashingEmbedder):
    """The hashing backend, remembering how many passages each call embedded."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def embed_passages(self, texts: Sequence[str]) -> Any:
        self.calls.append(len(texts))
        return super().embed_passages(texts)


SMALL = {
    f"{name}.md": f"# {name.title()}\n\n{name.title()} kommun samarbetar med {partner}."
    for name, partner in [("alingsas", "Ndola"), ("boras", "Kisumu"), ("eda", "Mbale"),
                          ("vaxjo", "JB Marks"), ("ystad", "Gulu")]
}


def test_small_files_share_a_call_and_a_long_file_has_its_own(tmp_path: Path) -> None:
    words = " ".join(f"ord{i % 997}" for i in range(110 * ingest.EMBED_GROUP))
    corpus = write_files(tmp_path / "corpus", {**SMALL, "lang.md": f"# Lång\n\n{words}"})
    settings = hashing(tmp_path, corpus)
    embedder = CountingEmbedder()
    assistant = Assistant(Store.from_settings(settings), embedder, settings)
    events: list[FileEvent] = []
    summary = assistant.ingest(on_event=events.append)
    assert sorted(summary.added) == sorted([*SMALL, "lang.md"])

    long_chunks = len(assistant.store.manifest.files["lang.md"].chunks)
    assert long_chunks >= ingest.EMBED_GROUP
    # alingsas, boras, eda in one call; lang.md alone; vaxjo and ystad together at the end
    assert embedder.calls == [3, long_chunks, 2]
    # a notice before each call, counting the files finished before it; then each file
    assert [(e.source, e.status, e.done, e.chunks) for e in events] == [
        ("", "embedding", 0, 3),
        *[(s, "added", n, 1) for n, s in enumerate(["alingsas.md", "boras.md", "eda.md"], 1)],
        ("", "embedding", 3, long_chunks),
        ("lang.md", "added", 4, long_chunks),
        ("", "embedding", 4, 2),
        ("vaxjo.md", "added", 5, 1), ("ystad.md", "added", 6, 1),
    ]
    assert {e.total for e in events} == {6}
    # each chunk was stored with the vector of its own text, not a neighbour's in the call
    store = assistant.store
    for chunk in store.all_chunks():
        vector = embedder.embed_passages([ingest._embed_text(chunk)])[0]
        assert store.dense_ids(vector, 1)[0][0] == chunk.id


def test_a_failing_file_between_grouped_ones_keeps_its_place(tmp_path: Path) -> None:
    files = {**SMALL, "c_tom.md": "   \n"}
    corpus = write_files(tmp_path / "corpus", files)
    settings = hashing(tmp_path, corpus)
    events: list[FileEvent] = []
    summary = Assistant(Store.from_settings(settings), CountingEmbedder(), settings).ingest(
        on_event=events.append)
    events = [e for e in events if e.status != "embedding"]
    assert [e.source for e in events] == sorted(files)
    assert [e.done for e in events] == list(range(1, len(files) + 1))
    assert summary.failed == {"c_tom.md": "no text found"}
    assert sorted(summary.added) == sorted(SMALL)


def test_the_progress_line_and_the_staff_page_tell_of_a_group_being_embedded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kp_assistant.progress import ProgressPrinter
    from kp_assistant.web.staff.page import _event_line

    notice = FileEvent("", "embedding", 149, "", 2, 16)
    ProgressPrinter()(notice)
    line = capsys.readouterr().err.strip()
    assert line.startswith("[###") and "2/16 files, 0 chunks embedded" in line
    assert line.endswith("embedding 149 chunks")
    assert _event_line(notice) == "2/16: 149 avsnitt bäddas in"


def test_the_reader_starts_on_the_next_changed_file_and_skips_unchanged_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kp_assistant.documents.sandbox import Sandbox

    corpus = write_files(tmp_path / "corpus", SMALL)
    settings = hashing(tmp_path, corpus)
    assistant = Assistant(Store.from_settings(settings), CountingEmbedder(), settings)
    assistant.ingest()
    for name in ("alingsas.md", "vaxjo.md"):  # the first and the fourth of five
        (corpus / name).write_text(f"# {name}\n\nNu arbetar de med vatten.\n", "utf-8")
    calls: list[str] = []
    monkeypatch.setattr(Sandbox, "prefetch", _recording(Sandbox.prefetch, "prefetch", calls))
    monkeypatch.setattr(Sandbox, "read", _recording(Sandbox.read, "read", calls))
    monkeypatch.setattr(Sandbox, "close", _recording(Sandbox.close, "close", calls))
    summary = assistant.ingest()
    assert summary.updated == ["alingsas.md", "vaxjo.md"]
    # the first read asks for itself; while it is chunked the reader starts on vaxjo.md, which
    # is then collected without a new reader process (a mismatch would close the first)
    assert calls == ["read alingsas.md", "prefetch alingsas.md", "prefetch vaxjo.md",
                     "read vaxjo.md", "close"]


def _recording(method: Any, label: str, calls: list[str]) -> Any:
    def record(self: Any, *args: Any, **kwargs: Any) -> Any:
        if label != "close" or self._process is not None:  # closing no process is no event
            calls.append(f"{label} {args[0].name}" if args else label)
        return method(self, *args, **kwargs)

    return record


def test_unchanged_files_behind_a_changed_one_do_not_wait_for_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = {f"f{n}.md": f"# F{n}\n\nText nummer {n}." for n in range(8)}
    corpus = write_files(tmp_path / "corpus", files)
    settings = hashing(tmp_path, corpus)
    assistant = Assistant(Store.from_settings(settings), CountingEmbedder(), settings)
    assistant.ingest()
    (corpus / "f0.md").write_text("# F0\n\nNy text.", "utf-8")
    monkeypatch.setattr(ingest, "EMBED_GROUP", 4)
    seen: list[str] = []  # files taken up by the run, and events, as they happen
    sync = ingest.Ingestor._sync_file

    def recorded(self: Any, source: str, *args: Any) -> Any:
        seen.append(source)
        return sync(self, source, *args)

    monkeypatch.setattr(ingest.Ingestor, "_sync_file", recorded)
    summary = assistant.ingest(on_event=lambda e: seen.append(f"{e.status} {e.done}"))
    assert summary.updated == ["f0.md"] and len(summary.unchanged) == 7
    # the changed file waits for company only until four files are queued, not for the last
    assert seen == [
        "f0.md", "f1.md", "f2.md", "f3.md",
        "embedding 0", "updated 1", "unchanged 2", "unchanged 3", "unchanged 4",
        "f4.md", "unchanged 5", "f5.md", "unchanged 6", "f6.md", "unchanged 7",
        "f7.md", "unchanged 8",
    ]
