"""Where a cold ingest spends its time: wall seconds per pipeline stage, in one process.

Wraps the stages of `Assistant.ingest` with timers (embedding of chunk texts, the partnership
registry and its sentence embeddings, Chroma writes, the keyword index, reading files in the
reader process, manifest saves), runs one cold ingest of the corpus into a temporary index
with the model already loaded, and prints each stage's share. Prints only.

    python benchmarks/ingest_breakdown.py corpus
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kp_assistant import embedding
from kp_assistant.assistant import Assistant
from kp_assistant.documents import chunking, sandbox
from kp_assistant.index import changes, store
from kp_assistant.registry import storage as registry_file
from kp_assistant.settings import Settings

STAGES: list[tuple[Any, str, str]] = [
    (embedding.Embedder, "embed_passages", "embedding chunk texts"),
    (registry_file.RegistryFile, "rebuild", "partnership registry (all)"),
    (embedding.QueryCache, "embed_queries", "  of which sentence embeddings"),
    (store.Store, "add", "Chroma writes"),
    (store.Store, "rebuild_keyword", "keyword index"),
    (sandbox.Sandbox, "read", "reading files (reader process)"),
    (sandbox.Sandbox, "start", "starting the reader process"),
    (sandbox.Sandbox, "close", "stopping the reader process"),
    (chunking, "chunk_document", "chunking"),
    (changes, "file_hash", "hashing files"),
    (store.Store, "check", "opening Chroma, checking the store"),
    (store.Store, "all_chunks", "reading chunks back for the registry"),
    (store.Store, "save_manifest", "manifest saves"),
    (store.Store, "end_change", "end of change"),
]


def timed(spent: dict[str, float], label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - start

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, nargs="?", default=Path("corpus"))
    args = parser.parse_args()
    spent: dict[str, float] = defaultdict(float)
    for owner, name, label in STAGES:
        setattr(owner, name, timed(spent, label, getattr(owner, name)))
    with tempfile.TemporaryDirectory(prefix="kp-breakdown-") as work:
        assistant = Assistant.from_settings(Settings(index_dir=Path(work) / "index"))
        assistant.embedder  # noqa: B018 - the model loads before the clock starts
        load = os.getloadavg()[0]
        start = time.perf_counter()
        summary = assistant.ingest([args.corpus])
        total = time.perf_counter() - start
    print(f"cold ingest of {args.corpus}: {summary.chunks_embedded} chunks, {total:.1f} s "
          f"(load average {load:.2f})\n")
    print("| stage | seconds | share |\n|---|---|---|")
    for _, _, label in STAGES:
        print(f"| {label} | {spent[label]:.2f} | {spent[label] / total:.1%} |")
    counted = sum(v for k, v in spent.items() if not k.startswith(" "))
    print(f"| rest (hashing, chunking, bookkeeping) | {total - counted:.2f} | "
          f"{(total - counted) / total:.1%} |")


if __name__ == "__main__":
    main()
