"""The real model end to end on data inside the repository: the bundled corpus/ and a small
question file written for it (tests/data/bundled_qa.jsonl), so that this check runs from a
clone with nothing beside it.

The floors are below what the shipped configuration reaches (see docs/benchmarks.md); they
catch a pipeline that stopped finding or citing the right documents, not a small change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kp_assistant.assistant import Assistant
from kp_assistant.evaluation.qa import run_eval
from kp_assistant.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
QA = Path(__file__).parent / "data" / "bundled_qa.jsonl"


@pytest.mark.integration
def test_bundled_corpus_questions_cite_their_documents(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", corpus_dir=ROOT / "corpus")
    report = run_eval(Assistant.from_settings(settings), QA, ROOT / "corpus")
    overall = report["summary"]["overall"]
    rows = {r["id"]: r for r in report["questions"]}
    assert report["index_chunks"] > 50
    assert overall["gold_hit@5"] >= 0.6, overall
    assert overall["must_mention"] >= 0.5, overall
    # at least half of the questions the documents do not answer must be refused
    refused = [r["refused"] for r in rows.values() if r["type"] == "unanswerable"]
    assert sum(refused) >= len(refused) / 2, rows
