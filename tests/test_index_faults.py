"""Faults: kill -9 late in an ingest run, damaged or missing index files, ingesting while answering.

Crashes while files are synced are covered in test_ingest.py; Chroma server restarts in
test_index_chroma_server.py. docs/reliability.md lists every fault and its outcome.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import CORPUS_FILES, hashing, readable, write_files
from kp_assistant.assistant import Assistant
from kp_assistant.cli import main
from kp_assistant.embedding import HashingEmbedder
from kp_assistant.index.store import FileRecord, Manifest, Store
from kp_assistant.models import Answer, Chunk
from kp_assistant.settings import Settings
from test_cli import assert_one_line_error

CLI = Path(sys.executable).with_name("kp-assistant")
HASHING_ENV = {**os.environ, "KP_EMBEDDING_BACKEND": "hashing"}
KALIX = "Vad handlar projektet i Kalix om?"

SWEDISH = ["Kalix kommun", "Lunds kommun", "Region Gotland", "Umeå kommun", "Växjö kommun",
           "Robertsfors kommun", "Härnösands kommun", "Östersunds kommun"]
PARTNERS = [("Masaka", "Uganda"), ("Francistown", "Botswana"), ("Kibaha", "Tanzania"),
            ("Machakos", "Kenya"), ("Nakuru", "Kenya"), ("Gulu", "Uganda"),
            ("Mangochi", "Malawi"), ("JB Marks", "Sydafrika")]
THEMES = ["plast och avfall", "jämställdhet", "dricksvatten", "demokrati och medborgardialog",
          "klimat", "skola och unga", "hållbar stadsplanering", "ledarskap"]


def partnership_corpus(folder: Path, numbers: range, version: int = 0) -> Path:
    """Documents that each name a partnership, so that the registry has rows to compare."""
    files = {}
    for i in numbers:
        rnd = random.Random(i * 1000 + version)
        swedish, (partner, country) = rnd.choice(SWEDISH), rnd.choice(PARTNERS)
        theme = rnd.choice(THEMES)
        sentences = [
            f"{swedish} samarbetar med {partner} i {country} om {theme}.",
            f"Under {2018 + i % 6} fick partnerskapet {1 + i % 9},{i % 10} miljoner kronor.",
            *(f"Projektet {i} arbetar vidare med {rnd.choice(THEMES)} och {rnd.choice(THEMES)} "
              f"tillsammans med {partner}, version {version}." for _ in range(14)),
        ]
        files[f"del{i % 3}/partnerskap_{i:03d}.md"] = (
            f"# Partnerskap {i}\n\n" + " ".join(sentences[:8]) + "\n\n## Fortsättning\n\n"
            + " ".join(sentences[8:]) + "\n"
        )
    return write_files(folder, files)


def ingest_in_process(settings: Settings) -> None:
    assistant = Assistant.from_settings(settings)
    summary = assistant.ingest()
    assistant.store.close()  # releases Chroma's files, so that they can be copied
    assert summary.failed == {}


@dataclass
class Snapshot:
    """What a finished build leaves: chunk ids in Chroma, keyword ids, the registry."""

    chunk_ids: set[str]
    keyword_ids: set[str]
    registry: dict[str, object]


def snapshot(index: Path) -> Snapshot:
    store = Store(index)
    try:
        stored = store.stored_ids()
        listed = store.manifest.chunk_ids()
        fingerprint = store.manifest.fingerprint()
    finally:
        store.close()
    assert stored == listed, "Chroma and the manifest disagree"
    meta = json.loads((index / "keyword" / "meta.json").read_text(encoding="utf-8"))
    assert meta["fingerprint"] == fingerprint, "the keyword index is not the manifest's"
    assert len(meta["ids"]) == len(set(meta["ids"]))
    registry = json.loads((index / "registry.json").read_text(encoding="utf-8"))
    assert registry["fingerprint"] == fingerprint, "the registry is not the manifest's"
    assert not (index / "ingest.incomplete").exists()
    return Snapshot(stored, set(meta["ids"]), registry)


def run_cli_ingest(index: Path, corpus: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(CLI), "ingest", "--index", str(index), str(corpus)],
        env=HASHING_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def ingest_cli(index: Path, corpus: Path) -> None:
    done = subprocess.run([str(CLI), "ingest", "--index", str(index), str(corpus)],
                          env=HASHING_ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def wait_for_line(proc: subprocess.Popen[bytes], marker: bytes, timeout: float = 60) -> float:
    """Read the progress lines until `marker` appears; the time it did."""
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {marker!r} from kp-assistant ingest: {seen[-500:]!r}"
        ready = readable(proc.stderr, remaining)
        chunk = os.read(proc.stderr.fileno(), 65536) if ready else b""
        assert chunk or proc.poll() is None, f"ingest ended early: {seen[-500:]!r}"
        seen += chunk
    return time.monotonic()


def phase_left(index: Path) -> str:
    """Which step of the run's end a kill interrupted, judged from what is on disk."""
    manifest = Store(index).manifest  # reads files only; Chroma stays closed
    fingerprint = manifest.fingerprint()
    try:
        keyword = json.loads((index / "keyword" / "meta.json").read_text())["fingerprint"]
    except (OSError, ValueError):
        keyword = None
    try:
        registry = json.loads((index / "registry.json").read_text())["fingerprint"]
    except (OSError, ValueError):
        registry = None
    if not (index / "ingest.incomplete").exists():
        return "finished"
    if keyword != fingerprint:
        return "keyword rebuild"
    if registry != fingerprint:
        return "registry rebuild"
    return "after the registry"


