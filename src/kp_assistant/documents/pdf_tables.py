"""Tables in a PDF's text layer, one row per line ("cell | cell") as the HTML and Word readers
write them. pypdf reads a table cell by cell, each wrapped line on its own, so a row comes
apart ("Invånare" and "12 500" on two lines; a centred label between the two lines of the cell
beside it). The positions of the text keep what the reading order loses: columns, and which
lines stand side by side (`_rows` says how rows are found). The lines pypdf read for a table
are replaced by its rows; when the table's text cannot be found in them, the page keeps
pypdf's text.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

_MARKER = re.compile(r"^(?:[-•–*▪●◦]|\d{1,2}[.)]|[a-z][.)])$")  # a list item's bullet or number
MIN_ROWS = 2  # lines with text in two columns, for a table
MAX_CELL_CHARS = 45  # a median fragment this long is running text in columns, not a table
MAX_COLUMNS = 8
MAX_LINES = 300  # a longer block is left as read
MAX_CELL_LINES = 12  # lines of one cell, at most, when a column's lines are shared out
FOUND_SHARE = 0.9  # of a table's characters that must be found in pypdf's lines


@dataclass(frozen=True)
class Fragment:
    x: float
    y: float  # upwards, as in PDF space
    text: str
    size: float


def fragment_from(text: str, cm: Sequence[float], tm: Sequence[float],
                  size: float) -> Fragment | None:
    """A piece of text shown on the page, at its position on the page (pypdf's visitor
    gives the text matrix and the current transformation)."""
    if not text.strip():
        return None
    x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
    y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
    scale = abs(tm[3] * cm[3]) or 1.0
    return Fragment(x, y, " ".join(text.split()), max(size * scale, 1.0))


def with_tables(lines: list[str], fragments: Sequence[Fragment]) -> list[str]:
    """pypdf's `lines` of a page, each table found in `fragments` put in as one line per row."""
    for rows, words in tables(fragments):
        lines = _replace(lines, rows, words)
    return lines


def tables(fragments: Sequence[Fragment]) -> list[tuple[list[str], list[str]]]:
    """Each table of a page: its rows as lines and its words in reading order."""
    lines = _lines(fragments)
    if len(lines) < MIN_ROWS:
        return []
    anchors = _anchors(lines)
    out = []
    for block in _blocks(lines, anchors):
        rows = _rows(block, anchors)
        if rows:
            words = [w for line in block for f in line for w in f.text.split()]
            out.append((rows, words))
    return out


def _lines(fragments: Sequence[Fragment]) -> list[list[Fragment]]:
    """Fragments by printed line, top to bottom, each line left to right."""
    out: list[list[Fragment]] = []
    for f in sorted(fragments, key=lambda f: (-f.y, f.x)):
        if out and abs(out[-1][0].y - f.y) <= 0.25 * f.size:
            out[-1].append(f)
        else:
            out.append([f])
    return [sorted(line, key=lambda f: f.x) for line in out]


def _column_of(x: float, columns: Sequence[float]) -> int:
    return max((i for i, c in enumerate(columns) if c <= x + 1.5), default=0)


def _near(x: float, anchors: Sequence[float]) -> bool:
    return any(abs(x - a) <= 1.5 for a in anchors)


def _anchors(lines: Sequence[Sequence[Fragment]]) -> list[float]:
    """x positions where text starts on at least two lines, and to the right of other text
    on one of them at least (a column's cell may be the only text of its printed line)."""
    starts: Counter[int] = Counter()
    beside: Counter[int] = Counter()
    for line in lines:
        if _MARKER.match(line[0].text):
            continue  # "•  text": a list, not two columns
        for i, x in enumerate(dict.fromkeys(round(f.x) for f in line)):
            starts[x] += 1
            beside[x] += i > 0
    merged: list[list[int]] = []  # x, lines starting there, of which beside other text
    for x in sorted(starts):
        if merged and x - merged[-1][0] <= 2:
            merged[-1][1] += starts[x]
            merged[-1][2] += beside[x]
        else:
            merged.append([x, starts[x], beside[x]])
    return [float(x) for x, n, b in merged if n >= MIN_ROWS and b >= 1]


def _is_row(line: Sequence[Fragment], anchors: Sequence[float]) -> bool:
    return (len(line) >= 2 and not _MARKER.match(line[0].text)
            and any(_near(f.x, anchors) for f in line[1:]))


