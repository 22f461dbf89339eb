"""PowerPoint .pptx: one page per slide ("slide N"), its title first.

A slide is read the way it is looked at: the title, then its text boxes and tables from top
to bottom and left to right (grouped shapes included), then the speaker notes. Table rows
keep their column names (see `tables.table_lines`). Every slide is a page, empty ones too,
so a page's number is the slide's.
"""
from __future__ import annotations

import io
import zipfile

from ..errors import IngestError
from .meta import tidy_title
from .office import encrypted_office_problem
from .parsed import ParsedFile
from .tables import table_lines


def read_pptx(raw: bytes, source: str) -> ParsedFile:
    """Every slide's title, text, tables and notes; title from core properties or the first slide."""
    problem = encrypted_office_problem(raw, source, "PowerPoint")
    if problem:
        raise problem
    try:
        import pptx

        presentation = pptx.Presentation(io.BytesIO(raw))
        slides = [_slide_text(slide) for slide in presentation.slides]
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise IngestError(f"{source}: not a readable .pptx ({type(exc).__name__}); re-save it from PowerPoint or LibreOffice") from None
    except Exception as exc:  # python-pptx raises lxml and package errors on damaged files
        raise IngestError(f"{source}: corrupt .pptx ({type(exc).__name__}: {exc}); re-save it from PowerPoint or LibreOffice") from None
    if not any(text.strip() for _, text in slides):
        raise IngestError(f"{source}: the presentation has no text (only pictures?)")
    title = tidy_title(presentation.core_properties.title) or next((t for t, _ in slides if t), "")
    pages = tuple((f"slide {number}", text) for number, (_, text) in enumerate(slides, start=1))
    return ParsedFile("", tidy_title(title), pages=pages)


def _slide_text(slide) -> tuple[str, str]:
    """(title, the slide's text: title, body shapes in reading order, notes)."""
    title_shape = slide.shapes.title
    title = _one_line(title_shape.text_frame.text) if title_shape is not None and title_shape.has_text_frame else ""
    blocks = [title] if title else []
    for shape in sorted(_shapes(slide.shapes), key=_reading_order):
        if title_shape is not None and shape.shape_id == title_shape.shape_id:
            continue
        blocks.append(_shape_text(shape))
    if slide.has_notes_slide:
        notes = slide.notes_slide.notes_text_frame
        if notes is not None and notes.text.strip():
            blocks.append(notes.text.strip())
    return title, "\n\n".join(block for block in blocks if block.strip())


def _shapes(shapes):
    """Every shape, with groups opened."""
    for shape in shapes:
        if shape.shape_type == 6:  # MSO_SHAPE_TYPE.GROUP
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _reading_order(shape) -> tuple[int, int]:
    # Placeholders inherit their position from the layout and may report None.
    return (shape.top or 0, shape.left or 0)


def _shape_text(shape) -> str:
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
        return "\n".join(table_lines(rows).lines)
    if shape.has_text_frame:
        # A soft line break inside a bullet ("\v") is a space: one bullet, one line.
        lines = (_one_line(p.text) for p in shape.text_frame.paragraphs)
        return "\n".join(line for line in lines if line)
    return ""


def _one_line(text: str) -> str:
    return " ".join(text.split())
