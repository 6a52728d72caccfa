"""Whole-answer latency on the bundled corpus, and the cold ingest it is built from.

A fresh index of `corpus/` is built with the configured backend (cold ingest, timed), then
every question of the given QA files is asked twice: the first round meets empty sentence
caches, the second finds the vectors of the sentences already compared. Then the vectors of
every sentence of the index are computed (timed; `serve` does this in the background after
start-up) and a new process's assistant asks the questions once more. Prints p50/p95 of
`timings_ms.total` per round and the load average, and appends it to docs/benchmarks.md
unless --no-append.

    .venv/bin/python benchmarks/answer_latency.py ../shared/eval/dev/qa.jsonl \
        ../shared/eval/dev2/qa.jsonl
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from machine import markdown_table, publish

from kp_assistant.assistant import Assistant
from kp_assistant.evaluation.qa import load_qa
from kp_assistant.settings import load_settings
from kp_assistant.web.startup import WARM_UP_QUESTION

REPO = Path(__file__).resolve().parents[1]


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * len(ordered) + 0.5) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("qa", nargs="+", type=Path)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    questions = [item["question"] for path in args.qa for item in load_qa(path)]
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings().model_copy(
            update={"index_dir": Path(tmp) / "index", "corpus_dir": REPO / "corpus"})
        assistant = Assistant.from_settings(settings)
        started = time.perf_counter()
        summary = assistant.ingest()
        ingest_s = time.perf_counter() - started
        rows = [["cold ingest of corpus/", f"{summary.chunks_total} chunks", f"{ingest_s:.1f} s",
                 ""]]

        def round_(who: Assistant, name: str) -> None:
            totals = [who.ask(q).timings_ms["total"] for q in questions]
            rows.append([f"answers, {name}", f"{len(totals)} questions",
                         f"p50 {statistics.median(totals):.0f} ms",
                         f"p95 {p95(totals):.0f} ms"])

        round_(assistant, "first round, no sentence vectors computed yet")
        round_(assistant, "second round, same process")
        started = time.perf_counter()
        made = Assistant.from_settings(settings).warm_sentences()  # all of them, from nothing
        rows.append(["sentence vectors of the index (what `serve` does after start-up)",
                     f"{made} sentences", f"{time.perf_counter() - started:.1f} s", ""])
        # a new process on the same index: its questions are new to it, the vectors are on disk
        fresh = Assistant.from_settings(settings)
        fresh.ask(WARM_UP_QUESTION)  # as `serve` does: loads the model and the store
        round_(fresh, "first round of a new process, after the sentence vectors")
    load = f"load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    table = markdown_table(["what", "size", "time", ""], rows) + f"\n\n{load}"
    publish("Whole-answer latency on the bundled corpus", table, append=not args.no_append)


if __name__ == "__main__":
    main()
