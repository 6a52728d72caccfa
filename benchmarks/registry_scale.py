"""Registry list answers on a registry many times the size of an index's own.

The partnerships of an index are copied N times under new partner names (so every copy is a
partnership of its own, with all its sentences), then list questions about topics are
answered from the registry alone (`registry.aggregate.answer_from_registry`, what a list
question costs before retrieval and the rest of the answer). Reported per question: the first
answer of a topic (its words are matched against the registry's words for the first time)
and the same question again. The first question of the run also pays for reading each
partnership's words once. With --without-context the copies lose the lines kept as their
context, which is what the registry held before it kept them.

    python benchmarks/registry_scale.py --index index/eval-dev2-… --copies 100
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from pathlib import Path

from kp_assistant.answering.question import Question
from kp_assistant.registry.aggregate import answer_from_registry
from kp_assistant.registry.storage import RegistryFile

QUESTIONS = (
    "Vilka kommuner arbetar med turism?",
    "Vilka partnerskap handlar om personer med funktionsnedsättning?",
    "Vilka kommuner arbetar med krisberedskap?",
    "Vilka kommuner arbetar med fiske?",
    "Vilka kommuner arbetar med digitalisering?",
    "Vilka kommuner arbetar med korruption?",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="an index with a registry")
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--without-context", action="store_true")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    from machine import markdown_table, publish

    own = RegistryFile(args.index).partnerships()
    if not own:
        parser.error(f"no partnerships in {args.index}")
    groups = [dataclasses.replace(g, partner=f"{g.partner} {i}" if i else g.partner,
                                  **({"context": ()} if args.without_context else {}))
              for i in range(args.copies) for g in own]
    sentences = sum(len(g.sources) + len(g.context) for g in groups)
    load = os.getloadavg()[0]
    rows, firsts, agains = [], [], []
    for text in QUESTIONS:
        q = Question.parse(text)
        start = time.perf_counter()
        answer = answer_from_registry(q, groups)
        first = time.perf_counter() - start
        start = time.perf_counter()
        answer_from_registry(q, groups)
        again = time.perf_counter() - start
        firsts.append(first)
        agains.append(again)
        head = answer.text.splitlines()[0] if answer is not None else "(left to the passages)"
        rows.append([text, f"{first * 1000:.0f}", f"{again * 1000:.0f}", head])
    table = markdown_table(["question", "first ms", "again ms", "answer"], rows) + (
        f"\n\n{len(groups)} partnerships ({args.copies} copies of {len(own)}), {sentences} "
        f"sentences{' (context lines left out)' if args.without_context else ''}; median "
        f"first {statistics.median(firsts) * 1000:.0f} ms, again "
        f"{statistics.median(agains) * 1000:.0f} ms; load average {load:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after.")
    publish("Registry list answers at scale", table, append=not args.no_append)


if __name__ == "__main__":
    main()