def _blocks(lines: list[list[Fragment]], anchors: Sequence[float]) -> list[list[list[Fragment]]]:
    """Runs of lines that make a table: from its first row line to its last, with the lines
    between them, and the lines just above or below in one of its columns, in its type size
    and as close as its own lines are."""
    if not anchors:
        return []
    rows = [i for i, line in enumerate(lines) if _is_row(line, anchors)]
    out: list[list[list[Fragment]]] = []
    start = 0
    while start < len(rows):
        end = start
        # the next row line belongs to the same table when the lines between are close
        while end + 1 < len(rows) and _close(lines, rows[end], rows[end + 1]):
            end += 1
        first, last = rows[start], rows[end]
        start = end + 1
        if first == last:
            continue
        columns = _columns(lines[first : last + 1], anchors)
        pitch = _pitch(_by_column(lines[first : last + 1], columns))
        size = statistics.median(f.size for line in lines[first : last + 1] for f in line)
        while first > 0 and _continues(lines[first - 1], lines[first], columns, pitch, size):
            first -= 1
        while last + 1 < len(lines) and _continues(lines[last + 1], lines[last], columns,
                                                   pitch, size):
            last += 1
        block = lines[first : last + 1]
        cells = [f.text for line in block for f in line]
        if len(block) <= MAX_LINES and statistics.median(map(len, cells)) <= MAX_CELL_CHARS:
            out.append(block)
    return out


def _close(lines: Sequence[Sequence[Fragment]], a: int, b: int) -> bool:
    size = statistics.median(f.size for f in lines[a])
    return all(lines[i][0].y - lines[i + 1][0].y <= 2.5 * size for i in range(a, b))


def _columns(block: Sequence[Sequence[Fragment]], anchors: Sequence[float]) -> list[float]:
    left = min(f.x for line in block for f in line)
    used = sorted({a for line in block for f in line for a in anchors if abs(f.x - a) <= 1.5})
    return [left, *(a for a in used if a > left + 1.5)]


def _by_column(block: Sequence[Sequence[Fragment]],
               columns: Sequence[float]) -> list[list[tuple[float, str]]]:
    """Per column, its lines (y, text), top to bottom."""
    cols: list[list[tuple[float, str]]] = [[] for _ in columns]
    for line in block:
        parts: dict[int, list[str]] = {}
        for f in line:
            parts.setdefault(_column_of(f.x, columns), []).append(f.text)
        for i, texts in parts.items():
            cols[i].append((line[0].y, " ".join(texts)))
    return cols


def _pitch(cols: Sequence[Sequence[tuple[float, str]]]) -> float:
    """The distance of two lines of text in one column: the smallest there is."""
    gaps = [a[0] - b[0] for col in cols for a, b in pairwise(col)]
    return min((g for g in gaps if g > 0), default=1.0)


def _continues(line: Sequence[Fragment], neighbour: Sequence[Fragment], columns: Sequence[float],
               pitch: float, size: float) -> bool:
    """A line with text in one of the table's columns only, in its type size and as close to
    it as its own lines are."""
    return (len(line) == 1 and _near(line[0].x, columns) and abs(line[0].size - size) <= 0.5
            and abs(line[0].y - neighbour[0].y) <= 1.25 * pitch)


def _rows(block: Sequence[Sequence[Fragment]], anchors: Sequence[float]) -> list[str]:
    """The table's rows. Each column offers two readings of where its rows are (every line a
    row; lines close together one row); the reading that lets the other columns' lines line
    up best, centred or at the top, wins."""
    columns = _columns(block, anchors)
    if len(columns) < 2 or len(columns) > MAX_COLUMNS:
        return []
    cols = _by_column(block, columns)
    pitch = _pitch(cols)
    # in a fixed order (not a set's): of readings that fit alike, the first one wins
    readings = dict.fromkeys(tuple(tuple(cell) for cell in reading)
                             for col in cols if len(col) >= MIN_ROWS
                             for reading in ([[line] for line in col], _cells(col, pitch)))
    tried = []
    for ref in readings:
        if len(ref) < MIN_ROWS:
            continue
        for anchor in _ANCHORS:
            targets = [anchor(cell) for cell in ref]
            assigned = [_assign(col, targets, anchor) for col in cols]
            groups = [g for g, _ in assigned]
            if _apart(groups, len(ref)):
                empty = sum(not g[r] for g in groups for r in range(len(ref)))
                tried.append((sum(c for _, c in assigned), empty, len(ref), groups))
    if not tried:
        return []
    # Of the readings that fit about as well as the best: the one with the fewest empty
    # cells, then the one with more rows. Lines side by side at the same heights are rows
    # of their own rather than cells that happen to wrap alike.
    least = min(t[0] for t in tried)
    _, _, n, best = min((t for t in tried if t[0] <= least + 0.1 * pitch**2),
                        key=lambda t: (t[1], -t[2]))
    rows = [[list(best[c][r]) for c in range(len(columns))] for r in range(n)]
    return [" | ".join(" ".join(text for _, text in cell) for cell in row)
            for row in _joined(rows, pitch)]


