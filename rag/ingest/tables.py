"""Tables as text: one line per row that keeps each value with its column's name.

Sheets (.xlsx, .xls, .csv), Word tables and slide tables all come through `table_lines`,
so a row reads `Region: East | Sales 2023: 120 | Sales 2024: 135` wherever it came from.
A row is one line, and a line is one sentence to `rag.text.split_sentences`, so the chunker
never separates a value from its row or its column name, and an extractive answer quotes
the whole row. Sentence punctuation at the end of a cell (`Acme Inc.`, `已完成。`) is
dropped, since ". " or "。" inside the line would cut the row in two.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

CELL_SEPARATOR = " | "
# Rows embed at ~17 a second on two cores (a 7-column row is ~44 engine tokens with its
# names; 2,320 rows of .xlsx, .pptx and .docx tables took 136 s: eval.office_bench), so
# 5,000 rows are five minutes. A bigger table (a data export, a log) would take an hour and
# is not read row by row by people either: the rest is left out with a one-line note.
MAX_TABLE_ROWS = 5_000
MAX_TABLE_CELLS = 100_000
SIZE_LIMITS = f"at most {MAX_TABLE_ROWS:,} rows and {MAX_TABLE_CELLS:,} cells per file"
MAX_CAPTION_ROWS = 3  # one-cell rows above a table: its title, a unit line, a date
_CELL_END_RE = re.compile(r"[\s。！？；.!?;]+$")
_NUMBER_RE = re.compile(r"[-+]?(\d+(?:[.,]\d+)*|\.\d+)(?:[eE][-+]?\d+)?%?")


@dataclass(frozen=True)
class TableText:
    """A table's lines, and what was left out because of the size caps ("" if nothing)."""

    lines: list[str]
    note: str = ""
    rows_read: int = 0  # rows and cells taken in, counted against the caps
    cells_read: int = 0


def cell_text(value: object) -> str:
    """A cell value as people write it: 120 not 120.0, dates as dates, one line, no trailing full stop."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        text = _number_text(value)
    elif isinstance(value, dt.datetime):
        text = value.date().isoformat() if value.time() == dt.time() else value.strftime("%Y-%m-%d %H:%M")
    elif isinstance(value, (dt.date, dt.time)):
        text = value.isoformat(timespec="minutes") if isinstance(value, dt.time) else value.isoformat()
    else:
        text = str(value)
    text = " ".join(text.split())
    return _CELL_END_RE.sub("", text)


def _number_text(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return ""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".15g")  # 0.1 + 0.2 reads 0.3


def table_lines(rows: list[list[object]], *, max_rows: int = MAX_TABLE_ROWS, max_cells: int = MAX_TABLE_CELLS) -> TableText:
    """One line per non-empty row, `Header: value` for every non-empty cell when the table has a header.

    Rows hold raw cell values (str, int, float, date, None); merged cells are expected filled
    with their value in every cell they cover. Empty rows and columns go; one-cell rows above
    the table are captions, kept as lines of their own; the header is the first remaining row
    when all its cells are words (no numbers or dates), and a second such row under a header
    with merged or blank names (`Sales` over `2023 | 2024`) is joined to it.
    """
    texts, note = _capped([[cell_text(v) for v in row] for row in rows], max_rows, max_cells)
    read = (len(texts), sum(len(row) for row in texts))
    types = [[_is_word(v) for v in row] for row in rows[: len(texts)]]
    texts, types = _drop_empty(texts, types)
    captions = _captions(texts)
    lines = [next(v for v in row if v) for row in texts[:captions]]
    texts, types = texts[captions:], types[captions:]
    header, body = _split_header(texts, types)
    for row in body:
        if header is None:
            lines.append(CELL_SEPARATOR.join(v for v in row if v))
        else:
            lines.append(CELL_SEPARATOR.join(_pair(name, v) for name, v in zip(header, row) if v))
    return TableText([line for line in lines if line], note, *read)


def _captions(texts: list[list[str]]) -> int:
    """How many leading one-cell rows of a wider table are captions (its title, units, a date)."""
    count = 0
    while count < min(MAX_CAPTION_ROWS, len(texts) - 1) and len(texts[count]) > 1 and _filled(texts[count]) == 1:
        count += 1
    return count


def _capped(texts: list[list[str]], max_rows: int, max_cells: int) -> tuple[list[list[str]], str]:
    """The rows within both caps, and a note when some were left out."""
    kept, cells = [], 0
    for row in texts:
        if len(kept) >= max_rows or cells + len(row) > max_cells:
            return kept, f"only its first {len(kept):,} rows are indexed ({SIZE_LIMITS})"
        kept.append(row)
        cells += len(row)
    return kept, ""


def _is_word(value: object) -> bool:
    """A header-like cell: text that is not a number, a date or a boolean."""
    if isinstance(value, str):
        return bool(value.strip()) and not _NUMBER_RE.fullmatch(value.strip())
    return False


def _filled(row: list[str]) -> int:
    return sum(1 for v in row if v)


def _drop_empty(texts: list[list[str]], types: list[list[bool]]) -> tuple[list[list[str]], list[list[bool]]]:
    """Without empty rows and without columns that are empty in every row."""
    keep_rows = [i for i, row in enumerate(texts) if _filled(row)]
    width = max((len(texts[i]) for i in keep_rows), default=0)
    columns = [c for c in range(width) if any(c < len(texts[i]) and texts[i][c] for i in keep_rows)]

    def cut(row: list, empty):
        return [row[c] if c < len(row) else empty for c in columns]

    return [cut(texts[i], "") for i in keep_rows], [cut(types[i], False) for i in keep_rows]


def _split_header(texts: list[list[str]], types: list[list[bool]]) -> tuple[list[str] | None, list[list[str]]]:
    """(column names or None, data rows)."""
    if len(texts) < 2 or not _all_words(texts[0], types[0]):
        return None, texts
    header = texts[0]
    grouped = _grouped_columns(header)
    if grouped and len(texts) > 2 and _is_sub_header(header, texts[1], grouped):
        top = _forward_fill(header)
        names = [" ".join(dict.fromkeys(p for p in (a, b) if p)) for a, b in zip(top, texts[1])]
        return names, texts[2:]
    return header, texts[1:]


def _all_words(row: list[str], types: list[bool]) -> bool:
    return all(is_word for v, is_word in zip(row, types) if v)


def _grouped_columns(header: list[str]) -> set[int]:
    """Columns under a group title: a name merged over several columns (repeated, or blank
    after the first when read without merge information)."""
    top = _forward_fill(header)
    grouped: set[int] = set()
    for c in range(1, len(top)):
        if top[c] and top[c] == top[c - 1]:
            grouped |= {c - 1, c}
    return grouped


def _is_sub_header(header: list[str], row: list[str], grouped: set[int]) -> bool:
    """`Sales` over `2023 | 2024`: the row names every grouped column, and holds nothing (or
    the merged name itself) in the others, where a data row would hold values."""
    named = all(row[c] for c in grouped)
    rest_blank = all(not row[c] or row[c] == header[c] for c in range(len(row)) if c not in grouped)
    return named and rest_blank


def _forward_fill(names: list[str]) -> list[str]:
    """Blank names take the name on their left: a merged group title read without merge info."""
    filled, last = [], ""
    for name in names:
        last = name or last
        filled.append(last)
    return filled


def _pair(name: str, value: str) -> str:
    return f"{name}: {value}" if name else value

