"""Paged sources: each page cleaned on its own, then joined with a blank line, with
`Page` marks saying where each begins, so a quote's offset tells its page."""
from __future__ import annotations

from ..types import Page
from .clean import clean_text

PAGE_SEPARATOR = "\n\n"


def join_pages(pages: tuple[tuple[str, str], ...]) -> tuple[str, tuple[Page, ...]]:
    """(cleaned text, page marks) for (label, raw text) pages; an empty page starts where the next one does."""
    parts: list[str] = []
    marks: list[Page] = []
    offset = 0
    pending: list[str] = []  # labels of empty pages waiting for the next page's offset
    for label, raw in pages:
        text = clean_text(raw)
        if not text:
            pending.append(label)
            continue
        if parts:
            offset += len(PAGE_SEPARATOR)
        marks += [Page(offset, empty) for empty in pending] + [Page(offset, label)]
        pending = []
        parts.append(text)
        offset += len(text)
    end = offset + len(PAGE_SEPARATOR) if parts else 0
    marks += [Page(end, empty) for empty in pending]
    return PAGE_SEPARATOR.join(parts), tuple(marks)
