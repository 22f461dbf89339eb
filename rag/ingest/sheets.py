"""Spreadsheets: .xlsx (openpyxl), .xls (xlrd) and .csv, one page per visible sheet.

Every sheet becomes a page labelled "sheet NAME" whose lines are its rows with their column
names (see `tables.table_lines`), so a question about a cell is answered from its row and
cited to its sheet. Values are what the spreadsheet shows: cached results, not formulas.
Hidden sheets are left out (they hold lookups and scratch work, not what the author shows).
"""
from __future__ import annotations

import csv
import io
import logging
import zipfile
from pathlib import PurePosixPath

from ..errors import IngestError
from .decode import decode_text
from .meta import tidy_title
from .office import encrypted_office_problem
from .parsed import ParsedFile
from .tables import MAX_TABLE_CELLS, MAX_TABLE_ROWS, cell_text, table_lines

log = logging.getLogger(__name__)

# openpyxl's full mode knows merged cells but holds every cell object (~1 KB each); its
# read-only mode streams rows without them. Small workbooks get the merges, big ones stream.
FULL_MODE_MAX_BYTES = 1 << 20
_CSV_DELIMITERS = ",;\t|"


def sheet_label(name: str) -> str:
    return f"sheet {name}"


def _paged(sheets: list[tuple[str, list[list[object]]]], source: str, title: str) -> ParsedFile:
    """The ParsedFile for (sheet name, cell values) pairs; the size caps hold for the whole file."""
    pages, rows_left, cells_left = [], MAX_TABLE_ROWS, MAX_TABLE_CELLS
    for name, rows in sheets:
        table = table_lines(rows, max_rows=rows_left, max_cells=cells_left)
        if table.note:
            log.warning("%s: sheet %s: %s; split the file to index the rest", source, name, table.note)
        rows_left, cells_left = rows_left - table.rows_read, cells_left - table.cells_read
        pages.append((sheet_label(name), "\n".join(table.lines)))
    if not any(text.strip() for _, text in pages):
        raise IngestError(f"{source}: the spreadsheet has no values in its visible sheets")
    return ParsedFile("", title or PurePosixPath(source).stem, pages=tuple(pages))


# ---- .xlsx -----------------------------------------------------------------------------


def read_xlsx(raw: bytes, source: str) -> ParsedFile:
    """Every visible sheet of an Excel workbook, with cached formula results."""
    problem = encrypted_office_problem(raw, source, "Excel")
    if problem:
        raise problem
    try:
        import openpyxl

        workbook = openpyxl.load_workbook(
            io.BytesIO(raw), read_only=len(raw) > FULL_MODE_MAX_BYTES, data_only=True, keep_links=False
        )
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError) as exc:
        raise IngestError(f"{source}: not a readable .xlsx ({type(exc).__name__}); re-save it from Excel or LibreOffice") from None
    except Exception as exc:  # openpyxl raises its own and lxml's errors on damaged files
        raise IngestError(f"{source}: corrupt .xlsx ({type(exc).__name__}: {exc}); re-save it from Excel or LibreOffice") from None
    try:
        sheets = [(ws.title, _xlsx_rows(ws)) for ws in workbook.worksheets if ws.sheet_state == "visible"]
        title = tidy_title(workbook.properties.title)
    finally:
        workbook.close()
    if len(raw) <= FULL_MODE_MAX_BYTES:
        _warn_uncached_formulas(raw, sheets, source)
    return _paged(sheets, source, title)


def _warn_uncached_formulas(raw: bytes, sheets: list[tuple[str, list[list[object]]]], source: str) -> None:
    """One line when formulas have no saved result: a file written by a program and never opened
    in a spreadsheet app shows them empty, and so do we."""
    import openpyxl

    formulas = openpyxl.load_workbook(io.BytesIO(raw), data_only=False, keep_links=False)
    missing = 0
    for name, rows in sheets:
        for r, row in enumerate(formulas[name].iter_rows(max_row=len(rows), values_only=True)):
            missing += sum(1 for c, v in enumerate(row) if isinstance(v, str) and v.startswith("=") and rows[r][c] is None)
    if missing:
        log.warning(
            "%s: %d formula cells have no saved result and are left out; open and save the file in "
            "Excel or LibreOffice to index their values", source, missing,
        )


