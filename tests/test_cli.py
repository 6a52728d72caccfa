"""The command line through click's CliRunner, with the hashing backend and a tmp index."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kp_assistant.cli import main
from kp_assistant.index.store import Store

README = Path(__file__).resolve().parents[1] / "README.md"
COMMANDS = ["ingest", "ask", "serve", "stats", "eval", "eval-registry", "partnerships",
            "staff-password"]
SUMMARY = re.compile(
    r"^added (\d+), updated (\d+), removed (\d+), unchanged (\d+), failed (\d+); "
    r"embedded (\d+) chunks \((\d+) in the index\) in \d+\.\d s$",
    re.M,
)


def run(*args: str | Path, **env: str) -> Result:
    return CliRunner().invoke(
        main, [str(a) for a in args], env={"KP_EMBEDDING_BACKEND": "hashing", **env}
    )


def assert_one_line_error(result: Result, *fragments: str) -> str:
    assert result.exit_code != 0
    # a handled error ends in SystemExit; anything else would have been a traceback
    assert isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture
def index(tmp_path: Path, corpus: Path) -> Path:
    result = run("ingest", "--index", tmp_path / "index", corpus)
    assert result.exit_code == 0, result.output
    return tmp_path / "index"


def test_ingest_prints_the_summary(tmp_path: Path, corpus: Path) -> None:
    (corpus / "tom.txt").write_bytes(b"")
    result = run("ingest", "--index", tmp_path / "index", corpus)
    assert result.exit_code == 0, result.output
    m = SUMMARY.search(result.stdout)
    assert m, result.stdout
    added, updated, removed, unchanged, failed, embedded, total = map(int, m.groups())
    chunks = Store(tmp_path / "index").count()
    assert (added, updated, removed, unchanged, failed) == (4, 0, 0, 0, 1)
    assert embedded == total == chunks > 0
    assert "  failed: tom.txt: empty file" in result.stdout
    # progress goes to stderr when it is not a terminal: one line per file, and one before
    # the four small files are embedded together
    assert result.stderr.count(" files, ") == 5 + 1
    assert result.stderr.count("embedding ") == 1

    again = run("ingest", "--index", tmp_path / "index", corpus)
    m = SUMMARY.search(again.stdout)
    assert m, again.stdout
    assert tuple(map(int, m.groups())) == (0, 0, 0, 4, 1, 0, chunks)


def test_ingest_json(tmp_path: Path, corpus: Path) -> None:
    result = run("ingest", "--json", "--index", tmp_path / "index", corpus)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert sorted(summary["added"]) == sorted(
        p.relative_to(corpus).as_posix() for p in corpus.rglob("*.*")
    )
    assert summary["chunks_embedded"] == summary["chunks_total"] > 0
    assert result.stderr == ""  # no progress bar with --json


def test_ingest_uses_kp_corpus_dir_by_default(tmp_path: Path, corpus: Path) -> None:
    result = run("ingest", "--index", tmp_path / "index", KP_CORPUS_DIR=str(corpus))
    assert result.exit_code == 0, result.output
    assert SUMMARY.search(result.stdout).group(1) == "4"  # type: ignore[union-attr]


def test_ask_json_one_object_per_question(index: Path, corpus: Path) -> None:
    questions = ["Vad arbetar Lund och Francistown med?", "Vad handlar projektet i Kalix om?"]
    result = run("ask", "--json", "--index", index, *questions)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(questions)
    answers = [json.loads(line) for line in lines]
    for question, answer in zip(questions, answers, strict=True):
        assert set(answer) - {"related"} == {
            "question",
            "answer",
            "grounded",
            "citations",
            "timings_ms",
            "mode",
            "dropped",
            "notice",
        }
        assert answer["mode"] == "extractive" and answer["dropped"] == []  # no KP_LLM_PROVIDER
        assert answer["question"] == question
        assert answer["grounded"] is True
        assert set(answer["timings_ms"]) == {"retrieve", "answer", "total"}
        assert all(isinstance(v, int | float) and v >= 0 for v in answer["timings_ms"].values())
        assert answer["citations"]
        for n, citation in enumerate(answer["citations"], start=1):
            assert {"n", "source", "page", "chunk_id", "quote", "score"} <= set(citation)
            assert citation["n"] == n
            assert f"[{n}]" in answer["answer"]
            # the source is relative to the corpus root and names a real file
            assert not Path(citation["source"]).is_absolute()
            assert (corpus / citation["source"]).is_file()
            for part in citation["quote"].split(" … "):  # the sentences the answer used
                assert part in answer["answer"]
    lund, kalix = answers
    assert lund["citations"][0]["source"] == "natverk/lund_francistown.md"
    assert lund["citations"][0]["page"] is None
    assert "dricksvatten" in lund["answer"]
    assert kalix["citations"][0]["source"] == "kalix_masaka.md"
    assert "plast" in kalix["answer"]


def test_ask_refusal_in_json(index: Path) -> None:
    result = run("ask", "--json", "--index", index, "Vilka kommuner har partnerskap i Namibia?")
    answer = json.loads(result.stdout)
    assert answer["grounded"] is False
    assert answer["citations"] == []
    assert answer["answer"] == "Jag hittar inget svar på den frågan i dokumenten."


def test_ask_text_lists_numbered_sources(index: Path) -> None:
    result = run(
        "ask", "--index", index, "Vad handlar partnerskapet mellan Robertsfors och Machakos om?"
    )
    assert result.exit_code == 0, result.output
    assert "jämställdhet" in result.stdout
    assert "Källor:" in result.stdout
    assert "[1] robertsfors_machakos.txt" in result.stdout


def test_stats(index: Path, corpus: Path) -> None:
    result = run("stats", "--index", index)
    assert result.exit_code == 0, result.output
    chunks = Store(index).count()
    assert re.search(r"^documents: 4$", result.stdout, re.M)
    assert re.search(rf"^chunks:    {chunks}$", result.stdout, re.M)
    assert "model:     hashing-256" in result.stdout
    assert "natverk/lund_francistown.md: 1 chunks" in result.stdout
    info = json.loads(run("stats", "--json", "--index", index).stdout)
    assert info["documents"] == 4 and info["chunks"] == chunks
    assert Path(info["corpus"]) == corpus.resolve()


QA = [
    {
        "id": "t-1",
        "question": "Vad handlar projektet mellan Kalix och Masaka om?",
        "type": "lookup",
        "gold_docs": ["kalix_masaka.md"],
        "must_mention": ["plast"],
        "gold_page": None,
    },
    {
        "id": "t-2",
        "question": "Vad arbetar Lund och Francistown med?",
        "type": "lookup",
        "gold_docs": ["lund_francistown.md"],
        "must_mention": ["dricksvatten"],
        "gold_page": None,
    },
    {
        "id": "t-3",
        "question": "Vilka svenska kommuner har partnerskap i Namibia?",
        "type": "unanswerable",
        "gold_docs": [],
        "must_mention": [],
        "gold_page": None,
    },
]


def test_eval_prints_the_table(tmp_path: Path, corpus: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in QA) + "\n", encoding="utf-8")
    report = tmp_path / "report.json"
    result = run("eval", qa, "--corpus", corpus, "--index", tmp_path / "index", "--json", report)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("model: hashing-256")
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
        for line in out.splitlines()
        if line.startswith("| ")
    }
    assert list(rows) == ["type", "lookup", "unanswerable", "overall"]
    header = rows["type"]
    lookup = dict(zip(header, rows["lookup"], strict=True))
    assert lookup["n"] == "2"
    assert lookup["gold_hit@5"] == "1.0"
    assert lookup["must_mention"] == "1.0"
    unanswerable = dict(zip(header, rows["unanswerable"], strict=True))
    assert unanswerable["refused_unanswerable"] == "1.0"
    assert rows["overall"][0] == "3"
    full = json.loads(report.read_text(encoding="utf-8"))
    assert [q["id"] for q in full["questions"]] == ["t-1", "t-2", "t-3"]


def test_error_ask_on_an_empty_index(tmp_path: Path) -> None:
    result = run("ask", "--index", tmp_path / "tomt", "Vem kan söka?")
    assert_one_line_error(result, "kp-assistant ingest", str(tmp_path / "tomt"))


def test_error_eval_with_a_missing_file(tmp_path: Path, corpus: Path) -> None:
    missing = tmp_path / "saknas.jsonl"
    result = run("eval", missing, "--corpus", corpus, "--index", tmp_path / "index")
    assert_one_line_error(result, str(missing))


def test_error_eval_with_a_bad_qa_line(tmp_path: Path, corpus: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "Vad?", "type": "lookup"}\n{inte json\n', encoding="utf-8")
    result = run("eval", qa, "--corpus", corpus, "--index", tmp_path / "index")
    assert_one_line_error(result, f"{qa}:2")


def test_error_invalid_setting(index: Path) -> None:
    result = run("ask", "--index", index, "Vem kan söka?", KP_TOP_K="abc")
    assert_one_line_error(result, "KP_TOP_K", "abc")


def test_error_model_mismatch(index: Path) -> None:
    result = run(
        "ask",
        "--index",
        index,
        "Vem kan söka?",
        KP_EMBEDDING_BACKEND="sentence-transformers",
        KP_EMBEDDING_MODEL="/ingen/modell",
    )
    assert_one_line_error(result, "hashing-256", "--rebuild")


def test_error_corrupt_index_and_its_remedy(index: Path, corpus: Path) -> None:
    (index / "manifest.json").write_text("{trasig", encoding="utf-8")
    assert_one_line_error(run("stats", "--index", index), "--rebuild")
    result = run("ingest", "--rebuild", "--index", index, corpus)
    assert result.exit_code == 0, result.output
    assert run("stats", "--index", index).exit_code == 0


def test_every_command_has_help() -> None:
    top = run("--help")
    assert top.exit_code == 0
    assert sorted(main.commands) == sorted(COMMANDS)  # type: ignore[attr-defined]
    for name in COMMANDS:
        assert re.search(rf"^  {name}\s", top.output, re.M), name
        result = run(name, "--help")
        assert result.exit_code == 0, result.output
        assert f"Usage: main {name}" in result.output or f"Usage: kp-assistant {name}" in (
            result.output
        )


def test_real_cli_keeps_stderr_to_progress_lines(tmp_path: Path, corpus: Path) -> None:
    """Run as users do: stdout has the summary; stderr only progress, no library logging."""
    cli = Path(sys.executable).with_name("kp-assistant")
    proc = subprocess.run(
        [str(cli), "ingest", "--index", str(tmp_path / "index"), str(corpus)],
        env={**os.environ, "KP_EMBEDDING_BACKEND": "hashing"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert SUMMARY.search(proc.stdout)
    lines = proc.stderr.splitlines()
    assert len(lines) == 4 + 1  # four files, and the notice before they are embedded
    assert all(line.startswith("[") for line in lines), proc.stderr


def test_every_command_is_documented_in_the_readme() -> None:
    assert README.is_file(), f"{README} is missing"
    text = README.read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"kp-assistant {name}" in text, f"`kp-assistant {name}` is not in README.md"
