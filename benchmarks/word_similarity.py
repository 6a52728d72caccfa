"""Whether the embedding model tells Swedish synonyms from unrelated words, one word each.

Positives are the Swedish words of `data/glossary.tsv` that share an English translation
("personal" and "anställda": staff); negatives are random pairs of content words of a corpus.
Both sides are embedded as queries (as a question's term would be) and compared by cosine.
If the two distributions overlap, no threshold on word similarity can stand in for a
thesaurus. Prints the positives and quantiles of the negatives.

    python benchmarks/word_similarity.py corpus --pairs 300
"""

from __future__ import annotations

import argparse
import random
import re
from collections import defaultdict
from importlib import resources
from pathlib import Path

import numpy as np

from kp_assistant.embedding import make_embedder
from kp_assistant.settings import load_settings

_WORD = re.compile(r"\b[a-zåäö]{5,}\b")  # lower case: names are left out


def glossary_synonyms() -> list[tuple[str, str]]:
    by_english: dict[str, set[str]] = defaultdict(set)
    text = resources.files("kp_assistant.data").joinpath("glossary.tsv").read_text("utf-8")
    for line in text.splitlines()[1:]:
        sv, _, en = line.partition("\t")
        for e in en.split(";"):
            by_english[e.strip().lower()] |= {s.strip() for s in sv.split(";")}
    pairs = {tuple(sorted(ws))[:2] for ws in by_english.values() if len(ws) > 1}
    return sorted(pairs)  # type: ignore[arg-type]


def corpus_words(folder: Path) -> list[str]:
    from bm25s.stopwords import STOPWORDS_SWEDISH

    stop = set(STOPWORDS_SWEDISH)
    words: set[str] = set()
    for path in sorted(folder.rglob("*")):
        if path.suffix in {".md", ".txt"}:
            words |= {w for w in _WORD.findall(path.read_text("utf-8", "replace")) if w not in stop}
    return sorted(words)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--pairs", type=int, default=300, help="random pairs of corpus words")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    embedder = make_embedder(load_settings())
    positives = glossary_synonyms()
    rng = random.Random(args.seed)
    words = corpus_words(args.corpus)
    negatives = [tuple(rng.sample(words, 2)) for _ in range(args.pairs)]

    def cosines(pairs: list[tuple[str, ...]]) -> np.ndarray:
        a = np.asarray(embedder.embed_queries([p[0] for p in pairs]))
        b = np.asarray(embedder.embed_queries([p[1] for p in pairs]))
        return np.asarray((a * b).sum(axis=1))

    print(f"embedder: {embedder.name}")
    print("| synonyms (glossary) | cosine |\n|---|---|")
    for (a, b), s in zip(positives, cosines(positives), strict=True):  # type: ignore[arg-type]
        print(f"| {a} / {b} | {s:.3f} |")
    qs = np.quantile(cosines(negatives), [0.5, 0.9, 0.95, 0.99, 1.0])
    print(f"\nrandom pairs of {len(words)} corpus words ({args.pairs} pairs): "
          + ", ".join(f"{name} {v:.3f}" for name, v in zip(
              ("median", "p90", "p95", "p99", "max"), qs, strict=True)))


if __name__ == "__main__":
    main()
