"""Evaluate answers against a QA file (the format of the shared dev set)."""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kp_assistant.errors import KPError
from kp_assistant.models import Answer

if TYPE_CHECKING:
    from kp_assistant.assistant import Assistant

TOP = 5
# "[3]" points at a citation; it is not the answer element "3"
_MARKER = re.compile(r"\[\d+\]")


def load_qa(path: Path) -> list[dict[str, Any]]:
    items = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise KPError(f"Cannot read the QA file {path}: {reason}") from exc
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            item["question"], item["type"]
        except (ValueError, KeyError) as exc:
            raise KPError(f"{path}:{n}: not a QA record ({exc})") from exc
        items.append(item)
    return items


def mention_share(answer_text: str, must_mention: Sequence[str]) -> float | None:
    """Share of required elements found; `a|b` accepts either alternative."""
    if not must_mention:
        return None
    low = _MARKER.sub(" ", answer_text).lower()
    found = sum(any(mentions(low, alt.strip().lower()) for alt in el.split("|") if alt.strip())
                for el in must_mention)
    return found / len(must_mention)


SHORT_ELEMENT = 4  # letters; a shorter element (an acronym) must start a word


def mentions(text: str, element: str) -> bool:
    """Whether the element is in the (lower-cased) text. Elements are prefixes ("Bogot",
    "obetal") or parts of compounds ("panel" in "medborgarpanelen"), so they are looked for
    inside words too, except a number, which must stand whole ("3" is not in "136"), and a
    short element, which must start a word ("skr" is not in "beskriver")."""
    if element[:1].isdigit():
        pattern = rf"(?<!\d){re.escape(element)}(?!\d)"
    elif len(element) < SHORT_ELEMENT:
        pattern = rf"(?<!\w){re.escape(element)}"
    else:
        return element in text
    return re.search(pattern, text) is not None


def score_answer(
    item: dict[str, Any], answer: Answer, retrieved: Sequence[str] = ()
) -> dict[str, Any]:
    """One question's row; `retrieved` are the retriever's own top sources, best first."""
    gold = [Path(g).name for g in item.get("gold_docs") or []]
    cited = [Path(c.source).name for c in answer.citations[:TOP]]
    answerable = item["type"] != "unanswerable" and bool(gold)
    row: dict[str, Any] = {
        "id": item.get("id"),
        "type": item["type"],
        "question": item["question"],
        "answer": answer.text,
        "grounded": answer.grounded,
        "cited": cited,
        # "doc.pdf:3": which page each citation points at, for reading regressions
        "cited_pages": [f"{Path(c.source).name}:{c.page}" if c.page else Path(c.source).name
                        for c in answer.citations],
        "gold_docs": gold,
        "latency_ms": answer.timings_ms.get("total", 0.0),
    }
    if answerable:
        row["gold_hit"] = any(c in gold for c in cited)
        row["retriever_hit"] = any(Path(r).name in gold for r in retrieved[:TOP])
        ranks = [i for i, c in enumerate(cited, start=1) if c in gold]
        row["gold_hit_1"] = bool(ranks) and ranks[0] == 1
        every = {Path(c.source).name for c in answer.citations}
        row["gold_docs_cited"] = len(every & set(gold)) / len(set(gold))
        row["mention"] = mention_share(answer.text, item.get("must_mention") or [])
        row["false_refusal"] = not answer.grounded
    else:
        row["refused"] = not answer.grounded
    page = item.get("gold_page")
    pdfs = [g for g in gold if g.lower().endswith(".pdf")]
    if page and pdfs:
        row["gold_page"] = f"{pdfs[0]}:{page}"
        row["page_hit"] = any(
            Path(c.source).name == pdfs[0] and c.page == page for c in answer.citations[:TOP]
        )
    return row


def summarise(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    rows = list(rows)

    def mean(key: str, subset: list[dict[str, Any]]) -> float | None:
        vals = [float(r[key]) for r in subset if r.get(key) is not None]
        return round(sum(vals) / len(vals), 3) if vals else None

    def block(subset: list[dict[str, Any]]) -> dict[str, Any]:
        lat = sorted(r["latency_ms"] for r in subset)
        return {
            "n": len(subset),
            "retriever_hit@5": mean("retriever_hit", subset),
            "gold_hit@5": mean("gold_hit", subset),
            "gold_hit@1": mean("gold_hit_1", subset),
            "gold_docs_cited": mean("gold_docs_cited", subset),
            "must_mention": mean("mention", subset),
            "refused_unanswerable": mean("refused", subset),
            "false_refusals": mean("false_refusal", subset),
            "page_accuracy": mean("page_hit", subset),
            "latency_p50_ms": round(statistics.median(lat), 1) if lat else None,
            "latency_p95_ms": round(_percentile(lat, 95), 1) if lat else None,
        }

    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_type[r["type"]].append(r)
    return {"overall": block(rows), "by_type": {t: block(v) for t, v in sorted(by_type.items())}}


def _percentile(sorted_vals: Sequence[float], p: float) -> float:
    if not sorted_vals:
        return 0.0
    idx = min(len(sorted_vals) - 1, max(0, round(p / 100 * len(sorted_vals) + 0.5) - 1))
    return float(sorted_vals[idx])


def run_eval(assistant: Assistant, qa_file: Path, corpus_dir: Path) -> dict[str, Any]:
    items = load_qa(qa_file)
    ingest = assistant.ingest([corpus_dir])
    rows = []
    for item in items:
        retrieved = [h.chunk.source for h in assistant.retrieve(item["question"], TOP)]
        rows.append(score_answer(item, assistant.ask(item["question"]), retrieved))
    return {
        "qa_file": str(qa_file),
        "corpus": str(corpus_dir),
        "embedder": assistant.embedder_id,
        "index_chunks": ingest.chunks_total,
        "summary": summarise(rows),
        "questions": rows,
    }


def format_report(report: dict[str, Any]) -> str:
    cols = [
        "n",
        "retriever_hit@5",
        "gold_hit@5",
        "gold_hit@1",
        "gold_docs_cited",
        "must_mention",
        "refused_unanswerable",
        "false_refusals",
        "page_accuracy",
        "latency_p50_ms",
        "latency_p95_ms",
    ]
    head = ["type", *cols]
    summary = report["summary"]
    table = [[t, *(_fmt(b[c]) for c in cols)] for t, b in summary["by_type"].items()]
    table.append(["overall", *(_fmt(summary["overall"][c]) for c in cols)])
    widths = [max(len(str(r[i])) for r in [head, *table]) for i in range(len(head))]
    lines = [f"model: {report['embedder']}   chunks: {report['index_chunks']}", ""]
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in table:
        lines.append(
            "| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)) + " |"
        )
    return "\n".join(lines)


def default_index_dir(corpus_dir: Path) -> Path:
    """An index folder of its own for every evaluated corpus.

    Both dev sets keep their documents in a folder called `corpus`, so the folder name alone
    would let one set reuse the other's index; the resolved path's hash tells them apart.
    """
    resolved = corpus_dir.resolve()
    digest = hashlib.sha1(str(resolved).encode("utf-8")).hexdigest()[:8]
    name = resolved.parent.name if resolved.name == "corpus" else resolved.name
    return Path("index") / f"eval-{name}-{digest}"


def write_rows(path: Path, report: dict[str, Any]) -> None:
    """The per-question report as JSON lines: one row per question, then the summary."""
    lines = [json.dumps(r, ensure_ascii=False) for r in report["questions"]]
    lines.append(json.dumps({"summary": report["summary"]}, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _fmt(v: Any) -> str:
    return "–" if v is None else str(v)
