"""Metadata: YAML front matter, dates, titles derived from the text, and the language."""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import yaml

from .clean import CJK_CLASS, TIMESTAMP_LINE_RE, boilerplate_kind, is_prose, simplified, strip_pinyin_annotations

MAX_TITLE_CHARS = 300
_BYLINE_RE = re.compile(
    r"^(来源|来自|稿源|时间|发布时间|发布日期|更新时间|日期|作者|记者|文|source|by|published|posted|"
    r"updated|date)\s*[:：\s]",
    re.I,
)

_FRONT_MATTER_RE = re.compile(r"\A\ufeff?\s*---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_YAML_KEY_LINE_RE = re.compile(r"^\s*[A-Za-z_][\w-]*\s*:")
_URL_KEYS = ("url", "source", "link", "original_url")

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}
_NUMERIC_DATE_RE = re.compile(
    r"(?<!\d)(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?!\d)\s*[日号]?"
)
_COMPACT_DATE_RE = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})")
_DAY_MONTH_YEAR_RE = re.compile(r"\b(\d{1,2})\s+([A-Za-z]{3,9})\.?,?\s+(\d{4})\b")
_MONTH_DAY_YEAR_RE = re.compile(r"\b([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b")


def split_front_matter(text: str) -> tuple[dict, str]:
    """(metadata, body) for text that starts with a `---` YAML block; bad YAML gives no metadata."""
    match = _FRONT_MATTER_RE.match(text)
    if not match:
        return {}, text
    block = match.group(1)
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict):
        return data, text[match.end():]
    # Broken YAML that still looks like "key: value" lines is front matter: drop it.
    # Anything else between two `---` lines is a markdown rule around real text.
    first_line = next((line for line in block.splitlines() if line.strip()), "")
    if _YAML_KEY_LINE_RE.match(first_line):
        return {}, text[match.end():]
    return {}, text


def front_matter_url(meta: dict) -> str:
    """The first URL-looking value among the usual front-matter keys."""
    for key in _URL_KEYS:
        value = meta.get(key)
        if isinstance(value, str) and re.match(r"(https?://|www\.)", value.strip()):
            return value.strip()
    return ""


def normalise_date(value: object) -> str:
    """ISO YYYY-MM-DD for anything parseable as a date; other strings are returned stripped."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    parsed = parse_date(text)
    if parsed:
        return parsed.isoformat()
    return text


def parse_date(text: str) -> dt.date | None:
    """The first full date (year, month, day) in a metadata value, or None."""
    for pattern in (_NUMERIC_DATE_RE, _COMPACT_DATE_RE):
        match = pattern.search(text)
        if match:
            return _make_date(match.group(1), match.group(2), match.group(3))
    match = _DAY_MONTH_YEAR_RE.search(text)
    if match:
        return _make_date(match.group(3), _month_number(match.group(2)), match.group(1))
    match = _MONTH_DAY_YEAR_RE.search(text)
    if match:
        return _make_date(match.group(3), _month_number(match.group(1)), match.group(2))
    return None


def _month_number(name: str) -> int:
    """1-12 for an English month name or abbreviation, 0 otherwise."""
    return _MONTHS.get(name[:3].lower(), 0)


def _make_date(year: object, month: object, day: object) -> dt.date | None:
    """A date from parts, or None when they don't form a real date."""
    try:
        return dt.date(int(year), int(month), int(day))
    except (TypeError, ValueError):
        return None


def find_text_date(text: str) -> str:
    """ISO date from a byline near the top ("时间:2023-12-22") or a date-only line; else ""."""
    for line in _head_lines(text, keep_furniture=True):
        if len(line) <= 40 or _BYLINE_RE.match(simplified(line)):
            found = _text_date(line)
            if found:
                return found
    # Chinese notices often end with the date alone on a line.
    for line in text.splitlines():
        line = line.strip(" \t\u3000()（）")
        if line and _NUMERIC_DATE_RE.fullmatch(line):
            return _text_date(line)
    return ""


def _text_date(line: str) -> str:
    """ISO date for the first Y-M-D date in a line of body text, or ""."""
    match = _NUMERIC_DATE_RE.search(line)
    if match:
        found = _make_date(match.group(1), match.group(2), match.group(3))
        if found:
            return found.isoformat()
    return ""


_HEAD_LINE_LIMIT = 25
_CJK_RE = re.compile(f"[{CJK_CLASS}\U00020000-\U0002fa1f]")
_LATIN_RE = re.compile(r"[A-Za-z]")


def derive_title(text: str) -> str:
    """Title for text without metadata, from the lines above the first prose paragraph.

    In order: a heading repeated there (scrapers often repeat the title), the heading right
    above a byline ("来源:... 时间:..."), the last heading, and finally the first line.
    """
    head = _head_lines(text, keep_furniture=False)
    headings = [line for line in head if _is_heading_like(line)]
    counts = Counter(headings)
    for line in headings:
        if counts[line] > 1:
            return line
    for previous, line in zip(head, head[1:]):
        if _BYLINE_RE.match(simplified(line)) and _is_heading_like(previous):
            return previous
    if headings:
        return headings[-1]
    for line in text.splitlines():
        line = strip_pinyin_annotations(line).strip()
        if line and not boilerplate_kind(line):
            return line[:MAX_TITLE_CHARS]
    return ""


def _head_lines(text: str, keep_furniture: bool) -> list[str]:
    """Non-blank lines before the first prose line (pinyin-stripped, furniture optionally dropped)."""
    head: list[str] = []
    for raw_line in text.splitlines():
        line = strip_pinyin_annotations(raw_line).strip()
        if not line:
            continue
        if is_prose(line) or len(head) >= _HEAD_LINE_LIMIT:
            break
        if not keep_furniture and boilerplate_kind(line):
            continue
        head.append(line)
    return head


def _is_heading_like(line: str) -> bool:
    """Short enough for a headline, not a byline or date, and not ending like a clause."""
    if not 4 <= len(line) <= 200:
        return False
    if _BYLINE_RE.match(simplified(line)) or TIMESTAMP_LINE_RE.fullmatch(line):
        return False
    return line[-1] not in "。.；;:：,，、"


def detect_lang(text: str) -> str:
    """'zh' when CJK characters dominate, else 'en' (one hanzi weighs about three Latin letters)."""
    cjk = len(_CJK_RE.findall(text))
    latin = len(_LATIN_RE.findall(text))
    if cjk and cjk * 3 >= latin:
        return "zh"
    return "en"


def tidy_title(value: object) -> str:
    """A metadata title as one clean line."""
    if value is None:
        return ""
    title = strip_pinyin_annotations(str(value))
    title = re.sub(r"\s+", " ", title).strip()
    return title[:MAX_TITLE_CHARS]
