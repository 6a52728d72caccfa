"""Split pages into sentence-aligned chunks that remember page, title and nearest heading."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from kp_assistant.models import Chunk, ParsedDocument

# Lower-cased, without the final period. Any of these before a period does not end a sentence.
ABBREVIATIONS = frozenset(
    """
    t.ex bl.a ca kl s.k d.v.s dvs m.m osv o.s.v etc fr.o.m t.o.m p.g.a pga f.d t.ex.
    jfr resp st nr tel m.fl o.dyl el.dyl fig kap milj inkl exkl enl
    e.g i.e mr mrs dr prof vs approx no jan feb mar apr jun jul aug sep sept okt oct nov dec
    """.split()
)

_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
# A candidate boundary: end punctuation, optional closing quotes/brackets, whitespace.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*\s+")
_WORD_BEFORE = re.compile(r"(\S+)$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•–]|\d+[.)])\s+")
_LABEL = re.compile(r"^[A-ZÅÄÖ][\w ]{1,30}:\s")  # "Svensk part: Arvika kommun"
_RULE = re.compile(r"^\s*([-=_*])\1{2,}\s*$")
_TABLE_RULE = re.compile(r"^\|[\s:|-]+\|?\s*$")  # "|---|:---|" under a table's header row
# A table row as the readers write one: "| a | b |" (Markdown) or "a | b" (HTML, Word, PDF)
_TABLE_ROW = re.compile(r"^\|.*\|$|\S \| \S")
# Longer "words" are cut into pieces of this many characters: no language has them, a URL
# rarely does, and one unbroken 2 MB token must cost what ordinary text of that size costs.
MAX_TOKEN_CHARS = 100


def split_sentences(text: str) -> list[str]:
    """Split Swedish or English prose into sentences.

    Line breaks that separate paragraphs, list items or headings always end a sentence;
    a period after a known abbreviation, an initial or a number inside a date does not.
    """
    sentences: list[str] = []
    for block in _blocks(text):
        whole = block.startswith("#") or is_table_row(block)  # a row's cells may hold periods
        sentences.extend([block] if whole else _split_block(block))
    return sentences


def _blocks(text: str) -> Iterable[str]:
    """Paragraphs, list items and headings, with hard-wrapped lines joined back together."""
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in paragraph.splitlines() if ln.strip()]
        current: list[str] = []
        for i, line in enumerate(lines):
            if _RULE.match(line):
                continue  # the underline of a setext heading, or a separator
            following = lines[i + 1] if i + 1 < len(lines) else ""
            if is_table_row(line):  # one row, one block: rows are not wrapped lines
                if current:
                    yield " ".join(current)
                    current = []
                yield line
                continue
            if _is_heading_line(line, following):
                if current:
                    yield " ".join(current)
                    current = []
                yield line if line.startswith("#") else f"## {line.rstrip(':')}"
                continue
            if current and (_LIST_ITEM.match(line) or not _continues(current[-1], line)):
                yield " ".join(current)
                current = []
            current.append(line)
        if current:
            yield " ".join(current)


def is_table_row(line: str) -> bool:
    return _TABLE_ROW.search(line) is not None


def is_table_rule(line: str) -> bool:
    """Whether a line is Markdown's rule under a table's header row ("|---|:---|")."""
    return _TABLE_RULE.match(line) is not None


def names_columns(row: str) -> bool:
    """Whether a table's first row names its columns rather than holding data: no number."""
    return not re.search(r"\d", row)


def _continues(previous: str, line: str) -> bool:
    """Whether `line` is the wrapped rest of `previous` rather than a new paragraph."""
    if re.search(r"[.!?:;]['\")\]]*$", previous) or _LABEL.match(line) or _LABEL.match(previous):
        return False
    first = line[:1]
    # a wrapped line starts in lower case or with a number; a long previous line was wrapped
    return first.islower() or first.isdigit() or len(previous) >= 60


def _is_heading_line(line: str, following: str) -> bool:
    if _HEADING.match(line):
        return True
    if _RULE.match(following) and len(line) < 80:
        return True  # setext heading: a line underlined with --- or ===
    if line.startswith(("-", "*", "•", "–")) or _LABEL.match(line) or re.search(r"[.!?:;,]$", line):
        return False
    letters = [c for c in line if c.isalpha()]
    if len(letters) >= 4 and len(line) < 80 and all(c.isupper() for c in letters):
        return True  # SHOUTED short lines are headings in plain-text reports
    # a short unpunctuated line before a longer sentence: a section title in a PDF
    title = re.sub(r"^\d+(\.\d+)*\.?\s+", "", line)  # "2. Vem kan söka" numbers a section
    return (
        len(title.split()) <= 6 and title[:1].isupper() and following[:1].isupper()
        and len(following) > 2 * len(line) and not _LIST_ITEM.match(following)
    )


