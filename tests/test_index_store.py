"""The on-disk index: manifest round-trip, damage reported or repaired, chunk round-trip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kp_assistant.assistant import Assistant
from kp_assistant.embedding import HashingEmbedder
from kp_assistant.errors import CorruptIndex
from kp_assistant.index.store import FileRecord, Manifest, Store
from kp_assistant.models import Chunk
from kp_assistant.settings import Settings


def test_manifest_round_trip(tmp_path: Path) -> None:
    manifest = Manifest(
        embedder="hashing-256",
        root="/data/korpus",
        files={
            "b/två.md": FileRecord(hash="h2", chunks=["x-0000", "x-0001"], title="Två", pages=1),
            "a.pdf": FileRecord(hash="h1", chunks=["y-0000"], title="Ett", pages=12),
        },
        failed={"trasig.pdf": "not a valid PDF (no %PDF header)"},
    )
    path = tmp_path / "manifest.json"
    manifest.save(path)
    assert Manifest.load(path) == manifest
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw["version"] == 1
    assert list(raw["files"]) == ["a.pdf", "b/två.md"]  # sorted: diffs stay readable
    assert not path.with_name("manifest.json.tmp").exists()


def test_missing_manifest_is_an_empty_index(tmp_path: Path) -> None:
    manifest = Manifest.load(tmp_path / "manifest.json")
    assert manifest == Manifest()
    assert manifest.chunk_ids() == set()


def test_manifest_fingerprint_follows_chunk_ids() -> None:
    a = Manifest(files={"a": FileRecord("h", ["1", "2"]), "b": FileRecord("h", ["3"])})
    same = Manifest(files={"b": FileRecord("x", ["3"]), "a": FileRecord("y", ["2", "1"])})
    other = Manifest(files={"a": FileRecord("h", ["1", "2"])})
    assert a.fingerprint() == same.fingerprint() != other.fingerprint()


@pytest.fixture
def built(hashing_settings: Settings) -> Settings:
    summary = Assistant.from_settings(hashing_settings).ingest()
    assert summary.added and not summary.failed
    return hashing_settings


@pytest.mark.parametrize(
    "damage",
    [
        b'{"embedder": "hashing-256", "files": {',  # cut off mid-write
        b"\xff\xfe\x00garbage",
        b"[]",
        b'{"embedder": "hashing-256"}',
        b'{"embedder": "hashing-256", "files": null}',
        b'{"embedder": "hashing-256", "files": {"a.md": {"hash": "h"}}}',
    ],
)
def test_corrupt_manifest_is_reported_with_the_remedy(built: Settings, damage: bytes) -> None:
    (built.index_dir / "manifest.json").write_bytes(damage)
    with pytest.raises(CorruptIndex) as caught:
        Assistant.from_settings(built).ask("Vad handlar projektet i Kalix om?")
    message = str(caught.value)
    assert "--rebuild" in message
    assert "manifest.json" in message
    assert str(built.index_dir) in message
    assert "\n" not in message


def test_rebuild_repairs_a_corrupt_manifest(built: Settings) -> None:
    before = Store.from_settings(built).stored_ids()
    (built.index_dir / "manifest.json").write_text("inte json", encoding="utf-8")
    summary = Assistant.from_settings(built).ingest(rebuild=True)
    assert summary.chunks_total == len(before)
    store = Store.from_settings(built)
    assert store.stored_ids() == before == store.manifest.chunk_ids()
    answer = Assistant.from_settings(built).ask("Vad handlar projektet i Kalix om?")
    assert answer.citations or answer.related


def keyword_hits(settings: Settings, query: str) -> list[str]:
    store = Store.from_settings(settings)
    return [store.get([cid])[0].source for cid, _ in store.keyword().search(query, 5)]


def test_deleted_keyword_folder_is_rebuilt(built: Settings) -> None:
    keyword_dir = built.index_dir / "keyword"
    assert (keyword_dir / "meta.json").is_file()
    shutil.rmtree(keyword_dir)
    assert keyword_hits(built, "dricksvatten") == ["natverk/lund_francistown.md"]
    assert (keyword_dir / "meta.json").is_file()  # saved again for the next process
    assert not Store.from_settings(built).keyword_stale()


@pytest.mark.parametrize("part", ["meta.json", "bm25"])
def test_corrupt_keyword_folder_is_rebuilt(built: Settings, part: str) -> None:
    target = built.index_dir / "keyword" / part
    if target.is_dir():
        for f in target.iterdir():
            f.write_bytes(b"\x00 trasig")
    else:
        target.write_text("{inte json", encoding="utf-8")
    assert keyword_hits(built, "Machakos") == ["robertsfors_machakos.txt"]


def test_stale_keyword_index_is_rebuilt(built: Settings, corpus: Path) -> None:
    # a keyword index saved for other chunks (e.g. copied from an older index) is not used
    old = built.index_dir.parent / "old-keyword"
    shutil.copytree(built.index_dir / "keyword", old)
    (corpus / "ansokan.txt").write_text(
        "Ansökan om medel för Zanzibar görs i mars.\n", encoding="utf-8"
    )
    Assistant.from_settings(built).ingest()
    shutil.rmtree(built.index_dir / "keyword")
    shutil.copytree(old, built.index_dir / "keyword")
    assert Store.from_settings(built).keyword_stale()
    assert keyword_hits(built, "Zanzibar") == ["ansokan.txt"]
    assert keyword_hits(built, "ansökningsomgångar") == []


def chunk(cid: str, page: int | None, text: str) -> Chunk:
    return Chunk(
        id=cid,
        source="mapp/fil.pdf",
        page=page,
        title="Titel",
        heading="Rubrik",
        text=text,
        doc_hash="abc",
    )


def test_chunks_round_trip_through_chroma(tmp_path: Path) -> None:
    store = Store(tmp_path / "index")
    chunks = [chunk("c-1", 3, "Första texten om plast."), chunk("c-2", None, "Andra om vatten.")]
    store.add(chunks, HashingEmbedder().embed_passages([c.text for c in chunks]))
    assert store.get(["c-2", "saknas", "c-1"]) == [chunks[1], chunks[0]]
    assert store.count() == 2
    best, score = store.dense_search(HashingEmbedder().embed_queries(["vatten"])[0], 5)[0]
    assert best == chunks[1]
    assert -1.0 <= score <= 1.0

    # upserting the same id again replaces, never duplicates
    store.add(chunks[:1], HashingEmbedder().embed_passages([chunks[0].text]))
    assert store.count() == 2
    store.delete(["c-1"])
    assert store.stored_ids() == {"c-2"}


def test_empty_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "index")
    assert store.is_empty()
    assert store.get([]) == []
    assert store.dense_search(np.ones(256, dtype=np.float32), 5) == []
    assert store.keyword().search("plast", 5) == []


def test_reset_drops_everything(built: Settings) -> None:
    store = Store.from_settings(built)
    store.reset()
    assert store.stored_ids() == set()
    assert store.is_empty()
    assert not (built.index_dir / "manifest.json").exists()
    assert not (built.index_dir / "keyword").exists()
    reopened = Store.from_settings(built)
    assert reopened.is_empty() and reopened.count() == 0


def test_large_reads_go_a_page_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite caps the variables of one statement, so a read of every chunk is split up; the
    pages together give what one read gives, in the same order."""
    from kp_assistant.index import chunk_reads as store_module

    monkeypatch.setattr(store_module, "PAGE", 3)
    store = Store(tmp_path / "index")
    chunks = [
        Chunk(id=f"{src}-{i:04d}", source=src, page=None, title=src, heading="", text=f"{src} {i}",
              doc_hash=src)
        for src in ("b.md", "a.md", "c.md")
        for i in range(3 if src != "c.md" else 2)
    ]
    store.add(chunks, HashingEmbedder().embed_passages([c.text for c in chunks]))
    store.save_manifest(Manifest(embedder="hashing-256", files={
        src: FileRecord(hash=src, chunks=[c.id for c in chunks if c.source == src])
        for src in ("a.md", "b.md", "c.md")
    }))
    assert store.all_chunks() == chunks  # storage order, across three pages
    assert store.stored_ids() == {c.id for c in chunks}
    ids = [c.id for c in reversed(chunks)]
    assert [c.id for c in store.get(ids)] == ids
    assert [c.id for c in store.first_chunks()] == ["a.md-0000", "b.md-0000", "c.md-0000"]
    assert store.chunks_of({"c.md", "b.md"}) == [c for c in chunks if c.source != "a.md"]
    assert store.fingerprint() == store.manifest.fingerprint()

    # a saved manifest replaces what was worked out from the old one
    store.save_manifest(Manifest(embedder="hashing-256", files={
        "c.md": FileRecord(hash="c.md", chunks=["c.md-0000", "c.md-0001"]),
    }))
    assert [c.id for c in store.first_chunks()] == ["c.md-0000"]
    assert [c.source for c in store.all_chunks()] == ["c.md", "c.md"]
    assert store.chunks_of({"b.md"}) == []
    assert store.fingerprint() == store.manifest.fingerprint()
