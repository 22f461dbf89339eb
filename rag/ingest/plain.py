"""Plain text and markdown, with optional YAML front matter (and an HTML body inside)."""
from __future__ import annotations

import re

from . import html
from .decode import decode_text
from .meta import front_matter_url, normalise_date, split_front_matter, tidy_title
from .parsed import ParsedFile


def read_text(raw: bytes, source: str) -> ParsedFile:
    """A .txt file."""
    return read_plain(decode_text(raw, source), markdown=False)


def read_markdown(raw: bytes, source: str) -> ParsedFile:
    """A .md file: its first heading is the title when front matter names none."""
    return read_plain(decode_text(raw, source), markdown=True)


def read_plain(text: str, markdown: bool) -> ParsedFile:
    """Plain text or markdown, with optional YAML front matter and an optional HTML body."""
    meta, body = split_front_matter(text)
    title = tidy_title(meta.get("title"))
    date = normalise_date(meta.get("date") or meta.get("published") or "")
    url = front_matter_url(meta)
    if html.looks_like_html(body):
        page = html.parse_html(body)
        return ParsedFile(page.text, title or page.title, date or page.date, url or page.url)
    if markdown and not title:
        title = markdown_heading(body)
    return ParsedFile(body, title, date, url)


def markdown_heading(body: str) -> str:
    """Text of the first '# ' or '## ' heading in markdown, or ""."""
    match = re.search(r"^#{1,2}[ \t]+(.+?)[ \t#]*$", body, re.M)
    if not match:
        return ""
    return tidy_title(match.group(1))
