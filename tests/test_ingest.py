"""Ingestion keeps the index a mirror of the folder: every sync case, and crashes mid-run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CORPUS_FILES, hashing, readable, write_files
from kp_assistant.assistant import Assistant
from kp_assistant.errors import KPError, ModelMismatch
from kp_assistant.index.store import Store
from kp_assistant.models import FileEvent, IngestSummary
from kp_assistant.settings import Settings

ALL = sorted(CORPUS_FILES)


def ingest(settings: Settings, **kwargs: object) -> IngestSummary:
    return Assistant.from_settings(settings).ingest(**kwargs)  # type: ignore[arg-type]


def open_store(settings: Settings) -> Store:
    """A fresh view of the index on disk."""
    return Store.from_settings(settings)


def consistent_ids(store: Store) -> set[str]:
    """Chroma, manifest and keyword index hold the same chunks, none twice; return them."""
    stored = store.stored_ids()
    assert store.count() == len(stored), "duplicate chunk ids in Chroma"
    assert stored == store.manifest.chunk_ids()
    ids = [cid for rec in store.manifest.files.values() for cid in rec.chunks]
    assert len(ids) == len(set(ids)), "a chunk id is listed twice in the manifest"
    assert not store.keyword_stale(), "the saved keyword index does not match the manifest"
    keyword_ids = store.keyword().ids
    assert len(keyword_ids) == len(set(keyword_ids))
    assert set(keyword_ids) == stored
    return stored


def clean_build_ids(tmp_path: Path, corpus: Path, name: str = "reference") -> set[str]:
    settings = hashing(tmp_path, corpus, index=name)
    ingest(settings)
    return consistent_ids(open_store(settings))


# -- sync cases -----------------------------------------------------------------------------


def test_new_files_are_added(hashing_settings: Settings) -> None:
    events: list[FileEvent] = []
    summary = ingest(hashing_settings, on_event=events.append)
    assert sorted(summary.added) == ALL
    assert "natverk/lund_francistown.md" in summary.added  # root-relative, forward slashes
    assert not (summary.updated or summary.removed or summary.unchanged or summary.failed)
    store = open_store(hashing_settings)
    ids = consistent_ids(store)
    assert summary.chunks_embedded == summary.chunks_total == len(ids) > len(ALL) - 1
    assert sorted(store.manifest.files) == ALL
    assert store.manifest.embedder == "hashing-256"
    assert Path(store.manifest.root) == hashing_settings.corpus_dir.resolve()
    # one event per file, in order, counting up to the total, after a notice for the embedding
    notices = [e for e in events if e.status == "embedding"]
    events = [e for e in events if e.status != "embedding"]
    assert [(e.done, e.total) for e in events] == [(i, len(ALL)) for i in range(1, len(ALL) + 1)]
    assert {e.status for e in events} == {"added"}
    assert sum(e.chunks for e in events) == summary.chunks_embedded
    assert [(e.done, e.chunks) for e in notices] == [(0, summary.chunks_embedded)]


def test_unchanged_rerun_embeds_nothing(hashing_settings: Settings) -> None:
    ingest(hashing_settings)
    before = open_store(hashing_settings).stored_ids()
    summary = ingest(hashing_settings)
    assert summary.chunks_embedded == 0
    assert sorted(summary.unchanged) == ALL
    assert not (summary.added or summary.updated or summary.removed or summary.failed)
    assert summary.chunks_total == len(before)
    assert consistent_ids(open_store(hashing_settings)) == before


def test_changed_file_is_re_embedded_alone(hashing_settings: Settings, corpus: Path) -> None:
    ingest(hashing_settings)
    store = open_store(hashing_settings)
    changed = "robertsfors_machakos.txt"
    old_ids = set(store.manifest.files[changed].chunks)
    others = {src: list(rec.chunks) for src, rec in store.manifest.files.items() if src != changed}

    (corpus / changed).write_text(
        "Robertsfors och Machakos\n\nPartnerskapet handlar nu om klimat och skogsbruk. "
        "Parterna vill minska avskogningen.\n\nEtt nytt projekt startar under 2023.\n",
        encoding="utf-8",
    )
    summary = ingest(hashing_settings)
    assert summary.updated == [changed]
    assert sorted(summary.unchanged) == sorted(others)

    store = open_store(hashing_settings)
    new_ids = store.manifest.files[changed].chunks
    assert summary.chunks_embedded == len(new_ids) > 0
    ids = consistent_ids(store)
    assert not old_ids & ids
    assert set(new_ids) <= ids
    assert {
        src: rec.chunks for src, rec in store.manifest.files.items() if src != changed
    } == others
    keyword = store.keyword()
    assert [cid for cid, _ in keyword.search("avskogningen", 5)] == [
        cid for cid in new_ids if "avskogningen" in store.get([cid])[0].text
    ]
    assert keyword.search("könsrelaterat", 5) == []


def test_deleted_file_disappears_everywhere(hashing_settings: Settings, corpus: Path) -> None:
    ingest(hashing_settings)
    gone = "kalix_masaka.md"
    gone_ids = set(open_store(hashing_settings).manifest.files[gone].chunks)
    assert open_store(hashing_settings).keyword().search("plast", 5)

    (corpus / gone).unlink()
    summary = ingest(hashing_settings)
    assert summary.removed == [gone]
    assert summary.chunks_embedded == 0

    store = open_store(hashing_settings)
    ids = consistent_ids(store)
    assert gone not in store.manifest.files
    assert not gone_ids & ids
    assert store.get(sorted(gone_ids)) == []
    # words only that file contained are no longer found
    assert store.keyword().search("plast", 5) == []
    assert store.keyword().search("Masaka", 5) == []
    assert summary.chunks_total == len(ids)


def test_bad_files_are_reported_and_the_rest_indexed(
    hashing_settings: Settings, corpus: Path
) -> None:
    (corpus / "tom.txt").write_bytes(b"")
    (corpus / "trasig.pdf").write_bytes(os.urandom(2048).replace(b"%PDF-", b"xxxxx"))
    summary = ingest(hashing_settings)
    assert sorted(summary.added) == ALL
    assert set(summary.failed) == {"tom.txt", "trasig.pdf"}
    assert "empty" in summary.failed["tom.txt"]
    assert "PDF" in summary.failed["trasig.pdf"]

    store = open_store(hashing_settings)
    consistent_ids(store)
    assert store.manifest.failed == summary.failed
    assert "tom.txt" not in store.manifest.files

    # still reported on the next run; gone from the report once fixed or deleted
    again = ingest(hashing_settings)
    assert set(again.failed) == {"tom.txt", "trasig.pdf"}
    assert again.chunks_embedded == 0
    (corpus / "tom.txt").write_text("Nu finns det text om Tanzania här.\n", encoding="utf-8")
    (corpus / "trasig.pdf").unlink()
    fixed = ingest(hashing_settings)
    assert fixed.added == ["tom.txt"]
    assert fixed.failed == {}
    store = open_store(hashing_settings)
    assert store.manifest.failed == {}
    consistent_ids(store)
    assert store.keyword().search("Tanzania", 5)


def test_indexed_file_that_breaks_is_removed_and_reported(
    hashing_settings: Settings, corpus: Path
) -> None:
    ingest(hashing_settings)
    broken = "kalix_masaka.md"
    old_ids = set(open_store(hashing_settings).manifest.files[broken].chunks)

    (corpus / broken).write_bytes(b"")
    summary = ingest(hashing_settings)
    assert list(summary.failed) == [broken]
    assert broken not in summary.unchanged

    store = open_store(hashing_settings)
    ids = consistent_ids(store)
    assert broken not in store.manifest.files
    assert broken in store.manifest.failed
    assert not old_ids & ids
    assert store.keyword().search("plast", 5) == []


def test_hidden_and_unsupported_files_are_ignored(hashing_settings: Settings, corpus: Path) -> None:
    write_files(
        corpus,
        {
            ".utkast.md": "Hemligt utkast.",
            "data.csv": "a,b\n1,2\n",
            ".git/notes.txt": "Inte en del av korpusen.",
        },
    )
    summary = ingest(hashing_settings)
    assert sorted(summary.added) == ALL
    assert summary.failed == {}


def test_a_sub_folder_is_synced_within_the_indexed_corpus(
    hashing_settings: Settings, corpus: Path
) -> None:
    ingest(hashing_settings)
    before = open_store(hashing_settings).manifest.chunk_ids()
    summary = ingest(hashing_settings, paths=[corpus / "natverk"])
    assert summary.unchanged == ["natverk/lund_francistown.md"]
    assert summary.removed == [] and summary.chunks_embedded == 0

    (corpus / "natverk" / "lund_francistown.md").unlink()
    summary = ingest(hashing_settings, paths=[corpus / "natverk"])
    assert summary.removed == ["natverk/lund_francistown.md"]
    store = open_store(hashing_settings)
    # files outside the given sub-folder are not touched
    assert sorted(store.manifest.files) == [s for s in ALL if not s.startswith("natverk/")]
    assert consistent_ids(store) < before


def test_rebuild_re_embeds_everything_with_the_same_ids(hashing_settings: Settings) -> None:
    ingest(hashing_settings)
    before = consistent_ids(open_store(hashing_settings))
    summary = ingest(hashing_settings, rebuild=True)
    assert sorted(summary.added) == ALL
    assert summary.unchanged == []
    assert summary.chunks_embedded == summary.chunks_total == len(before)
    assert consistent_ids(open_store(hashing_settings)) == before


def test_rebuild_with_a_missing_folder_keeps_the_index(
    hashing_settings: Settings, tmp_path: Path
) -> None:
    ingest(hashing_settings)
    before = consistent_ids(open_store(hashing_settings))
    # e.g. `kp-assistant ingest --rebuild` with a mistyped KP_CORPUS_DIR
    with pytest.raises(KPError, match="No such file"):
        ingest(hashing_settings, paths=[tmp_path / "korpsu"], rebuild=True)
    assert consistent_ids(open_store(hashing_settings)) == before


def test_another_corpus_needs_rebuild(tmp_path: Path, hashing_settings: Settings) -> None:
    ingest(hashing_settings)
    other = write_files(tmp_path / "annan", {"gotland.md": "Region Gotland och Kibaha."})
    with pytest.raises(KPError, match="--rebuild"):
        ingest(hashing_settings, paths=[other])

    summary = ingest(hashing_settings, paths=[other], rebuild=True)
    assert summary.added == ["gotland.md"]
    store = open_store(hashing_settings)
    assert list(store.manifest.files) == ["gotland.md"]
    assert Path(store.manifest.root) == other.resolve()
    assert consistent_ids(store) == set(store.manifest.files["gotland.md"].chunks)
    assert store.keyword().search("plast", 5) == []


def test_missing_path_is_a_user_error(hashing_settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(KPError, match="No such file"):
        ingest(hashing_settings, paths=[tmp_path / "finns-inte"])


# -- model mismatch -------------------------------------------------------------------------


def test_model_mismatch_is_raised_before_any_model_loads(
    hashing_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest(hashing_settings)
    before = open_store(hashing_settings).stored_ids()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no download attempt, whatever happens
    # A model that cannot be loaded: had the code tried to load it before comparing names,
    # the error would be about the model, not ModelMismatch.
    other = hashing_settings.model_copy(
        update={
            "embedding_backend": "sentence-transformers",
            "embedding_model": str(tmp_path / "ingen-modell"),
        }
    )
    assistant = Assistant.from_settings(other)
    with pytest.raises(ModelMismatch, match="--rebuild") as caught:
        assistant.ask("Vad handlar projektet i Kalix om?")
    assert caught.value.built_with == "hashing-256"
    assert caught.value.configured == f"sentence-transformers:{tmp_path / 'ingen-modell'}"
    with pytest.raises(ModelMismatch):
        assistant.ingest()
    store = open_store(hashing_settings)
    assert store.manifest.embedder == "hashing-256"
    assert store.stored_ids() == before


# -- interrupted runs ---------------------------------------------------------------------

KILL_AFTER = """
import os, signal, sys
from pathlib import Path
from kp_assistant import ingest
from kp_assistant.assistant import Assistant
from kp_assistant.settings import Settings

