"""What every format reader returns."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParsedFile:
    """What a format reader found: raw body text plus format metadata."""

    text: str
    title: str = ""
    date: str = ""
    url: str = ""
