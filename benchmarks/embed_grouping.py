"""How the grouping of chunk texts into encoder calls costs time, on one corpus's chunks.

The chunk texts are built per file exactly as `ingest` builds them, then embedded in four ways
taking turns, round after round, with the same loaded model: one call per file (as `ingest`
did before it grouped files), all texts in one call, and files grouped into calls of at least
64 and at least 128 chunks (a file that long alone is a call of its own, as in `ingest`).
Prints median and minimum seconds per way; appends the table to docs/benchmarks.md unless
--no-append.

    python benchmarks/embed_grouping.py corpus --backend e5-torch-bf16 --rounds 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest_speed import chunk_texts, load_backend
from machine import markdown_table, publish


def grouped(per_file: list[list[str]], size: int) -> list[list[str]]:
    """The calls `ingest` makes with groups of at least `size` chunks."""
    calls: list[list[str]] = []
    waiting: list[str] = []
    for texts in per_file:
        if len(texts) >= size and waiting:
            calls.append(waiting)
            waiting = []
        waiting = waiting + texts
        if len(waiting) >= size:
            calls.append(waiting)
            waiting = []
    return calls + ([waiting] if waiting else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--backend", default="e5-torch-bf16")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()

    embedder, settings, _, _ = load_backend(args.backend, 32)
    per_file = chunk_texts(args.corpus, settings)
    ways: dict[str, list[list[str]]] = {
        "one call per file": per_file,
        "all in one call": [[t for texts in per_file for t in texts]],
        "files grouped, at least 64 chunks per call": grouped(per_file, 64),
        "files grouped, at least 128 chunks per call": grouped(per_file, 128),
    }
    embedder.embed_passages(per_file[0][:4])  # warm-up
    seconds: dict[str, list[float]] = {way: [] for way in ways}
    names = list(ways)
    load = os.getloadavg()[0]
    for r in range(args.rounds):
        for way in names[r % len(names):] + names[: r % len(names)]:
            seconds[way].append(_timed(lambda calls=ways[way]: [embedder.embed_passages(c)
                                                                for c in calls]))
    chunks = sum(map(len, per_file))
    rows = [[way, str(len(ways[way])), f"{statistics.median(s):.2f}", f"{min(s):.2f}"]
            for way, s in seconds.items()]
    table = markdown_table(["how the chunk texts are embedded", "calls", "median s", "min s"],
                           rows) + (
        f"\n\n{args.corpus}: {len(per_file)} files, {chunks} chunks; backend {args.backend}; "
        f"{args.rounds} rounds, the ways in turn (order rotating); load average {load:.2f} "
        f"before, {os.getloadavg()[0]:.2f} after.")
    publish("Encoder calls: one per file or grouped", table, append=not args.no_append)


def _timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