index, corpus, after = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
ingest.EMBED_GROUP = 1  # each file stored before its event: a kill can land between any two
settings = Settings(index_dir=index, corpus_dir=corpus, embedding_backend="hashing")

def on_event(event):
    if event.done >= after:
        os.kill(os.getpid(), signal.SIGKILL)

Assistant.from_settings(settings).ingest(on_event=on_event)
sys.exit(3)  # not reached: the run is killed
"""


def ingest_killed_after(settings: Settings, files: int) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            KILL_AFTER,
            str(settings.index_dir),
            str(settings.corpus_dir),
            str(files),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def assert_converges(settings: Settings, reference: set[str]) -> None:
    summary = ingest(settings)
    assert summary.failed == {}
    store = open_store(settings)
    assert consistent_ids(store) == reference
    assert summary.chunks_total == len(reference)
    # and a further run has nothing left to do
    assert ingest(settings).chunks_embedded == 0


SIX_FILES = {
    **CORPUS_FILES,
    "gotland_kibaha.md": "# Gotland\n\nRegion Gotland samarbetar med Kibaha i Tanzania.",
    "umea.txt": "Umeå kommun arbetar med demokrati och medborgardialog.",
}


@pytest.mark.parametrize("killed_after", [1, 3, 6])
def test_crash_while_building_converges(tmp_path: Path, killed_after: int) -> None:
    corpus = write_files(tmp_path / "corpus", SIX_FILES)
    settings = hashing(tmp_path, corpus)
    ingest_killed_after(settings, killed_after)
    assert_converges(settings, clean_build_ids(tmp_path, corpus))


@pytest.mark.parametrize("killed_after", [1, 4, 7])
def test_crash_while_syncing_changes_converges(tmp_path: Path, killed_after: int) -> None:
    corpus = write_files(tmp_path / "corpus", SIX_FILES)
    settings = hashing(tmp_path, corpus)
    ingest(settings)
    # two changed, one deleted, one added: 6 files to look at, 1 to remove = 7 events
    write_files(
        corpus,
        {
            "ansokan.txt": "Ansökan görs digitalt. Sista dag är den 15 mars.",
            "kalix_masaka.md": "# Kalix\n\nKalix och Masaka arbetar nu med vatten.",
            "växjö.md": "Växjö kommun samarbetar med JB Marks i Sydafrika.",
        },
    )
    (corpus / "umea.txt").unlink()
    ingest_killed_after(settings, killed_after)
    assert_converges(settings, clean_build_ids(tmp_path, corpus))


def generate_corpus(folder: Path, n: int, seed: int, start: int = 0) -> Path:
    words = [
        "kommun",
        "region",
        "partnerskap",
        "projekt",
        "miljö",
        "plast",
        "avfall",
        "jämställdhet",
        "demokrati",
        "klimat",
        "vatten",
        "skola",
        "unga",
        "ledarskap",
        "Kenya",
        "Uganda",
        "Botswana",
        "Tanzania",
    ]
    rnd = random.Random(seed)
    files = {}
    for i in range(start, start + n):
        sentences = [
            " ".join(rnd.choice(words) for _ in range(12)).capitalize() + "." for _ in range(24)
        ]
        files[f"del{i % 4}/dok_{i:03d}.md"] = (
            f"# Dokument {i}\n\n"
            + " ".join(sentences[:12])
            + "\n\n## Fortsättning\n\n"
            + " ".join(sentences[12:])
            + "\n"
        )
    return write_files(folder, files)


def start_cli_ingest(settings: Settings) -> subprocess.Popen[bytes]:
    cli = Path(sys.executable).with_name("kp-assistant")
    env = {**os.environ, "KP_EMBEDDING_BACKEND": "hashing"}
    return subprocess.Popen(
        [str(cli), "ingest", "--index", str(settings.index_dir), str(settings.corpus_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_mid_run(proc: subprocess.Popen[bytes], after_files: int, delay: float) -> None:
    """SIGKILL the process `delay` seconds after its progress line for file `after_files`.

    Counting progress lines rather than seconds lands the kill mid-run on any machine; the
    extra sub-second delay lets it fall anywhere inside the next file's work.
    """
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + 120
    while seen.count(b" files, ") < after_files:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"too little progress from kp-assistant ingest: {seen[-500:]!r}"
        ready = readable(proc.stderr, remaining)
        chunk = os.read(proc.stderr.fileno(), 65536) if ready else b""
        assert chunk or proc.poll() is None, f"ingest ended early: {seen[-500:]!r}"
        seen += chunk
    time.sleep(delay)
    assert proc.poll() is None, "the ingest finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    proc.stderr.close()


def test_killed_cli_ingest_converges(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    print(f"random seed {seed}")  # shown on failure, to replay the delays
    rnd = random.Random(seed)
    corpus = generate_corpus(tmp_path / "corpus", 200, seed=1)
    settings = hashing(tmp_path, corpus)

    kill_mid_run(start_cli_ingest(settings), rnd.randint(1, 150), rnd.uniform(0, 0.05))

    # change the folder between the two interrupted runs: the second must sync edits too
    generate_corpus(corpus, 10, seed=2)  # dok_000 … dok_009 change
    for i in range(10, 15):
        (corpus / f"del{i % 4}" / f"dok_{i:03d}.md").unlink()
    generate_corpus(corpus, 3, seed=3, start=200)
    kill_mid_run(start_cli_ingest(settings), rnd.randint(1, 190), rnd.uniform(0, 0.05))

    assert_converges(settings, clean_build_ids(tmp_path, corpus))


def test_fresh_store_after_interrupted_run_without_rerun(tmp_path: Path) -> None:
    """Before the re-run, whatever the crash left is still readable (no CorruptIndex)."""
    corpus = write_files(tmp_path / "corpus", SIX_FILES)
    settings = hashing(tmp_path, corpus)
    ingest_killed_after(settings, 2)
    store = open_store(settings)
    assert len(store.manifest.files) == 2
    assert set(store.manifest.chunk_ids()) <= store.stored_ids()
    # the keyword index was never saved; it is built from what Chroma holds
    hits = store.keyword().search("Kibaha", 5)
    assert [cid for cid, _ in hits] == store.manifest.files["gotland_kibaha.md"].chunks