# -- 1. kill -9 after the last file: while the keyword index and the registry are rebuilt


def test_kill_during_keyword_and_registry_rebuild_converges(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    print(f"random seed {seed}")  # shown on failure, to replay the delays
    rnd = random.Random(seed)
    corpus = tmp_path / "corpus"

    def state_a() -> None:
        shutil.rmtree(corpus, ignore_errors=True)
        partnership_corpus(corpus, range(120))

    def state_b() -> None:  # 12 changed, 4 removed, 4 added
        partnership_corpus(corpus, range(0, 120, 10), version=1)
        for i in range(1, 120, 30):
            (corpus / f"del{i % 3}" / f"partnerskap_{i:03d}.md").unlink()
        partnership_corpus(corpus, range(200, 204))

    references = {}
    for name, make in (("a", state_a), ("b", state_b)):
        make()
        settings = hashing(tmp_path, corpus, index=f"ref-{name}")
        ingest_in_process(settings)
        references[name] = snapshot(settings.index_dir)
    assert references["a"].registry != references["b"].registry
    assert len(references["a"].registry["records"]) > 100  # type: ignore[arg-type]

    index = tmp_path / "index"
    shutil.copytree(tmp_path / "ref-b", index)  # the corpus is in state b now
    # a → b looks at 120 files and removes 4; b → a the same
    total = {"a": 124, "b": 124}

    # how long the run's end (manifest, keyword index, registry) takes, on this machine
    state_a()
    proc = run_cli_ingest(index, corpus)
    last_line = wait_for_line(proc, f"{total['a']}/{total['a']} files".encode())
    assert proc.wait(timeout=60) == 0
    end_phase = time.monotonic() - last_line
    assert proc.stderr is not None
    proc.stderr.close()
    assert snapshot(index) == references["a"]

    interrupted: list[str] = []
    state = "a"
    started = time.monotonic()
    for fraction in (0.0, 0.08, 0.2, 0.35):
        if len(interrupted) >= 2 and time.monotonic() - started > 40:
            break  # a slow machine: fewer kills rather than a long test
        state = "b" if state == "a" else "a"
        (state_b if state == "b" else state_a)()
        proc = run_cli_ingest(index, corpus)
        wait_for_line(proc, f"{total[state]}/{total[state]} files".encode())
        time.sleep(end_phase * min(0.95, fraction + rnd.uniform(0, 0.1)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.stderr is not None
        proc.stderr.close()
        interrupted.append(phase_left(index))
        ingest_cli(index, corpus)  # without --rebuild: it completes what the killed run left
        assert snapshot(index) == references[state], f"after a kill in the {interrupted[-1]}"
    print(f"end phase {end_phase:.2f} s; kills landed in: {interrupted}; "
          f"loop {time.monotonic() - started:.1f} s")
    # the delays spread over the run's end, so that kills land inside it
    assert sum(phase != "finished" for phase in interrupted) >= 2, interrupted


# -- 2. damaged or missing index files: one clear line, and `ingest --rebuild` recovers


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(
        main, [str(a) for a in args], env={"KP_EMBEDDING_BACKEND": "hashing"}
    )


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An index of the four test documents, closed, to be copied and damaged."""
    tmp = tmp_path_factory.mktemp("golden")
    corpus = write_files(tmp / "corpus", CORPUS_FILES)
    settings = hashing(tmp, corpus)
    ingest_in_process(settings)
    assert (settings.index_dir / "chroma" / "chroma.sqlite3").is_file()
    return settings.index_dir, corpus


def hnsw_file(index: Path, name: str) -> Path:
    (segment,) = [p for p in (index / "chroma").iterdir() if p.is_dir()]
    return segment / name


def garbage(path: Path) -> None:
    path.write_bytes(random.Random(1).randbytes(max(path.stat().st_size, 4096)))


def truncate(path: Path) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(4096)


DAMAGE: dict[str, Callable[[Path], None]] = {
    "chroma.sqlite3 garbage": lambda ix: garbage(ix / "chroma" / "chroma.sqlite3"),
    "chroma.sqlite3 truncated": lambda ix: truncate(ix / "chroma" / "chroma.sqlite3"),
    "chroma.sqlite3 empty": lambda ix: (ix / "chroma" / "chroma.sqlite3").write_bytes(b""),
    "chroma folder deleted": lambda ix: shutil.rmtree(ix / "chroma"),
    "manifest.json garbage": lambda ix: (ix / "manifest.json").write_text("{inte json"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_index_gives_one_line_and_rebuild_recovers(
    tmp_path: Path, golden: tuple[Path, Path], damage: str
) -> None:
    source, corpus = golden
    index = tmp_path / "index"
    shutil.copytree(source, index)
    DAMAGE[damage](index)

    for command in (["ask", KALIX], ["stats"], ["ingest", corpus]):
        message = assert_one_line_error(cli(*command[:1], "--index", index, *command[1:]),
                                        "--rebuild")
        assert str(index) in message, message

    rebuilt = cli("ingest", "--rebuild", "--index", index, corpus)
    assert rebuilt.exit_code == 0, rebuilt.output
    answer = cli("ask", "--json", "--index", index, KALIX)
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.output)["grounded"] is True
    assert cli("stats", "--index", index).exit_code == 0


def test_damaged_vector_index_file_gives_one_line_and_rebuild_recovers(
    tmp_path: Path, golden: tuple[Path, Path]
) -> None:
    """Chroma's HNSW files are read when a question is asked, once they hold > 1,000 vectors."""
    _, corpus = golden
    index = tmp_path / "index"
    store = Store(index)
    chunks = [Chunk(id=f"c-{i:04d}", source="kalix_masaka.md", page=None, title="Kalix",
                    heading="", text=f"Kalix och Masaka arbetar med plast, del {i}.", doc_hash="h")
              for i in range(1100)]
    store.add(chunks, HashingEmbedder().embed_passages([c.text for c in chunks]))
    store.save_manifest(Manifest(embedder="hashing-256", root=str(corpus.resolve()), files={
        "kalix_masaka.md": FileRecord(hash="h", chunks=[c.id for c in chunks])}))
    store.end_change()
    store.close()
    garbage(hnsw_file(index, "header.bin"))

    assert_one_line_error(cli("ask", "--index", index, KALIX), "--rebuild", str(index))
    assert cli("ingest", "--rebuild", "--index", index, corpus).exit_code == 0
    answer = cli("ask", "--json", "--index", index, KALIX)
    assert json.loads(answer.output)["grounded"] is True, answer.output


def test_damaged_vector_store_in_a_real_process_prints_no_traceback(
    tmp_path: Path, golden: tuple[Path, Path]
) -> None:
    source, _ = golden
    index = tmp_path / "index"
    shutil.copytree(source, index)
    garbage(index / "chroma" / "chroma.sqlite3")
    done = subprocess.run([str(CLI), "ask", "--index", str(index), KALIX], env=HASHING_ENV,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "--rebuild" in lines[0], lines


@pytest.mark.parametrize("damage", ["garbage", "deleted"])
def test_lost_registry_is_reported_then_extracted_again(
    tmp_path: Path, golden: tuple[Path, Path], damage: str
) -> None:
    source, corpus = golden
    index = tmp_path / "index"
    shutil.copytree(source, index)
    before = json.loads((index / "registry.json").read_text(encoding="utf-8"))
    listed = cli("partnerships", "--json", "--index", index)
    assert len(json.loads(listed.output)) == 3, listed.output
    if damage == "garbage":
        (index / "registry.json").write_text('{"version": 1, "records": [{"trasig"', "utf-8")
    else:
        (index / "registry.json").unlink()

    # not an empty list, which would read as "no partnerships in the documents"
    assert_one_line_error(cli("partnerships", "--index", index), "kp-assistant ingest")
    answer = cli("ask", "--json", "--index", index, KALIX)  # passages do not need it
    assert json.loads(answer.output)["grounded"] is True, answer.output

    # a plain sync extracts it again, embedding nothing
    synced = cli("ingest", "--json", "--index", index, corpus)
    assert synced.exit_code == 0, synced.output
    assert json.loads(synced.output.splitlines()[-1])["chunks_embedded"] == 0
    assert json.loads((index / "registry.json").read_text(encoding="utf-8")) == before
    assert cli("partnerships", "--json", "--index", index).output == listed.output


def test_deleted_keyword_folder_is_rebuilt_by_the_cli(
    tmp_path: Path, golden: tuple[Path, Path]
) -> None:
    source, _ = golden
    index = tmp_path / "index"
    shutil.copytree(source, index)
    shutil.rmtree(index / "keyword")
    answer = cli("ask", "--json", "--index", index, "Vad gör Lund och Francistown?")
    assert json.loads(answer.output)["grounded"] is True, answer.output
    assert (index / "keyword" / "meta.json").is_file()  # saved again, no ingest running


def test_leftover_incomplete_marker_is_repaired_by_the_next_run(
    tmp_path: Path, golden: tuple[Path, Path]
) -> None:
    source, corpus = golden
    index = tmp_path / "index"
    shutil.copytree(source, index)
    (index / "ingest.incomplete").write_text("from a run that was killed\n")
    # chunks a killed run stored but never listed in the manifest
    store = Store(index)
    orphan = store.get([sorted(store.manifest.chunk_ids())[0]])[0]
    stray = replace(orphan, id="stray-0000", text="Ett avsnitt som ingen fil äger om Zanzibar.")
    store.add([stray], HashingEmbedder().embed_passages([stray.text]))
    store.close()

    answer = cli("ask", "--json", "--index", index, KALIX)
    assert json.loads(answer.output)["grounded"] is True, answer.output
    zanzibar = cli("ask", "--json", "--index", index, "Vad händer på Zanzibar?")
    assert "stray-0000" not in zanzibar.output  # unlisted chunks are never shown
    assert cli("stats", "--index", index).exit_code == 0

    synced = cli("ingest", "--json", "--index", index, corpus)
    assert synced.exit_code == 0, synced.output
    assert not (index / "ingest.incomplete").exists()
    store = Store(index)
    assert "stray-0000" not in store.stored_ids()
    assert store.stored_ids() == store.manifest.chunk_ids()
    store.close()


# -- 3. ingesting while the chat answers


@dataclass
class Readers:
    """Chat users asking in a loop, recording every answer, error and latency."""

    assistant: Assistant
    questions: list[str]
    threads: int = 2
    answers: list[Answer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _running: list[threading.Thread] = field(default_factory=list)

    def _loop(self, offset: int) -> None:
        i = offset
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                self.answers.append(self.assistant.ask(self.questions[i % len(self.questions)]))
            except Exception as exc:  # every kind counts: the chat would show a failure
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self.latencies.append(time.perf_counter() - started)
            i += 1

    def __enter__(self) -> Readers:
        self._running = [threading.Thread(target=self._loop, args=(n,))
                         for n in range(self.threads)]
        for t in self._running:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._running:
            t.join(timeout=60)


READER_QUESTIONS = [
    KALIX,
    "Vad handlar samarbetet mellan Robertsfors och Machakos om?",
    "Hur mycket pengar fick Lund 2021?",
    "Vad gör Region Gotland och Kibaha i Tanzania?",
    "Vilka kommuner arbetar med plast?",
    "Vad handlar projektet 7 om?",
]


def change_corpus(corpus: Path, round_: int) -> None:
    """Rewrite some documents, add one and delete one: a sync that adds and removes chunks."""
    partnership_corpus(corpus, range(round_ * 6, round_ * 6 + 8), version=round_ + 1)
    write_files(corpus, {f"gotland_{round_}.md": (
        f"# Gotland {round_}\n\nRegion Gotland samarbetar med Kibaha i Tanzania om avfall och "
        f"återvinning, omgång {round_}.\n")})
    (corpus / f"del{(30 + round_) % 3}" / f"partnerskap_{30 + round_:03d}.md").unlink()


def listed_ids(index: Path) -> set[str]:
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    return {cid for rec in manifest["files"].values() for cid in rec["chunks"]}


def assert_served_whole_states(readers: Readers, valid: set[str]) -> None:
    assert readers.errors == [], sorted(set(readers.errors))[:5]
    assert len(readers.answers) >= 20, len(readers.answers)
    cited = [c for a in readers.answers for c in (*a.citations, *a.related)]
    assert all(c.source and c.quote for c in cited), "a citation without source or text"
    never_listed = {c.chunk_id for c in cited} - valid
    assert not never_listed, f"cited chunks no saved manifest listed: {sorted(never_listed)[:5]}"
    grounded = sum(a.grounded for a in readers.answers)
    assert grounded >= len(readers.answers) // 3, (grounded, len(readers.answers))
    # answering never waits for the ingest run: the slowest answer is still quick
    assert max(readers.latencies) < 15, max(readers.latencies)
    print(f"{len(readers.answers)} answers ({grounded} grounded), {len(readers.errors)} errors, "
          f"max latency {max(readers.latencies):.2f} s")


def test_answers_while_another_process_ingests(tmp_path: Path) -> None:
    """`kp-assistant ingest` beside a running chat, on the same on-disk index."""
    corpus = partnership_corpus(write_files(tmp_path / "corpus", CORPUS_FILES), range(40))
    settings = hashing(tmp_path, corpus)
    ingest_cli(settings.index_dir, corpus)  # this process never opened the index
    valid = listed_ids(settings.index_dir)

    assistant = Assistant.from_settings(settings)
    with Readers(assistant, READER_QUESTIONS) as readers:
        for round_ in range(3):
            change_corpus(corpus, round_)
            ingest_cli(settings.index_dir, corpus)
            valid |= listed_ids(settings.index_dir)
        time.sleep(0.5)
    assert_served_whole_states(readers, valid)

    # the running chat, not restarted, now answers from the newest documents
    answer = assistant.ask("Vad gör Region Gotland och Kibaha i Tanzania?")
    assert "gotland_2.md" in {c.source for c in answer.citations}, answer
    deleted = "del2/partnerskap_032.md"
    assert deleted not in {c.source for c in answer.citations + answer.related}
    assistant.store.close()


def test_answers_while_the_same_process_ingests(tmp_path: Path) -> None:
    """The staff page's sync: the serving Assistant ingests in a thread while users ask."""
    corpus = partnership_corpus(write_files(tmp_path / "corpus", CORPUS_FILES), range(40))
    settings = hashing(tmp_path, corpus)
    assistant = Assistant.from_settings(settings)
    assistant.ingest()
    valid = set(assistant.store.manifest.chunk_ids())

    with Readers(assistant, READER_QUESTIONS) as readers:
        for round_ in range(3):
            change_corpus(corpus, round_)
            summary = assistant.ingest()
            assert summary.updated and summary.removed and summary.added
            valid |= assistant.store.manifest.chunk_ids()
        time.sleep(0.5)
    assert_served_whole_states(readers, valid)
    answer = assistant.ask("Vad gör Region Gotland och Kibaha i Tanzania?")
    assert "gotland_2.md" in {c.source for c in answer.citations}, answer
    assistant.store.close()


def test_a_store_being_written_is_not_taken_for_a_truncated_one(tmp_path: Path) -> None:
    import sqlite3

    from kp_assistant.index.chroma import SQLITE_FILE, vector_problem

    db = tmp_path / SQLITE_FILE
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (x text)")
        conn.executemany("insert into t values (?)", [("x" * 500,)] * 100)
    conn.close()
    whole = db.read_bytes()
    db.write_bytes(whole[:-4096])  # the header already counts a page the file lacks
    assert "is truncated" in (vector_problem(tmp_path, settle_s=0.3) or "")

    # the writer appends the last page a moment later: the reader waits for it (appended, as
    # SQLite grows a file; rewriting it whole would show an empty file for a moment)
    def append_last_page() -> None:
        with open(db, "ab") as fh:
            fh.write(whole[-4096:])

    writer = threading.Timer(0.2, append_last_page)
    writer.start()
    try:
        assert vector_problem(tmp_path, settle_s=5) is None
    finally:
        writer.join()


def test_a_commit_cut_short_is_not_taken_for_a_truncated_store(tmp_path: Path) -> None:
    """SIGKILL inside a SQLite commit can leave the header's page count ahead of the file,
    with the journal that undoes it beside it: SQLite repairs that on the next open, so it is
    no damage. Without that journal the same file is truncated."""
    import sqlite3

    from kp_assistant.index.chroma import SQLITE_FILE, vector_problem

    db = tmp_path / SQLITE_FILE
    with contextlib.closing(sqlite3.connect(db)) as con:
        con.execute("create table t (x blob)")
        con.executemany("insert into t values (?)", [(bytes(3000),) for _ in range(20)])
        con.commit()
    with open(db, "r+b") as fh:  # cut the file two pages short of what its header says
        fh.truncate(db.stat().st_size - 2 * 4096)
    journal = db.with_name(db.name + "-journal")

    assert "is truncated" in (vector_problem(tmp_path, settle_s=0) or "")
    journal.write_bytes(bytes(512))  # a journal that undoes nothing (zeroed header)
    assert "is truncated" in (vector_problem(tmp_path, settle_s=0) or "")
    journal.write_bytes(bytes.fromhex("d9d505f920a163d7") + bytes(504))
    assert vector_problem(tmp_path, settle_s=0) is None
