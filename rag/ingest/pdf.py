"""PDF: every page's text in reading order, image-only pages through OCR, page by page.

Read with PDFium (pypdfium2): its text layer keeps the characters a page shows where pypdf
returned radical code points for Chromium's CJK fonts, and its glyph boxes give the layout
(columns, wrapped lines, running heads; see layout.py). A page without text but with an
image is a scan and is read by OCR (ocr.py). PDFium is not thread-safe, so every call into
it holds PDFIUM_LOCK (the web app renders pages while an ingest reads others).
"""
from __future__ import annotations

import ctypes
import datetime as dt
import io
import re
import threading
from dataclasses import dataclass

from ..errors import IngestError
from .layout import Line, drop_running_lines, page_text
from .meta import tidy_title
from .parsed import ParsedFile

PDFIUM_LOCK = threading.RLock()
# Longer PDFs are skipped with a reason, not read: 1,000 text pages take ~1 min to read and
# many more to embed, and a scanned one hours of OCR. Split the file to index it.
MAX_PDF_PAGES = 1000
# A gap wider than this many glyph heights between two glyphs on one line starts a new
# piece of text (a column gutter or a table cell), which layout.py places on its own.
_MAX_GLYPH_GAP = 2.0
_LINE_BREAKS = "\r\n"
# PDFium reports a hyphen that ends a line as U+0002 (U+FFFE in its text ranges) and runs
# the two lines together.
_PDFIUM_LINE_END_HYPHENS = (0x0002, 0xFFFE)


@dataclass(frozen=True)
class Glyph:
    """A character with its box in PDF units (y grows upwards); line breaks have no box."""

    char: str
    left: float
    bottom: float
    right: float
    top: float


def read_pdf(raw: bytes, source: str) -> ParsedFile:
    """Text of every page ("p. 1", "p. 2", ...), plus /Title and /CreationDate."""
    if b"%PDF-" not in raw[:1024]:
        raise IngestError(f"{source}: not a PDF (no %PDF header); check the file")
    with PDFIUM_LOCK:
        document = open_pdf(raw, source)
        try:
            page_lines, scanned = _text_pages(document, source)
            title, date = _pdf_metadata(document)
        finally:
            document.close()
    if scanned:
        from .ocr import ocr_pdf_pages

        for number, lines in ocr_pdf_pages(raw, scanned, source).items():
            page_lines[number - 1] = lines
    if not any(page_lines):
        raise IngestError(f"{source}: PDF has no text, not even by OCR (blank pages?); check the file")
    pages = drop_running_lines(page_lines)
    labelled = tuple((f"p. {number}", "\n".join(lines)) for number, lines in enumerate(pages, start=1))
    return ParsedFile("", title, date, pages=labelled)


def open_pdf(raw: bytes, source: str):
    """A pypdfium2 PdfDocument (caller holds PDFIUM_LOCK and closes it), or an IngestError
    for encrypted, damaged, empty or over-long files."""
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(raw)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            message = f"{source}: encrypted PDF: decrypt it first (it needs a password; e.g. qpdf --decrypt in.pdf out.pdf)"
            raise IngestError(message) from None
        if _pypdf_page_count(raw) == 0:
            raise IngestError(f"{source}: PDF has no pages; check the file") from None
        message = f"{source}: corrupt or truncated PDF ({exc}); re-download or re-export it"
        raise IngestError(message) from None
    count = len(document)
    if count == 0:
        document.close()
        raise IngestError(f"{source}: PDF has no pages; check the file")
    if count > MAX_PDF_PAGES:
        document.close()
        message = (
            f"{source}: PDF has {count} pages, over the limit of {MAX_PDF_PAGES}; "
            f"split it into parts (e.g. qpdf --split-pages={MAX_PDF_PAGES}) to index it"
        )
        raise IngestError(message)
    return document


def _pypdf_page_count(raw: bytes) -> int | None:
    """Pages pypdf counts in a file PDFium refused (PDFium refuses page-less files), or None."""
    from pypdf import PdfReader

    try:
        return len(PdfReader(io.BytesIO(raw)).pages)
    except Exception:  # damaged beyond pypdf's repair too
        return None


