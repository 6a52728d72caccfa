"""Baseline for the eval: plain bm25s (Swedish stemmer) over LlamaIndex's default chunks.

Reads the corpus with LlamaIndex's SimpleDirectoryReader, splits it with the default
SentenceSplitter (1,024 tokens), indexes the chunks with bm25s and takes the top 5 chunks as
the "citations" of each question. Prints gold-document hit@1/@5 on answerable questions, the
number kp-assistant's hybrid retrieval must not fall below.

    python benchmarks/keyword_baseline.py ../shared/eval/dev/qa.jsonl ../shared/eval/dev/corpus
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import bm25s
import Stemmer
from llama_index.core import SimpleDirectoryReader
from llama_index.core.node_parser import SentenceSplitter


def main(qa_path: Path, corpus: Path) -> None:
    docs = SimpleDirectoryReader(str(corpus)).load_data()
    nodes = SentenceSplitter().get_nodes_from_documents(docs)
    sources = [Path(n.metadata.get("file_path", "")).name for n in nodes]
    stemmer = Stemmer.Stemmer("swedish")
    tokens = bm25s.tokenize([n.get_content() for n in nodes], stopwords="sv", stemmer=stemmer,
                            return_ids=False, show_progress=False)
    index = bm25s.BM25()
    index.index(tokens, show_progress=False)
    hit1 = hit5 = n = 0
    for line in qa_path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item["type"] == "unanswerable" or not item["gold_docs"]:
            continue
        q = bm25s.tokenize([item["question"]], stopwords="sv", stemmer=stemmer,
                           return_ids=False, show_progress=False)
        ids, _ = index.retrieve(q, k=min(5, len(nodes)), show_progress=False)
        cited = [sources[i] for i in ids[0]]
        n += 1
        hit1 += cited[0] in item["gold_docs"]
        hit5 += any(c in item["gold_docs"] for c in cited)
    print(f"chunks: {len(nodes)}  answerable questions: {n}")
    print(f"bm25s over LlamaIndex default chunks: gold hit@1 {hit1 / n:.3f}  hit@5 {hit5 / n:.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
