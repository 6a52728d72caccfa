"""How often verification rejects sentences that are true by construction.

The extractive answers quote their passages word for word, so every one of their sentences
should pass `verify` against the passage it cites; each failure is a false drop. Prints the
share per dev set and every failing sentence with its reason.

    python benchmarks/verify_quotes.py ../shared/eval/dev ../shared/eval/dev2
"""

from __future__ import annotations

import argparse
from pathlib import Path

from machine import markdown_table, publish

from kp_assistant.answering.llm_answer import is_writable
from kp_assistant.answering.verify import Passage, split_generated, verify
from kp_assistant.assistant import Assistant
from kp_assistant.evaluation.qa import load_qa
from kp_assistant.settings import load_settings


def check_set(folder: Path) -> tuple[int, list[str]]:
    settings = load_settings(index_dir=Path("index") / f"eval-{folder.resolve().name}")
    assistant = Assistant.from_settings(settings)
    assistant.ingest([folder / "corpus"])
    total, failed = 0, []
    for item in load_qa(folder / "qa.jsonl"):
        answer = assistant.ask(item["question"], llm=False)
        if not is_writable(answer):
            continue
        chunks = {c.id: c for c in assistant.store.get([c.chunk_id for c in answer.citations])}
        passages = [Passage.from_chunk(c.n, chunks[c.chunk_id]) for c in answer.citations]
        for sentence in split_generated(answer.text):
            total += 1
            verdict = verify(sentence, passages)
            if not verdict.ok:
                failed.append(f"{item['id']}: {verdict.reason}: {sentence[:120]}")
    return total, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", type=Path)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    rows, notes = [], []
    for folder in args.sets:
        total, failed = check_set(folder)
        rows.append([folder.name, str(total), str(len(failed)),
                     f"{len(failed) / total:.3f}" if total else "–"])
        notes += failed
    text = markdown_table(["set", "quoted sentences", "rejected", "false-drop share"], rows)
    if notes:
        text += "\n\nRejected:\n\n" + "\n".join(f"- {n}" for n in notes)
    publish("Verification of the extractive answers' own quotes", text,
            append=not args.no_append)


if __name__ == "__main__":
    main()
