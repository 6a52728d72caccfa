"""Ruled tables on a scanned page, read row by row the way a text layer reads them.

Tesseract takes the columns of a table for columns of text and reads them one after the other.
The rules of the table, which are painted out before reading, give its grid instead. The text
of each cell is moved below the page, so that tesseract reads every cell on its own in the one
call per page, and its words are put back into their cells: the table is written one row per
line, the cells of a row in column order. Text outside tables keeps tesseract's order.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np

Box = tuple[int, int, int, int]  # left, top, right, bottom


@dataclass(frozen=True)
class Word:
    text: str
    box: Box
    line: tuple[int, int, int]  # tesseract's block, paragraph and line number


@dataclass(frozen=True)
class Table:
    rows: tuple[int, ...]  # y of every horizontal rule, top to bottom, outer ones included
    columns: tuple[int, ...]  # x of every vertical rule, left to right, outer ones included
    cells: tuple[int, ...]  # the cell of each (row, column) slot, row by row; merged cells repeat

    @property
    def box(self) -> Box:
        return self.columns[0], self.rows[0], self.columns[-1], self.rows[-1]

    def boxes(self) -> dict[int, Box]:
        """Each cell's box, merged cells' slots together."""
        n_columns = len(self.columns) - 1
        boxes: dict[int, Box] = {}
        for slot, cell in enumerate(self.cells):
            r, c = divmod(slot, n_columns)
            box = self.columns[c], self.rows[r], self.columns[c + 1], self.rows[r + 1]
            boxes[cell] = _union([boxes[cell], box]) if cell in boxes else box
        return boxes


@dataclass(frozen=True)
class Layout:
    image: Any  # what tesseract reads
    tables: list[Table]
    cells: list[tuple[int, int, Box]]  # (table, cell, where the cell's content is in `image`)


def layout(image: Any) -> Layout:
    """The page prepared for tesseract: level, without rules, and the text of its tables' cells
    moved below it, one cell under the other.

    In place, the lines of neighbouring cells that sit half a line apart are taken for one line
    of text and read as nonsense; apart, every cell is a paragraph of its own.
    """
    from PIL import Image

    image, found = straightened(image)
    if not found:
        return Layout(image, found, [])
    grey = np.asarray(image)
    # at most three pages tall, which bounds what tesseract allocates for a huge table
    canvas = np.full((3 * grey.shape[0], grey.shape[1]), 255, dtype=np.uint8)
    canvas[: grey.shape[0]] = grey
    gap = max(image.size) // 100  # 3 mm: more than the space between the lines of a paragraph
    height = grey.shape[0] + gap
    cells = []
    for t, table in enumerate(found):
        for cell, (left, top, right, bottom) in table.boxes().items():
            ink = np.nonzero(grey[top:bottom, left:right] < 160)
            if not ink[0].size:
                continue
            top, bottom = top + int(ink[0].min()), top + int(ink[0].max()) + 1
            left, right = left + int(ink[1].min()), left + int(ink[1].max()) + 1
            if height + bottom - top > canvas.shape[0]:  # a huge table: the rest stays put
                cells.append((t, cell, (left, top, right, bottom)))
                continue
            canvas[height:height + bottom - top, left:right] = grey[top:bottom, left:right]
            canvas[top:bottom, left:right] = 255
            cells.append((t, cell, (left, height, right, height + bottom - top)))
            height += bottom - top + gap
    return Layout(Image.fromarray(canvas[:height], "L"), found, cells)


def straightened(image: Any) -> tuple[Any, list[Table]]:
    """The page turned level by its rules, with the rules painted white, and its ruled tables.

    Tesseract's layout analysis takes a ruled table for a picture and drops whole rows and
    columns of it; without the rules it reads the cells as lines of text.
    """
    from PIL import Image
    from scipy import ndimage

    horizontal, vertical = rules(image)
    angle = skew(horizontal)
    longest = max(image.size)
    # turn the page when its rules drift by more than a pixel or two over the page width, which
    # is enough to put a row's words on the wrong side of a rule near the table's ends
    if abs(math.tan(math.radians(angle))) * longest > 2:
        image = image.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True,
                             fillcolor=255)
        horizontal, vertical = rules(image)
    found = tables(horizontal, vertical)
    drawn = horizontal | vertical
    if not drawn.any():
        return image, found
    drawn = ndimage.binary_dilation(drawn, iterations=2)  # the rules' grey anti-aliased edges
    grey = np.array(image)
    grey[drawn] = 255
    return Image.fromarray(grey, "L"), found


def rules(image: Any) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the long horizontal and vertical lines of a grey page (rules, boxes, underlines)."""
    from scipy import ndimage

    dark = (np.asarray(image) < 160).astype(np.uint8)
    found = []
    # horizontal runs longer than a wide word; vertical ones longer than a large capital
    for axis, length in ((1, max(image.size) // 45), (0, max(image.size) // 35)):
        runs = ndimage.minimum_filter1d(dark, length, axis=axis)  # an opening: erode, dilate
        found.append(ndimage.maximum_filter1d(runs, length, axis=axis).astype(bool))
    return found[0], found[1]


def skew(horizontal: np.ndarray) -> float:
    """Counter-clockwise degrees that level the page's long horizontal rules; 0 without any."""
    from scipy import ndimage

    labels, _ = ndimage.label(horizontal, np.ones((3, 3)))
    slopes: list[float] = []
    weights: list[float] = []
    for index, (ys, xs) in enumerate(ndimage.find_objects(labels), start=1):
        width = xs.stop - xs.start
        if width < horizontal.shape[1] // 8:  # too short to measure an angle on
            continue
        y, x = np.nonzero(labels[ys, xs] == index)
        slopes.append(float(np.polyfit(x, y, 1)[0]))
        weights.append(width)
    if not slopes:
        return 0.0
    order = np.argsort(slopes)
    half = np.cumsum(np.asarray(weights)[order]) >= sum(weights) / 2
    return math.degrees(math.atan(slopes[order[int(np.argmax(half))]]))


def tables(horizontal: np.ndarray, vertical: np.ndarray) -> list[Table]:
    """The grids of touching rules with two horizontal rules or more and two columns or more,
    each cut into its cells."""
    from scipy import ndimage

    near = max(2, max(horizontal.shape) // 400)  # rules this close meet or are one rule
    labels, _ = ndimage.label(ndimage.binary_dilation(horizontal | vertical, iterations=near))
    found = []
    for index, (ys, xs) in enumerate(ndimage.find_objects(labels), start=1):
        mine = labels[ys, xs] == index
        across, down = horizontal[ys, xs] & mine, vertical[ys, xs] & mine
        rows = _bands(across.any(axis=1), near)
        # two rules across at least: a rule between two columns of text is no table
        if len(rows) < 2:
            continue
        # a table drawn without outer rules on some side ends where its other rules end
        height, width = mine.shape
        rows = _with_ends(rows, height, near)
        columns = _with_ends(_bands(down.any(axis=0), near), width, near)
        if len(columns) < 3:  # a box around a paragraph
            continue
        cells = _cells(across, down, rows, columns, near)
        found.append(Table(tuple(ys.start + y for y in rows),
                           tuple(xs.start + x for x in columns), cells))
    return found


def _bands(profile: np.ndarray, near: int) -> list[int]:
    """The middles of the runs of True in a profile; runs less than `near` apart are one."""
    middles: list[int] = []
    start = end = -1
    for i in np.flatnonzero(profile).tolist():
        if start >= 0 and i - end > near:
            middles.append((start + end) // 2)
            start = -1
        if start < 0:
            start = i
        end = i
    if start >= 0:
        middles.append((start + end) // 2)
    return middles


def _with_ends(positions: list[int], size: int, near: int) -> list[int]:
    if not positions or positions[0] > 2 * near:
        positions = [0, *positions]
    if positions[-1] < size - 1 - 2 * near:
        positions = [*positions, size - 1]
    return positions


def _cells(across: np.ndarray, down: np.ndarray, rows: list[int], columns: list[int],
           near: int) -> tuple[int, ...]:
    """Cell of each slot: neighbouring slots are one cell where no rule is drawn between them."""
    n_columns = len(columns) - 1
    parent = list(range((len(rows) - 1) * n_columns))

    def root(slot: int) -> int:
        while parent[slot] != slot:
            slot = parent[slot]
        return slot

    def join(a: int, b: int) -> None:
        a, b = root(a), root(b)
        parent[max(a, b)] = min(a, b)  # the top left slot names the cell

    for r in range(len(rows) - 1):
        top, bottom = rows[r] + near, max(rows[r + 1] - near, rows[r] + near + 1)
        for c in range(1, n_columns):
            rule = down[top:bottom, max(columns[c] - near, 0):columns[c] + near + 1]
            if rule.size == 0 or rule.any(axis=1).mean() < 0.5:
                join(r * n_columns + c - 1, r * n_columns + c)
    for r in range(1, len(rows) - 1):
        for c in range(n_columns):
            left, right = columns[c] + near, max(columns[c + 1] - near, columns[c] + near + 1)
            rule = across[max(rows[r] - near, 0):rows[r] + near + 1, left:right]
            if rule.size == 0 or rule.any(axis=0).mean() < 0.5:
                join((r - 1) * n_columns + c, r * n_columns + c)
    return tuple(root(slot) for slot in range(len(parent)))


def reading_order(words: list[Word], page: Layout) -> list[str]:
    """Lines of text, "" between paragraphs: tesseract's order outside tables, each table row
    by row at its place among them, every row a paragraph of its own."""
    found = page.tables
    in_cells: list[dict[int, list[Word]]] = [{} for _ in found]
    outside: list[Word] = []
    for word in words:
        x, y = (word.box[0] + word.box[2]) / 2, (word.box[1] + word.box[3]) / 2
        for t, cell, (left, top, right, bottom) in page.cells:
            if left <= x <= right and top <= y <= bottom:
                in_cells[t].setdefault(cell, []).append(word)
                break
        else:
            outside.append(word)
    lines = _lines(outside)
    # a table goes after the last line above it in its columns, else before the first below
    placed: dict[int, list[list[str]]] = {}
    for table, cells in sorted(zip(found, in_cells, strict=True), key=lambda t: t[0].rows[0]):
        if not cells:
            continue
        left, top, right, _ = table.box
        beside = [i for i, (_, box, _) in enumerate(lines) if box[0] < right and box[2] > left]
        above = [i for i in beside if (lines[i][1][1] + lines[i][1][3]) / 2 < top]
        at = above[-1] + 1 if above else (beside[0] if beside else len(lines))
        placed.setdefault(at, []).append(_rows(table, cells))
    out: list[str] = []
    paragraph = None
    for i in range(len(lines) + 1):
        for rows in placed.get(i, []):
            for row in rows:
                out += ["", row]
            paragraph = None
        if i == len(lines):
            break
        key, _, text = lines[i]
        if out and key != paragraph:
            out.append("")
        out.append(text)
        paragraph = key
    while out and not out[0]:
        del out[0]
    return out


def _lines(words: list[Word]) -> list[tuple[tuple[int, int], Box, str]]:
    """Tesseract's lines, in its order: (block and paragraph, box, text)."""
    lines: list[tuple[tuple[int, int], Box, str]] = []
    group: list[Word] = []
    for word in [*words, None]:
        if group and (word is None or word.line != group[-1].line):
            lines.append((group[0].line[:2], _union(w.box for w in group),
                          " ".join(w.text for w in group)))
            group = []
        if word is not None:
            group.append(word)
    return lines


def _rows(table: Table, cells: dict[int, list[Word]]) -> list[str]:
    """The table's rows as text; a cell merged over several rows belongs to its top row."""
    n_columns = len(table.columns) - 1
    rows: dict[int, list[str]] = {}
    for cell in sorted(cells):  # a cell is named by its top left slot: row by row, left to right
        rows.setdefault(cell // n_columns, []).append(_cell_text(cells[cell]))
    return [" ".join(rows[r]) for r in sorted(rows)]


def _cell_text(words: list[Word]) -> str:
    """A cell's words line by line, top to bottom, each line left to right."""
    lines: dict[tuple[int, int, int], list[Word]] = {}
    for word in words:
        lines.setdefault(word.line, []).append(word)
    ordered = sorted(lines.values(), key=lambda ws: statistics.fmean(w.box[1] for w in ws))
    return " ".join(w.text for ws in ordered for w in sorted(ws, key=lambda w: w.box[0]))


def _union(boxes: Any) -> Box:
    lefts, tops, rights, bottoms = zip(*boxes, strict=True)
    return min(lefts), min(tops), max(rights), max(bottoms)