def _split_block(block: str) -> list[str]:
    out: list[str] = []
    start = 0
    # the period of a list number ("1. Skicka in") is not a sentence end
    item = _LIST_ITEM.match(block)
    for m in _BOUNDARY.finditer(block, item.end() if item else 0):
        end = m.end()
        before = block[start : m.start() + 1]
        following = block[end : end + 1]
        if _is_false_boundary(before, following):
            continue
        piece = block[start:end].strip()
        if piece:
            out.append(piece)
        start = end
    tail = block[start:].strip()
    if tail:
        out.append(tail)
    return out


def _is_false_boundary(before: str, following: str) -> bool:
    if not before.endswith("."):
        return False
    m = _WORD_BEFORE.search(before[:-1])
    word = m.group(1).lower() if m else ""
    word = word.lstrip("(\"'“”")
    if word in ABBREVIATIONS or word.rstrip(".") in ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha():  # an initial: "J. Lilja"
        return True
    # "1. 2." numbering inside a line; a year ("juni 2020. 18 projekt") does end a sentence
    if word.isdigit() and len(word) < 4 and following[:1].isdigit():
        return True
    # a sentence starts with an upper-case letter, a digit or a quote; "ca. fem" does not
    return bool(following) and following.islower()


def chunk_document(
    doc: ParsedDocument,
    source: str,
    doc_hash: str,
    *,
    max_words: int = 110,
    overlap: int = 1,
) -> list[Chunk]:
    """Pack sentences into chunks of about `max_words` words, never across pages or headings.

    Chunk ids depend only on the source path, the document's content hash and the chunk's
    position, so the same file always yields the same ids.
    """
    chunks: list[Chunk] = []
    heading = ""
    for page in doc.pages:
        section: list[str] = []
        for sentence in _bounded(split_sentences(page.text), max_words):
            h = _HEADING.match(sentence)
            if h:
                chunks.extend(_pack(section, doc, source, doc_hash, page.number, heading,
                                    max_words, overlap, len(chunks)))
                section = []
                heading = h.group(2).strip()
                continue
            section.append(sentence)
        chunks.extend(_pack(section, doc, source, doc_hash, page.number, heading,
                            max_words, overlap, len(chunks)))
    return chunks


def _bounded(sentences: Iterable[str], max_words: int) -> Iterable[str]:
    """Sentences with no token over MAX_TOKEN_CHARS and none over `max_words` words; a
    longer one is cut into runs of words, so every chunk stays near `max_words` words."""
    for sentence in sentences:
        if _HEADING.match(sentence):
            yield sentence
            continue
        words = [piece for word in sentence.split() for piece in _pieces(word)]
        if len(words) <= max_words and len(words) == len(sentence.split()):
            yield sentence
            continue
        for start in range(0, len(words), max_words):
            yield " ".join(words[start : start + max_words])


def _pieces(word: str) -> list[str]:
    if len(word) <= MAX_TOKEN_CHARS:
        return [word]
    return [word[i : i + MAX_TOKEN_CHARS] for i in range(0, len(word), MAX_TOKEN_CHARS)]


def _pack(
    sentences: list[str],
    doc: ParsedDocument,
    source: str,
    doc_hash: str,
    page: int | None,
    heading: str,
    max_words: int,
    overlap: int,
    first_ordinal: int,
) -> list[Chunk]:
    groups: list[list[str]] = []
    current: list[str] = []
    words = 0
    head: list[str] = []  # the rows naming the columns of the table being packed, if any
    previous = ""
    for sentence in sentences:
        n = len(sentence.split())
        head = _table_head(head, previous, sentence)
        previous = sentence
        if current and words + n > max_words:
            groups.append(current)
            current = current[-overlap:] if overlap else []
            # an overlap sentence that alone fills the chunk would repeat forever
            if sum(len(s.split()) for s in current) + n > max_words:
                current = []
            # a table that runs on into the next chunk takes the rows naming its columns along
            if head and is_table_row(sentence) and sentence not in head \
                    and head[0] not in current:
                current = [*(h for h in head if h not in current), *current]
            words = sum(len(s.split()) for s in current)
        current.append(sentence)
        words += n
    if current:
        groups.append(current)
    return [
        Chunk(
            id=chunk_id(source, doc_hash, first_ordinal + i),
            source=source,
            page=page,
            title=doc.title,
            heading=heading,
            text="\n".join(group),  # one sentence per line: the answer step reuses them
            doc_hash=doc_hash,
        )
        for i, group in enumerate(groups)
    ]


def _table_head(head: list[str], previous: str, sentence: str) -> list[str]:
    """The header of the table `sentence` belongs to, after `previous`: a table's first row
    when a Markdown rule follows it or it holds no number, with the rule."""
    if not is_table_row(sentence):
        return []
    if not is_table_row(previous):  # the table's first row
        return [sentence] if names_columns(sentence) else []
    if previous == sentence or not is_table_rule(sentence):
        return head
    return [previous, sentence]  # a Markdown header row and its rule


def chunk_id(source: str, doc_hash: str, ordinal: int) -> str:
    digest = hashlib.sha1(f"{source}\0{doc_hash}".encode()).hexdigest()[:16]
    return f"{digest}-{ordinal:04d}"


def document_of(chunk_id: str) -> str:
    """The part of a chunk's id that all chunks of its document (as read) share."""
    return chunk_id.rsplit("-", 1)[0]