def _text_pages(document, source: str) -> tuple[list[list[str]], list[int]]:
    """Each page's paragraphs from its text layer, and the numbers of image-only pages."""
    pages: list[list[str]] = []
    scanned: list[int] = []
    for number in range(1, len(document) + 1):
        try:
            page = document[number - 1]
            lines, has_image = _page_lines(page)
        except Exception as exc:  # one damaged page must not lose the others
            raise IngestError(f"{source}: page {number} is damaged ({type(exc).__name__}: {exc}); re-export the PDF") from None
        pages.append(page_text(lines, page.get_width()))
        if not pages[-1] and has_image:
            scanned.append(number)
        page.close()
    return pages, scanned


def _page_lines(page) -> tuple[list[Line], bool]:
    """The page's text pieces with boxes, and whether it draws an image."""
    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    try:
        glyphs = page_glyphs(textpage, pdfium_c)
    finally:
        textpage.close()
    has_image = any(True for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2))
    return _pieces(glyphs, page.get_height()), has_image


def page_glyphs(textpage, pdfium_c) -> list[Glyph]:
    """Every character with its box; PDFium's generated line breaks come as '\\n' glyphs."""
    glyphs = []
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    for index in range(pdfium_c.FPDFText_CountChars(textpage)):
        code = pdfium_c.FPDFText_GetUnicode(textpage, index)
        if code in _PDFIUM_LINE_END_HYPHENS:
            glyphs += [Glyph("-", 0, 0, 0, 0), Glyph("\n", 0, 0, 0, 0)]
            continue
        if not code:
            continue
        char = chr(code)
        if char in _LINE_BREAKS:
            glyphs.append(Glyph("\n", 0, 0, 0, 0))
            continue
        pdfium_c.FPDFText_GetCharBox(textpage, index, left, right, bottom, top)
        glyphs.append(Glyph(char, left.value, bottom.value, right.value, top.value))
    return glyphs


def _pieces(glyphs: list[Glyph], page_height: float) -> list[Line]:
    """Glyphs grouped into pieces of one line, cut at line breaks and at wide gaps."""
    pieces: list[Line] = []
    chars: list[str] = []
    boxes: list[Glyph] = []

    def flush() -> None:
        if boxes:
            text = "".join(chars).strip()
            left, right = min(g.left for g in boxes), max(g.right for g in boxes)
            top, bottom = max(g.top for g in boxes), min(g.bottom for g in boxes)
            pieces.append(Line(text, left, page_height - top, right, page_height - bottom))
        chars.clear()
        boxes.clear()

    for glyph in glyphs:
        if glyph.char == "\n":
            flush()
        elif glyph.char.isspace() or glyph.right <= glyph.left:
            chars.append(" " if glyph.char.isspace() else glyph.char)
        else:
            if boxes and _starts_new_piece(boxes, glyph):
                flush()
            chars.append(glyph.char)
            boxes.append(glyph)
    flush()
    return pieces


def _starts_new_piece(boxes: list[Glyph], glyph: Glyph) -> bool:
    """A glyph far right of the last one, or off its line, starts a new piece."""
    last = boxes[-1]
    height = max(max(g.top - g.bottom for g in boxes[-8:]), glyph.top - glyph.bottom, 1e-6)
    if glyph.left - last.right > _MAX_GLYPH_GAP * height:
        return True
    middle = (glyph.top + glyph.bottom) / 2
    return not (last.bottom - 0.5 * height <= middle <= last.top + 0.5 * height)


def _pdf_metadata(document) -> tuple[str, str]:
    """(title, creation date) from the PDF info dictionary; missing or broken values give ""."""
    try:
        info = document.get_metadata_dict(skip_empty=True)
    except Exception:  # malformed info dictionaries are common and never worth failing over
        return "", ""
    return tidy_title(info.get("Title", "")), _pdf_date(info.get("CreationDate", ""))


def _pdf_date(value: str) -> str:
    """ISO date of a PDF date string ("D:20231201083000+08'00'"), or ""."""
    match = re.match(r"(?:D:)?(\d{4})(\d{2})(\d{2})", value.strip())
    if not match:
        return ""
    try:
        return dt.date(*(int(part) for part in match.groups())).isoformat()
    except ValueError:
        return ""