def _xlsx_rows(ws) -> list[list[object]]:
    """Cell values row by row (at most MAX_TABLE_ROWS + 1), merged ranges filled with their value."""
    rows: list[list[object]] = []
    for cells in ws.iter_rows():
        rows.append([_xlsx_value(cell) for cell in cells])
        if len(rows) > MAX_TABLE_ROWS:  # enough for table_lines to say rows were left out
            break
    merged_cells = getattr(ws, "merged_cells", None)  # read-only mode does not know them
    for merged in merged_cells.ranges if merged_cells is not None else ():
        _fill(rows, merged.min_row - 1, merged.max_row, merged.min_col - 1, merged.max_col)
    return rows


def _xlsx_value(cell) -> object:
    """The cell's value; a percentage as the sheet shows it (0.125 formatted 0.0% reads 12.5%)."""
    value = cell.value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and "%" in (getattr(cell, "number_format", "") or ""):
        return f"{cell_text(value * 100.0)}%"
    return value


def _fill(rows: list[list[object]], row_lo: int, row_hi: int, col_lo: int, col_hi: int) -> None:
    """Give every cell of a merged range (0-based, exclusive ends) the value of its top-left cell."""
    if row_lo >= len(rows) or col_lo >= len(rows[row_lo]):
        return
    value = rows[row_lo][col_lo]
    for r in range(row_lo, min(row_hi, len(rows))):
        for c in range(col_lo, min(col_hi, len(rows[r]))):
            rows[r][c] = value


# ---- .xls --------------------------------------------------------------------------------


def read_xls(raw: bytes, source: str) -> ParsedFile:
    """Every visible sheet of an Excel 97-2003 workbook."""
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=raw, formatting_info=True, on_demand=True)
    except xlrd.XLRDError as exc:
        if "encrypted" in str(exc).lower():
            raise IngestError(f"{source}: password-protected Excel file: open it, remove the password and save it again") from None
        raise IngestError(f"{source}: not a readable .xls ({exc}); re-save it from Excel or LibreOffice") from None
    except Exception as exc:  # truncated BIFF streams raise struct, index and assertion errors
        raise IngestError(f"{source}: corrupt .xls ({type(exc).__name__}); re-save it from Excel or LibreOffice") from None
    try:
        sheets = []
        for index in range(book.nsheets):
            sheet = book.sheet_by_index(index)
            if sheet.visibility == 0:
                sheets.append((sheet.name, _xls_rows(sheet, book.datemode)))
    finally:
        book.release_resources()
    return _paged(sheets, source, "")


def _xls_rows(sheet, datemode: int) -> list[list[object]]:
    import xlrd

    rows = []
    for r in range(min(sheet.nrows, MAX_TABLE_ROWS + 1)):
        row = []
        for cell in sheet.row(r):
            if cell.ctype == xlrd.XL_CELL_DATE:
                try:
                    row.append(xlrd.xldate_as_datetime(cell.value, datemode))
                except (ValueError, OverflowError, xlrd.xldate.XLDateError):
                    row.append(cell.value)
            elif cell.ctype == xlrd.XL_CELL_BOOLEAN:
                row.append(bool(cell.value))
            elif cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
                row.append(None)
            else:
                row.append(cell.value)
        rows.append(row)
    for row_lo, row_hi, col_lo, col_hi in sheet.merged_cells:
        _fill(rows, row_lo, row_hi, col_lo, col_hi)
    return rows


# ---- .csv -----------------------------------------------------------------------------------


def read_csv(raw: bytes, source: str) -> ParsedFile:
    """A comma-, semicolon-, tab- or bar-separated table in any encoding decode_text knows."""
    text = decode_text(raw, source)
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=_CSV_DELIMITERS)
    except csv.Error:  # one column, or too irregular to tell: commas
        dialect = csv.excel
    try:
        rows = [row for _, row in zip(range(MAX_TABLE_ROWS + 1), csv.reader(io.StringIO(text), dialect))]
    except csv.Error as exc:
        raise IngestError(f"{source}: unreadable CSV ({exc}); check its quoting") from None
    table = table_lines(rows)
    if table.note:
        log.warning("%s: %s; split the file to index the rest", source, table.note)
    if not table.lines:
        raise IngestError(f"{source}: the CSV file has no values")
    return ParsedFile("\n".join(table.lines), PurePosixPath(source).stem)

