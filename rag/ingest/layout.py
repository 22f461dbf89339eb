"""Page layout: text segments with boxes -> reading-order text with whole paragraphs.

PDF text layers and OCR both give positioned pieces of text, not prose. Three things turn
them into text a sentence splitter and BM25 can use: columns are read one after the other
(a two-column page read across would interleave unrelated half-lines), lines wrapped by
the layout are joined back into their paragraph (a break inside a Chinese word splits
"接待" into "接" and "待", and inside a sentence it splits the sentence), and lines repeated
at the top or bottom of most pages (running titles, page numbers) are dropped.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from ..text import CJK

# A gutter is searched in the middle of the page, between these shares of its width.
_GUTTER_RANGE = (0.3, 0.7)
_GUTTER_STEPS = 41
# Each column must hold at least this many lines and this share of the page's lines.
_MIN_COLUMN_LINES = 3
_MIN_COLUMN_SHARE = 0.2
_MIN_COLUMN_FILL = 0.6  # the median line of a column of text spans this share of it (to the gutter)
_MIN_EDGE_WIDTH = 0.15  # of the page width: narrower pieces do not mark a column's edge
# A line is "full" (wrapped by the layout, so its paragraph goes on) when it reaches this
# close to its column's right edge, as a share of the column's width.
_FULL_LINE_SLACK = 0.08
# Lines further apart than this many line heights belong to different paragraphs (a line's
# height is its tallest glyph box, ~0.7 em: 1.5-spaced lines are ~1.1 heights apart).
_MAX_PARAGRAPH_GAP = 1.4
_CLOSING_PUNCTUATION = ".,;:!?)]}%"
_SENTENCE_END_RE = re.compile(r"[。！？.!?:：][”’\"')）]?$")
_CJK_EDGE_RE = re.compile(f"[{CJK}\u3000-\u303f\uff00-\uffef]")
_RUNNING_LINE_EDGE = 2  # how many lines at the top and at the bottom may be running lines
_MAX_RUNNING_LINE_CHARS = 80  # a running title or footer is one short line
_PAGE_NUMBER_RE = re.compile(
    r"[-–—(（\[]?\s*(?:page|p\.|pg\.?)?\s*\d{1,4}\s*(?:/\s*\d{1,4}|of\s+\d{1,4})?\s*[-–—)）\]]?"
    r"|第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?"
    r"|[ivxlc]{1,6}",
    re.I,
)


@dataclass(frozen=True)
class Line:
    """A piece of text on one visual line, with its box in page units, y growing downwards."""

    text: str
    left: float
    top: float
    right: float
    bottom: float

    @property
    def height(self) -> float:
        return max(self.bottom - self.top, 1e-6)


def page_text(lines: list[Line], page_width: float) -> list[str]:
    """The page's paragraphs in reading order, each as one line of text."""
    lines = [line for line in lines if line.text.strip()]
    if not lines:
        return []
    return _paragraphs(reading_order(lines, page_width))


def reading_order(lines: list[Line], page_width: float) -> list[Line]:
    """Top to bottom; on a two-column stretch, the left column before the right one.

    Lines that cross the gutter (titles, full-width figures' captions, running heads) cut
    the page into stretches, each read column by column.
    """
    lines = in_rows(lines)
    gutter = find_gutter(lines, page_width)
    if gutter is None:
        return lines
    ordered: list[Line] = []
    left: list[Line] = []
    right: list[Line] = []
    for line in lines:
        if line.right <= gutter:
            left.append(line)
        elif line.left >= gutter:
            right.append(line)
        else:
            ordered += left + right + [line]
            left, right = [], []
    return ordered + left + right


def in_rows(lines: list[Line]) -> list[Line]:
    """Top to bottom by visual row, left to right within a row. Sorting by top alone would
    put a piece whose glyphs sit lower (a comma, lower-case letters) after the next piece."""
    rows: list[list[Line]] = []
    for line in sorted(lines, key=lambda line: line.top):
        middle = (line.top + line.bottom) / 2
        row = rows[-1] if rows else None
        if row and min(piece.top for piece in row) <= middle <= max(piece.bottom for piece in row):
            row.append(line)
        else:
            rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda line: line.left)]


def find_gutter(lines: list[Line], page_width: float) -> float | None:
    """The x in the middle of a vertical gap with enough lines on both sides, or None for
    one column. The middle, so that a centred page number crosses it instead of joining a column."""
    low, high = _GUTTER_RANGE
    counts = []
    for step in range(_GUTTER_STEPS):
        x = page_width * (low + (high - low) * step / (_GUTTER_STEPS - 1))
        left = sum(1 for line in lines if line.right <= x)
        right = sum(1 for line in lines if line.left >= x)
        counts.append((min(left, right), x))
    best_count = max(count for count, _ in counts)
    if best_count < max(_MIN_COLUMN_LINES, _MIN_COLUMN_SHARE * len(lines)):
        return None
    best = [x for count, x in counts if count == best_count]
    x = (best[0] + best[-1]) / 2
    left = [line for line in lines if line.right <= x]
    right = [line for line in lines if line.left >= x]
    if not (_fills(left, min(line.left for line in left), x) and _fills(right, x, max(line.right for line in right))):
        return None  # a form or table: short pieces side by side, read row by row
    # The middle of the gap between the columns' text; narrow pieces (a centred page
    # number, a short heading) do not mark a column's edge.
    wide = [line for line in lines if line.right - line.left >= _MIN_EDGE_WIDTH * page_width] or lines
    left_edge = max((line.right for line in wide if line.right <= x), default=x)
    right_edge = min((line.left for line in wide if line.left >= x), default=x)
    return (left_edge + right_edge) / 2


