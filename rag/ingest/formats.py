"""The format registry: which reader turns a file's bytes into a ParsedFile, by suffix.

Adding a format is one line here plus its reader module; a reader takes (raw bytes, source
name) and returns a ParsedFile or raises IngestError with a one-line reason.
"""
from __future__ import annotations

from typing import Callable

from . import docx, html, image, pdf, plain, pptx, sheets
from .parsed import ParsedFile

Reader = Callable[[bytes, str], ParsedFile]

READERS: dict[str, Reader] = {
    ".txt": plain.read_text,
    ".md": plain.read_markdown,
    ".markdown": plain.read_markdown,
    ".html": html.read_html,
    ".htm": html.read_html,
    ".pdf": pdf.read_pdf,
    ".docx": docx.read_docx,
    ".pptx": pptx.read_pptx,
    ".xlsx": sheets.read_xlsx,
    ".xls": sheets.read_xls,
    ".csv": sheets.read_csv,
    **{suffix: image.read_image for suffix in image.IMAGE_SUFFIXES},
}
SUPPORTED_SUFFIXES = tuple(READERS)
