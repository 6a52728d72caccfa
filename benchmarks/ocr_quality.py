"""OCR quality and cost on scans of the dev corpora's own PDFs, and eval on a scanned dev2.

    python benchmarks/ocr_quality.py [--pages-per-pdf 2] [--part cer|eval|all] [--no-append]

Part "cer": every PDF of ../shared/eval/dev/corpus and ../shared/eval/dev2/corpus is rasterised
(grey) at 150 and 300 dpi, clean and "crooked" (turned 1.5 degrees, Gaussian noise of 12 grey
levels), and read the way ingest reads a scan (rendered at KP_OCR_DPI 300, tesseract swe+eng,
no cache). The character error rate is the Levenshtein distance between OCR text and the PDF's
text layer over the length of the text layer, after whitespace is collapsed; the "normalised"
column also maps typographic dashes and quotes to their ASCII forms (tesseract reads "–" as
"-"; for search they are the same). CER also counts text read in another order (a table read
column by column where the text layer goes row by row), so "words missed" gives the share of
the text layer's words (normalised) that the OCR text lacks, in any order. `--pages-per-pdf`
samples pages (first, then spread evenly) to keep the run short on a shared machine; 0 reads
every page. `--details FILE` writes every page's text layer, OCR text and error count as JSON
lines, to see where the errors are.

Part "eval": `kp-assistant eval` on dev2 as it is and with every PDF replaced by its 300 dpi
scan, each with its own `--index` (both corpus folders are named `corpus`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

from machine import REPO, markdown_table, publish
from pypdf import PdfReader
from rapidfuzz.distance import Levenshtein

sys.path.insert(0, str(REPO / "scripts"))
from make_scans import scan_folder, scan_images, write_scan

from kp_assistant.documents.ocr import OcrOptions, ocr_pdf_pages

SHARED = REPO.parent / "shared" / "eval"
CORPORA = {"dev": SHARED / "dev" / "corpus", "dev2": SHARED / "dev2" / "corpus"}
VARIANTS = [  # (label, scan dpi, angle, noise)
    ("300 dpi clean", 300, 0.0, 0.0),
    ("300 dpi crooked+noise", 300, 1.5, 12.0),
    ("150 dpi clean", 150, 0.0, 0.0),
    ("150 dpi crooked+noise", 150, 1.5, 12.0),
]
_ASCII = str.maketrans({"–": "-", "—": "-", "‐": "-", "‑": "-", "’": "'", "‘": "'",
                        "”": '"', "“": '"', "„": '"', "»": '"', "«": '"'})


def collapse(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def sample(pages: int, wanted: int) -> list[int]:
    if wanted <= 0 or wanted >= pages:
        return list(range(1, pages + 1))
    step = pages / wanted
    return sorted({1 + int(i * step) for i in range(wanted)})


def cer_part(pages_per_pdf: int, details: Path | None = None) -> str:
    pdfs = [p for corpus in CORPORA.values() for p in sorted(corpus.glob("*.pdf"))]
    chosen = {p: sample(len(PdfReader(p).pages), pages_per_pdf) for p in pdfs}
    total_pages = sum(len(v) for v in chosen.values())
    rows = []
    out = details.open("w", encoding="utf-8") if details else None
    with tempfile.TemporaryDirectory() as tmp:
        for label, dpi, angle, noise in VARIANTS:
            errors = errors_norm = chars = missed = words = 0
            confidences: list[float] = []
            seconds = 0.0
            worst = (0.0, "")
            for pdf, numbers in chosen.items():
                reader = PdfReader(pdf)
                refs = {n: collapse(reader.pages[n - 1].extract_text()) for n in numbers}
                images = scan_images(pdf, dpi=dpi, angle=angle, noise=noise)
                scan = write_scan([images[n - 1] for n in numbers], Path(tmp) / pdf.name, dpi)
                started = time.perf_counter()
                read = ocr_pdf_pages(scan.read_bytes(), range(1, len(numbers) + 1), OcrOptions())
                seconds += time.perf_counter() - started
                for i, n in enumerate(numbers, start=1):
                    ref, hyp = refs[n], collapse(" ".join(read[i].lines))
                    dist = Levenshtein.distance(ref, hyp)
                    errors += dist
                    errors_norm += Levenshtein.distance(ref.translate(_ASCII),
                                                        hyp.translate(_ASCII))
                    chars += len(ref)
                    ref_words = Counter(ref.translate(_ASCII).split())
                    missed += sum((ref_words - Counter(hyp.translate(_ASCII).split())).values())
                    words += sum(ref_words.values())
                    confidences.append(read[i].confidence)
                    worst = max(worst, (dist / max(len(ref), 1), f"{pdf.name} p. {n}"))
                    if out:
                        out.write(json.dumps({"scan": label, "pdf": pdf.name, "page": n,
                                              "chars": len(ref), "errors": dist,
                                              "confidence": read[i].confidence, "ref": ref,
                                              "ocr": hyp}, ensure_ascii=False) + "\n")
            rows.append([
                label, str(total_pages), f"{100 * errors / chars:.2f} %",
                f"{100 * errors_norm / chars:.2f} %", f"{100 * missed / words:.2f} %",
                f"{seconds / total_pages:.1f}",
                f"{sum(confidences) / len(confidences):.1f}",
                f"{100 * worst[0]:.1f} % ({worst[1]})",
            ])
            print(" | ".join(rows[-1]), file=sys.stderr)
    if out:
        out.close()
    head = ["scan", "pages", "CER", "CER normalised", "words missed (any order)", "s/page",
            "mean confidence", "worst page (CER)"]
    note = (f"{len(pdfs)} PDFs of dev and dev2, {total_pages} pages "
            + (f"({pages_per_pdf} sampled per PDF)" if pages_per_pdf > 0 else "(all)")
            + "; OCR renders every scan at 300 dpi, one tesseract thread.")
    return note + "\n\n" + markdown_table(head, rows)


def run_eval(corpus: Path, index: Path, out: Path, log: Path) -> tuple[dict[str, Any], float]:
    qa = SHARED / "dev2" / "qa.jsonl"
    cmd = [str(Path(sys.executable).parent / "kp-assistant"), "eval", str(qa), "--corpus",
           str(corpus), "--index", str(index), "--json", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    started = time.perf_counter()
    with log.open("w") as fh:
        subprocess.run(cmd, check=True, stdout=fh, stderr=subprocess.STDOUT, env=env)
    return json.loads(out.read_text(encoding="utf-8")), time.perf_counter() - started


def pdf_subset(report: dict[str, Any]) -> dict[str, float | None]:
    """hit@5 and page accuracy over the questions whose gold document is a PDF."""
    rows = [r for r in report["questions"] if any(g.endswith(".pdf") for g in r["gold_docs"])]
    hits = [r["gold_hit"] for r in rows if "gold_hit" in r]
    pages = [r["page_hit"] for r in rows if "page_hit" in r]
    return {"n": len(rows), "hit5": sum(hits) / len(hits) if hits else None,
            "page": sum(pages) / len(pages) if pages else None, "n_page": len(pages)}


def eval_part(work: Path) -> str:
    scanned = work / "dev2-scanned" / "corpus"
    if not scanned.is_dir():
        scan_folder(CORPORA["dev2"], scanned, dpi=300)
    rows = []
    for label, corpus, name in [("digital originals", CORPORA["dev2"], "digital"),
                                ("PDFs replaced by 300 dpi scans", scanned, "scanned")]:
        report, seconds = run_eval(corpus, work / f"index-{name}", work / f"eval-{name}.json",
                                   work / f"eval-{name}.log")
        overall = report["summary"]["overall"]
        sub = pdf_subset(report)
        rows.append([
            label, str(overall["n"]), str(overall["gold_hit@5"]), str(overall["page_accuracy"]),
            f"{sub['hit5']:.3f} (n={sub['n']})" if sub["hit5"] is not None else "-",
            f"{sub['page']:.3f} (n={sub['n_page']})" if sub["page"] is not None else "-",
            f"{seconds:.0f}",
        ])
        print(" | ".join(rows[-1]), file=sys.stderr)
    head = ["dev2 corpus", "questions", "hit@5", "page accuracy", "hit@5, PDF questions",
            "page accuracy, PDF questions", "eval s (incl. ingest and OCR)"]
    return markdown_table(head, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages-per-pdf", type=int, default=2, help="pages sampled (0: all)")
    parser.add_argument("--part", choices=["cer", "eval", "all"], default="all")
    parser.add_argument("--work", type=Path, help="folder for scans and indexes (default: temp)")
    parser.add_argument("--no-append", action="store_true", help="print only")
    parser.add_argument("--details", type=Path, help="write every page's texts here (JSON lines)")
    args = parser.parse_args()
    for corpus in CORPORA.values():
        if not corpus.is_dir():
            sys.exit(f"missing {corpus} (expected ../shared beside the checkout)")
    parts = []
    if args.part in ("cer", "all"):
        parts.append("Character error rate against the text layer:\n\n"
                     + cer_part(args.pages_per_pdf, args.details))
    if args.part in ("eval", "all"):
        with tempfile.TemporaryDirectory() as tmp:
            work = args.work or Path(tmp)
            parts.append("`kp-assistant eval` on dev2 (94 questions):\n\n" + eval_part(work))
    publish("OCR of scanned PDFs", "\n\n".join(parts), append=not args.no_append)


if __name__ == "__main__":
    main()