def _fills(lines: list[Line], start: float, end: float) -> bool:
    """True when most lines span most of the stretch from start to end, as wrapped text does."""
    widths = sorted(line.right - line.left for line in lines)
    return widths[len(widths) // 2] >= _MIN_COLUMN_FILL * (end - start)


def _paragraphs(lines: list[Line]) -> list[str]:
    """Join lines the layout wrapped; a short line, a gap, an indent or a new column ends a paragraph."""
    paragraphs: list[str] = []
    current = lines[0].text.strip()
    column = [lines[0]]
    for previous, line in zip(lines, lines[1:]):
        if _same_row(previous, line):
            current = join_on_row(current, line.text.strip())
        elif _continues(previous, line, column):
            current = join_wrapped(current, line.text.strip())
        else:
            paragraphs.append(current)
            current = line.text.strip()
            column = []
        column.append(line)
    paragraphs.append(current)
    return paragraphs


def _same_row(previous: Line, line: Line) -> bool:
    """Two pieces side by side on one visual line (table cells, a gap in a line)."""
    overlap = min(previous.bottom, line.bottom) - max(previous.top, line.top)
    return line.left >= previous.right and overlap > 0.5 * min(previous.height, line.height)


def _continues(previous: Line, line: Line, column: list[Line]) -> bool:
    """True when `line` carries on `previous`'s paragraph: previous is full, ends mid-sentence,
    is close above and aligned."""
    if _SENTENCE_END_RE.search(previous.text.rstrip()):
        return False  # a break after a sentence costs nothing; joining two paragraphs would
    gap = line.top - previous.bottom
    if gap < -0.5 * previous.height:
        return _continues_in_next_column(previous, line, column)
    if gap > _MAX_PARAGRAPH_GAP * previous.height:
        return False
    left = min(piece.left for piece in column)
    right = max(piece.right for piece in column + [line])
    slack = _FULL_LINE_SLACK * max(right - min(left, line.left), 1e-6)
    if line.left > left + slack:
        return False  # indented: a new paragraph (or another column)
    if line.left < left - slack and len(column) > 1:
        return False  # only a paragraph's first line may be indented
    return previous.right >= right - slack


def _continues_in_next_column(previous: Line, line: Line, column: list[Line]) -> bool:
    """A paragraph running from the foot of one column to the head of the next: it has
    wrapped at least once and its last line is full."""
    if line.left < previous.right or len(column) < 2:
        return False
    slack = _FULL_LINE_SLACK * max(previous.right - min(piece.left for piece in column), 1e-6)
    return previous.right >= max(piece.right for piece in column) - slack


def join_on_row(text: str, following: str) -> str:
    """Two pieces side by side on one line: a space, except next to a hanzi or before punctuation."""
    if not text or not following:
        return text + following
    if _CJK_EDGE_RE.match(text[-1]) or _CJK_EDGE_RE.match(following[0]) or following[0] in _CLOSING_PUNCTUATION:
        return text + following
    return text + " " + following


def join_wrapped(text: str, following: str) -> str:
    """Two pieces of one paragraph: nothing next to a hanzi, a newline after a letter and a
    hyphen (the normaliser decides whether it splits a word), else a space."""
    if not text or not following:
        return text + following
    if _CJK_EDGE_RE.match(text[-1]) or _CJK_EDGE_RE.match(following[0]):
        return text + following  # Chinese puts no space at a line break, also beside "5G"
    if text[-1] == "-":
        # After a letter it may split a word; after a digit ("e5-small") it joins a compound.
        return text + ("\n" if text[-2:-1].isalpha() else "") + following
    return text + " " + following


def drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Each page's lines without page numbers and without the lines repeated at the top or
    bottom of most pages (digits aside: "Annual report 2023 · 3" counts as one line)."""
    repeated = _repeated_edge_lines(pages)
    kept_pages = []
    for lines in pages:
        edges = _edge_indexes(lines)
        kept = [
            line
            for index, line in enumerate(lines)
            if index not in edges or not (_PAGE_NUMBER_RE.fullmatch(line.strip()) or _shape(line) in repeated)
        ]
        kept_pages.append(kept)
    return kept_pages


def _repeated_edge_lines(pages: list[list[str]]) -> set[str]:
    """Shapes of edge lines found on at least half the pages (and on two at least)."""
    counts: Counter[str] = Counter()
    for lines in pages:
        counts.update({_shape(lines[index]) for index in _edge_indexes(lines)})
    needed = max(2, math.ceil(0.5 * len(pages)))
    return {shape for shape, count in counts.items() if count >= needed and shape}


def _edge_indexes(lines: list[str]) -> set[int]:
    """Positions of the short lines at the top and bottom of a page (paragraphs never run)."""
    count = len(lines)
    edge = min(_RUNNING_LINE_EDGE, count)
    edges = set(range(edge)) | set(range(count - edge, count))
    return {index for index in edges if len(lines[index].strip()) <= _MAX_RUNNING_LINE_CHARS}


def _shape(line: str) -> str:
    """A line with digits and spacing blurred, so "Page 3" and "Page 4" compare equal."""
    return re.sub(r"\s+", " ", re.sub(r"\d+", "#", line)).strip().lower()
