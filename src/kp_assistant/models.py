"""Plain data passed between the pipeline stages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# Kept here rather than in readers.py so that listing a folder does not import the parsers.
SUPPORTED_SUFFIXES = frozenset({".pdf", ".txt", ".md", ".markdown", ".html", ".htm", ".docx"})


@dataclass(frozen=True)
class Page:
    """One page of text. `number` is 1-based for paged formats (PDF) and None otherwise.

    Headings are written as Markdown heading lines ("# Title", "## Section") whatever the
    source format, so that the chunker can track the nearest heading.
    """

    number: int | None
    text: str
    ocr_confidence: float | None = None  # mean word confidence (0-100) of a page read by OCR


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    pages: list[Page]


@dataclass(frozen=True)
class Chunk:
    id: str
    source: str  # path relative to the corpus root, with forward slashes
    page: int | None
    title: str
    heading: str
    text: str
    doc_hash: str

    def metadata(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "page": self.page if self.page is not None else 0,
            "title": self.title,
            "heading": self.heading,
            "doc_hash": self.doc_hash,
        }


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with the scores that put it there."""

    chunk: Chunk
    score: float  # fused score
    dense_rank: int | None = None
    keyword_rank: int | None = None
    dense_score: float | None = None
    further: bool = False  # past the first k: the best chunk of a further document


@dataclass(frozen=True)
class Citation:
    n: int
    source: str
    page: int | None
    chunk_id: str
    quote: str
    score: float
    title: str = ""
    ocr: bool = False  # the page was read by OCR
    ocr_confidence: float | None = None  # its mean word confidence, 0-100
    ocr_uncertain: bool = False  # below KP_OCR_MIN_CONFIDENCE


@dataclass(frozen=True)
class Dropped:
    """A sentence a language model wrote that failed verification, and why."""

    sentence: str
    reason: str


@dataclass
class Answer:
    question: str
    text: str
    grounded: bool
    citations: list[Citation] = field(default_factory=list)
    related: list[Citation] = field(default_factory=list)  # shown when not grounded
    timings_ms: dict[str, float] = field(default_factory=dict)
    resolved_question: str = ""  # the question after follow-up context was applied
    mode: Literal["llm", "extractive"] = "extractive"  # who wrote the text
    dropped: list[Dropped] = field(default_factory=list)  # model sentences that failed checks
    notice: str = ""  # e.g. that the language model failed and the extractive answer is shown
    model: str = ""  # the language model asked, if any
    further: int = 0  # the last lines of `text` are this many lines of further reading

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "grounded": self.grounded,
            "citations": [_citation_json(c) for c in self.citations],
            "related": [_citation_json(c) for c in self.related],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "mode": self.mode,
            "dropped": [asdict(d) for d in self.dropped],
            "notice": self.notice,
        }


def _citation_json(c: Citation) -> dict[str, Any]:
    d = asdict(c)
    d["score"] = round(c.score, 4)
    return d


# "ocr": a file is being read by OCR; `reason` says how far (sent before its final event)
# "ocr" and "embedding" are notices while work goes on (a scan's pages, a group of files
# being embedded), not a file's outcome: their `done` counts the files finished before them
FileStatus = Literal["added", "updated", "removed", "unchanged", "failed", "ocr", "embedding"]


@dataclass(frozen=True)
class FileEvent:
    """Reported by ingestion once per file, in order, so edges can draw progress."""

    source: str
    status: FileStatus
    chunks: int = 0
    reason: str = ""
    done: int = 0  # files handled so far, this one included
    total: int = 0


@dataclass
class IngestSummary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # source -> reason
    chunks_embedded: int = 0
    chunks_total: int = 0
    seconds: float = 0.0
