"""What every format reader returns."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParsedFile:
    """What a format reader found: raw body text plus format metadata.

    A paged reader (PDF pages, slides, sheets) leaves `text` empty and fills `pages` with
    (label, raw text) per page, one entry for every page in order, empty pages included,
    so that a page's position is its number.
    """

    text: str
    title: str = ""
    date: str = ""
    url: str = ""
    pages: tuple[tuple[str, str], ...] = ()  # (label, raw text) per page

    @property
    def body(self) -> str:
        """All the raw text: `text`, or the pages joined by blank lines."""
        if self.text or not self.pages:
            return self.text
        return "\n\n".join(page for _, page in self.pages if page.strip())