def _joined(rows: list[list[list[tuple[float, str]]]],
            pitch: float) -> list[list[list[tuple[float, str]]]]:
    """Rows that are the wrapped lines of one row, joined. Where the table's rows stand
    apart (most of them more than a line's distance from the next), two rows a line apart
    are one. Where they do not, a row of single lines a line below another continues it when
    every cell of it does: it starts in lower case, or the cell above ends in a comma or a
    dash ("Storby – Hamnstad," over "skolprojektet")."""
    spans = [(max(ys), min(ys)) for ys in ([y for cell in row for y, _ in cell] for row in rows)]
    gaps = [low - high for (_, low), (high, _) in pairwise(spans)]
    padded = bool(gaps) and statistics.median(gaps) > 1.1 * pitch
    out = [rows[0]]
    for i, gap in enumerate(gaps):
        above, row = rows[i], rows[i + 1]
        if gap <= 1.1 * pitch and (padded or (
                _one_line(above) and _one_line(row) and _continues_row(above, row))):
            out[-1] = [a + b for a, b in zip(out[-1], row, strict=True)]
        else:
            out.append(row)
    return out


def _one_line(row: Sequence[Sequence[tuple[float, str]]]) -> bool:
    return len({y for cell in row for y, _ in cell}) == 1


def _continues_row(above: Sequence[Sequence[tuple[float, str]]],
                   row: Sequence[Sequence[tuple[float, str]]]) -> bool:
    return any(row) and all(
        not cell or (bool(top) and (cell[0][1][:1].islower()
                                    or top[-1][1].endswith((",", "–", "-"))))
        for top, cell in zip(above, row, strict=True))


def _within(group: Sequence[tuple[float, str]], targets: Sequence[float], r: int) -> bool:
    """A cell stays between the rows above and below its own."""
    return ((r == 0 or group[0][0] < targets[r - 1])
            and (r + 1 == len(targets) or group[-1][0] > targets[r + 1]))


def _apart(groups: Sequence[Sequence[Sequence[tuple[float, str]]]], n: int) -> bool:
    """Whether every row lies wholly above the next: rows do not interleave."""
    spans = []
    for r in range(n):
        ys = [y for col in groups for y, _ in col[r]]
        if ys:
            spans.append((max(ys), min(ys)))
    return all(low > high for (_, low), (high, _) in pairwise(spans))


def _cells(col: Sequence[tuple[float, str]], pitch: float) -> list[list[tuple[float, str]]]:
    """A column's lines in groups that stand apart (more than a line's distance between)."""
    out: list[list[tuple[float, str]]] = []
    for y, text in col:
        if out and out[-1][-1][0] - y <= 1.1 * pitch:
            out[-1].append((y, text))
        else:
            out.append([(y, text)])
    return out


def _centre(cell: Sequence[tuple[float, str]]) -> float:
    return (cell[0][0] + cell[-1][0]) / 2


def _top(cell: Sequence[tuple[float, str]]) -> float:
    return cell[0][0]


Where = Callable[[Sequence[tuple[float, str]]], float]
_ANCHORS: tuple[Where, ...] = (_centre, _top)  # cells centred in their row, or at its top


def _assign(col: Sequence[tuple[float, str]], targets: Sequence[float],
            anchor: Where) -> tuple[list[list[tuple[float, str]]], float]:
    """Split a column's lines, in order, into one group per row (a group may be empty), so
    that each group's centre (or top) is as near as can be to its row's."""
    n, m = len(col), len(targets)
    inf = float("inf")
    # cost[j][i]: lines[:i] given to rows[:j]; back[j][i]: where row j-1's lines start
    cost = [[inf] * (n + 1) for _ in range(m + 1)]
    back = [[0] * (n + 1) for _ in range(m + 1)]
    cost[0][0] = 0.0
    for j in range(1, m + 1):
        for i in range(n + 1):
            for k in range(max(0, i - MAX_CELL_LINES), i + 1):
                if cost[j - 1][k] == inf:
                    continue
                group = col[k:i]
                if group and not _within(group, targets, j - 1):
                    continue
                c = 0.0 if not group else (anchor(group) - targets[j - 1]) ** 2
                if cost[j - 1][k] + c < cost[j][i]:
                    cost[j][i], back[j][i] = cost[j - 1][k] + c, k
    groups: list[list[tuple[float, str]]] = [[] for _ in range(m)]
    i = n
    for j in range(m, 0, -1):
        k = back[j][i]
        groups[j - 1] = list(col[k:i])
        i = k
    return groups, cost[m][n]


def _replace(lines: list[str], rows: list[str], words: list[str]) -> list[str]:
    """`lines` with the run of lines that holds the table's text replaced by `rows`.

    Characters are compared, not words: pypdf may glue the last word of one cell to the
    first of the next ("längsNäringar"). Of the runs that hold nothing but the table's text,
    the one that holds the most of it is taken, and only if that is nearly all of it.
    """
    need = Counter("".join(words))
    total = sum(need.values())
    best = (0, 0, 0)  # characters found, start, end
    for start in range(len(lines)):
        left = need.copy()
        end = start
        while end < len(lines) and lines[end].strip():
            here = Counter(lines[end].replace(" ", ""))
            if any(left[c] < n for c, n in here.items()):
                break
            left -= here
            end += 1
        found = total - sum(left.values())
        if found > best[0]:
            best = (found, start, end)
    found, start, end = best
    if found < FOUND_SHARE * total:
        return lines
    return [*lines[:start], *rows, *lines[end:]]
