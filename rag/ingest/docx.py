"""Word .docx: paragraphs and table rows in document order."""
from __future__ import annotations

import io

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from ..errors import IngestError
from .meta import tidy_title
from .office import encrypted_office_problem
from .parsed import ParsedFile
from .tables import table_lines


def read_docx(raw: bytes, source: str) -> ParsedFile:
    """Paragraphs and table rows in document order; title from core properties or first heading."""
    problem = encrypted_office_problem(raw, source, "Word")
    if problem:
        raise problem
    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as exc:  # python-docx raises zip, XML and key errors on bad files
        problem = type(exc).__name__
        message = f"{source}: not a readable .docx ({problem}); re-save it from Word or LibreOffice"
        raise IngestError(message) from None
    blocks: list[str] = []
    heading = ""
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            blocks.append(item.text)
            if not heading and _is_heading_style(item) and item.text.strip():
                heading = item.text
        elif isinstance(item, Table):
            blocks.append("\n".join(_docx_table_rows(item)))
    title = tidy_title(document.core_properties.title) or tidy_title(heading)
    # core_properties.created is when the file (or its template) was made, not a publication date.
    return ParsedFile("\n\n".join(blocks), title)


def _is_heading_style(paragraph: Paragraph) -> bool:
    """True for Title and Heading N paragraph styles."""
    name = paragraph.style.name if paragraph.style is not None else ""
    return name == "Title" or name.startswith("Heading")


def _docx_table_rows(table: Table) -> list[str]:
    """One line per table row, each value with its column name (see tables.table_lines).

    python-docx gives a merged cell once per grid column and row it covers, which is the
    filled grid table_lines expects."""
    return table_lines([[cell.text for cell in row.cells] for row in table.rows]).lines
