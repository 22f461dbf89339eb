"""Read corpus files (txt, md, html, pdf, docx) into cleaned `Document`s.

Each format reader returns text plus whatever metadata the format carries; `clean_text`
then removes scraping debris (share prompts, ICP lines, sidebars, pinyin artefacts) the
same way for every format. `Document.text` is never converted between traditional and
simplified Chinese: quotes and offsets must match what the author wrote.
"""
from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import io
import logging
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import charset_normalizer
import docx
import opencc
import yaml
from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction
from docx.table import Table
from docx.text.paragraph import Paragraph
from pypdf import PdfReader
from pypdf.errors import DependencyError

from .errors import ConfigError, IngestError
from .types import Document

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
_MARKDOWN_SUFFIXES = (".md", ".markdown")
_HTML_SUFFIXES = (".html", ".htm")
_MAX_TITLE_CHARS = 300
# Larger files are skipped, not read: a 20 MB text file already takes hours to embed on a
# laptop CPU. Callers pass `max_file_mb` (the Config field behind RAG_MAX_FILE_MB).
MAX_FILE_MB = 20.0


@dataclass(frozen=True)
class ParsedFile:
    """What a format reader found: raw body text plus format metadata."""

    text: str
    title: str = ""
    date: str = ""
    url: str = ""


@dataclass(frozen=True)
class _Entry:
    """A corpus file found by the walk; `skip_reason` is set when it must not be read."""

    path: Path
    skip_reason: str = ""


# --------------------------------------------------------------------------------------
# Walking the corpus
# --------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's raw bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(1 << 20)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def list_corpus_files(root: Path, *, max_file_mb: float = MAX_FILE_MB) -> list[Path]:
    """Readable corpus files under root, sorted by relative path (no parsing)."""
    return [path for path, reason in list_corpus_entries(root, max_file_mb=max_file_mb) if not reason]


def list_corpus_entries(root: Path, *, max_file_mb: float = MAX_FILE_MB) -> list[tuple[Path, str]]:
    """(path, skip reason or "") for every supported file under root, sorted by relative path."""
    return [(entry.path, entry.skip_reason) for entry in _walk_corpus(Path(root), max_file_mb)]


def iter_documents(
    root: Path, *, max_file_mb: float = MAX_FILE_MB
) -> Iterator[Document | tuple[Path, IngestError]]:
    """Yield a Document per corpus file, or (path, IngestError) for a file that was skipped."""
    root = Path(root)
    for entry in _walk_corpus(root, max_file_mb):
        source = source_name(entry.path, root)
        if entry.skip_reason:
            yield entry.path, IngestError(f"{source}: {entry.skip_reason}")
            continue
        try:
            yield load_document(entry.path, root, max_file_mb=max_file_mb)
        except IngestError as exc:
            yield entry.path, exc


def load_documents(
    root: Path, *, max_file_mb: float = MAX_FILE_MB
) -> tuple[list[Document], list[tuple[str, str]]]:
    """All readable documents under root, plus (source, reason) for every skipped file."""
    root = Path(root)
    documents: list[Document] = []
    skipped: list[tuple[str, str]] = []
    for item in iter_documents(root, max_file_mb=max_file_mb):
        if isinstance(item, Document):
            documents.append(item)
        else:
            path, error = item
            skipped.append((source_name(path, root), str(error)))
    return documents, skipped


def _walk_corpus(root: Path, max_file_mb: float = MAX_FILE_MB) -> list[_Entry]:
    """Supported files under root, sorted by relative path; symlink or size problems carry a reason."""
    if not root.is_dir():
        raise ConfigError(f"corpus directory {root} does not exist; create it or set RAG_DOCS_DIR")
    real_root = root.resolve()
    entries: list[_Entry] = []
    # os.walk does not descend into symlinked directories, which also rules out link loops.
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [name for name in dirnames if not _is_hidden(name)]
        for name in dirnames:
            path = Path(dirpath) / name
            reason = _symlink_problem(path, real_root)
            if reason:
                entries.append(_Entry(path, reason))
        for name in filenames:
            path = Path(dirpath) / name
            if _is_hidden(name) or path.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            entries.append(_Entry(path, _symlink_problem(path, real_root) or _size_problem(path, max_file_mb)))
    entries.sort(key=lambda entry: source_name(entry.path, root))
    return entries


def _is_hidden(name: str) -> bool:
    """Dotfiles and Office lock files ("~$report.docx") are never documents."""
    return name.startswith(".") or name.startswith("~$")


def _symlink_problem(path: Path, real_root: Path) -> str:
    """Why a symlink must be skipped, or "" for regular files and links that stay in the corpus."""
    if not path.is_symlink():
        return ""
    target = path.resolve()
    if not target.exists():
        return "broken symlink; fix or remove it"
    if not target.is_relative_to(real_root):
        return f"symlink points outside the corpus ({target}); copy the file in instead"
    return ""


def _size_problem(path: Path, max_file_mb: float) -> str:
    """Why a file is too big to read, or "" (also when it cannot be stat'ed: reading will say why)."""
    try:
        size = path.stat().st_size
    except OSError:
        return ""
    if max_file_mb and size > max_file_mb * 1024 * 1024:
        return (
            f"file is {size / 1048576:.1f} MB, over the limit of {max_file_mb:g} MB; "
            "raise RAG_MAX_FILE_MB to index it"
        )
    return ""


def source_name(path: Path, root: Path) -> str:
    """Path relative to root with forward slashes, NFC-normalised so macOS names match."""
    try:
        relative = Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        relative = Path(Path(path).name)
    return unicodedata.normalize("NFC", relative.as_posix())


# --------------------------------------------------------------------------------------
# One document
# --------------------------------------------------------------------------------------


def load_document(path: Path, root: Path, *, max_file_mb: float = MAX_FILE_MB) -> Document:
    """Read, decode, parse and clean one file; raise IngestError naming the file if it can't be."""
    path = Path(path)
    source = source_name(path, Path(root))
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = ", ".join(SUPPORTED_SUFFIXES)
        raise IngestError(f"{source}: unsupported file type '{suffix}' (supported: {supported})")
    too_big = _size_problem(path, max_file_mb)
    if too_big:
        raise IngestError(f"{source}: {too_big}")
    raw = _read_bytes(path, source)
    if not raw.strip():
        raise IngestError(f"{source}: empty file")
    try:
        return _build_document(raw, suffix, source)
    except IngestError:
        raise
    except Exception as exc:  # a parser bug on one file must not stop a whole ingest
        log.exception("unexpected error while reading %s", source)
        message = f"{source}: unexpected error while reading ({type(exc).__name__}: {exc}); please report it"
        raise IngestError(message) from exc


def _build_document(raw: bytes, suffix: str, source: str) -> Document:
    """Parse, clean and describe one file's bytes."""
    parsed = _parse(raw, suffix, source)
    if not parsed.text.strip():
        raise IngestError(f"{source}: empty file (no text in it)")
    text = clean_text(parsed.text)
    if not text:
        raise IngestError(f"{source}: no text left after removing page furniture; check the file")
    title = _tidy_title(parsed.title) or derive_title(parsed.text)
    return Document(
        source=source,
        text=text,
        title=title,
        date=parsed.date or find_text_date(text),
        url=parsed.url,
        lang=detect_lang(text),
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def _read_bytes(path: Path, source: str) -> bytes:
    """The file's bytes, with OS errors turned into IngestError."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{source}: cannot read file ({exc.strerror or exc})") from None


def _parse(raw: bytes, suffix: str, source: str) -> ParsedFile:
    """Dispatch to the reader for this suffix."""
    if suffix == ".pdf":
        return _read_pdf(raw, source)
    if suffix == ".docx":
        return _read_docx(raw, source)
    if suffix in _HTML_SUFFIXES:
        text = decode_text(raw, source, declared=_declared_html_charset(raw))
        return parse_html(text)
    return _read_plain(decode_text(raw, source), markdown=suffix in _MARKDOWN_SUFFIXES)


def _read_plain(text: str, markdown: bool) -> ParsedFile:
    """Plain text or markdown, with optional YAML front matter and an optional HTML body."""
    meta, body = split_front_matter(text)
    title = _tidy_title(meta.get("title"))
    date = normalise_date(meta.get("date") or meta.get("published") or "")
    url = _front_matter_url(meta)
    if looks_like_html(body):
        page = parse_html(body)
        return ParsedFile(page.text, title or page.title, date or page.date, url or page.url)
    if markdown and not title:
        title = _markdown_heading(body)
    return ParsedFile(body, title, date, url)


def _tidy_title(value: object) -> str:
    """A metadata title as one clean line."""
    if value is None:
        return ""
    title = strip_pinyin_annotations(str(value))
    title = re.sub(r"\s+", " ", title).strip()
    return title[:_MAX_TITLE_CHARS]


# --------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------

# UTF-32 BOMs come first because the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# cp950 is Big5 as Windows writes it (a superset of plain Big5).
_LEGACY_CJK_CODECS = ("gb18030", "cp950")
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "big5": "cp950"}
_BINARY_CONTROL_SHARE = 0.05
_NON_ASCII_RUN_ANY_RE = re.compile(r"[^\x00-\x7f]+")
# A right legacy codec yields ~100% common hanzi; the wrong one ~20-50% (measured on the seeds).
_MIN_COMMON_CJK_SHARE = 0.7
_MIN_UTF16_SHARE_WITH_NULS = 0.8
_MIN_UTF16_SHARE_WITHOUT_NULS = 0.9


def decode_text(raw: bytes, source: str = "<bytes>", declared: str = "") -> str:
    """Decode a text file's bytes, or raise IngestError when they look binary or undecodable."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            return _decode_with_bom(raw[len(bom):], codec, source)
    if b"\x00" in raw:
        return _decode_nul_bytes(raw, source)
    binary_message = f"{source}: looks binary (many control bytes); is it really a text file?"
    # Strict UTF-8 first: legacy-encoded bytes almost never form valid UTF-8.
    text = _try_decode(raw, "utf-8")
    if text is not None:
        if _looks_binary_text(text):
            raise IngestError(binary_message)
        return text
    # All-hanzi UTF-16 has no NULs at all; other encodings read as UTF-16 give rare characters.
    text = _best_utf16(raw, _MIN_UTF16_SHARE_WITHOUT_NULS)
    if text is not None:
        return text
    if _control_share(raw) > _BINARY_CONTROL_SHARE:
        raise IngestError(binary_message)
    for attempt in (_try_declared, _try_legacy_cjk, _try_charset_normalizer, _try_cp1252):
        text = attempt(raw, declared)
        if text is not None:
            return text
    raise IngestError(f"{source}: undecodable text (unknown encoding); re-save it as UTF-8")


def _decode_with_bom(body: bytes, codec: str, source: str) -> str:
    """Decode the bytes after a byte-order mark strictly."""
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        raise IngestError(f"{source}: undecodable {codec} text ({exc.reason}); re-save it as UTF-8") from None
    if _looks_binary_text(text):
        raise IngestError(f"{source}: looks binary despite its {codec} byte-order mark")
    return text


def _decode_nul_bytes(raw: bytes, source: str) -> str:
    """NUL bytes mean UTF-16 without a BOM (if one byte order reads as text), else binary."""
    text = _best_utf16(raw, _MIN_UTF16_SHARE_WITH_NULS)
    if text is None:
        raise IngestError(f"{source}: looks binary (contains NUL bytes); is it really a text file?")
    return text


def _best_utf16(raw: bytes, min_share: float) -> str | None:
    """The UTF-16 byte order whose text is mostly ordinary characters, or None.

    ASCII in UTF-16 puts a NUL in every high byte (b"A" + NUL little-endian), but hanzi such as
    一 (U+4E00) put NULs on the other side, so the decoded text decides the byte order.
    """
    if len(raw) % 2:
        return None
    best_text = None
    best_share = 0.0
    for codec in ("utf-16-le", "utf-16-be"):
        text = _try_decode(raw, codec)
        if text is None or _looks_binary_text(text):
            continue
        share = _ordinary_share(text)
        if share > best_share:
            best_text, best_share = text, share
    if best_share >= min_share:
        return best_text
    return None


def _ordinary_share(text: str) -> float:
    """Share of characters that are printable ASCII, Latin letters, punctuation or common hanzi."""
    if not text:
        return 0.0
    ordinary = sum(1 for char in text if _is_ordinary_char(char))
    return ordinary / len(text)


def _is_ordinary_char(char: str) -> bool:
    """What real Chinese or English text is made of (the wrong byte order gives rare ideographs)."""
    code = ord(char)
    if code < 0x80:
        return char.isprintable() or char in "\t\n\r\f"
    if code < 0x250:  # Latin-1 and Latin Extended letters
        return True
    return _is_cjk_punctuation(char) or _is_common_hanzi(char)


def _control_share(raw: bytes) -> float:
    """Share of C0 control bytes other than tab, newlines and form feed."""
    sample = raw[: 1 << 16]
    controls = 0
    for byte in sample:
        if (byte < 0x20 and byte not in b"\t\n\r\f") or byte == 0x7F:
            controls += 1
    return controls / max(len(sample), 1)


def _looks_binary_text(text: str) -> bool:
    """Decoded text with many control, unassigned or private-use characters is binary."""
    sample = text[: 1 << 15]
    odd = 0
    for char in sample:
        if char in "\t\n\r\f":
            continue
        if unicodedata.category(char) in ("Cc", "Cn", "Co", "Cs"):
            odd += 1
    return odd > _BINARY_CONTROL_SHARE * max(len(sample), 1)


def _try_decode(raw: bytes, codec: str) -> str | None:
    """Strict decode, or None."""
    try:
        return raw.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _try_declared(raw: bytes, declared: str) -> str | None:
    """The charset an HTML page declares, when it decodes cleanly."""
    if not declared:
        return None
    codec = _CHARSET_ALIASES.get(declared.lower(), declared)
    return _try_decode(raw, codec)


def _try_legacy_cjk(raw: bytes, declared: str) -> str | None:
    """GB18030 or Big5, whichever decodes cleanly and yields more common hanzi."""
    best_text = None
    best_share = 0.0
    for codec in _LEGACY_CJK_CODECS:
        text = _try_decode(raw, codec)
        if text is None:
            continue
        share = _common_cjk_share(text)
        if share > best_share:
            best_text, best_share = text, share
    if best_share >= _MIN_COMMON_CJK_SHARE:
        return best_text
    return None


def _try_charset_normalizer(raw: bytes, declared: str) -> str | None:
    """charset-normalizer's best plausible guess; tried after the CJK codecs because it is a guess."""
    try:
        results = list(charset_normalizer.from_bytes(raw))  # best first
    except Exception:  # a detector bug must not hide the file's real problem
        log.debug("charset-normalizer failed", exc_info=True)
        return None
    # On short Western text it happily proposes cp932/gb18030, which turn each accented
    # letter into a stray ideograph; those guesses were already refused by _try_legacy_cjk.
    plausible = [match for match in results if not _mostly_stray_wide_chars(str(match))]
    if not plausible:
        return None
    best = plausible[0]
    # It often ranks cp1250 and cp1252 equal on Western text; cp1252 is far more common.
    for match in plausible:
        if match.encoding == "cp1252" and match.chaos <= best.chaos:
            best = match
            break
    text = str(best)
    if _looks_binary_text(text):
        return None
    return text


def _try_cp1252(raw: bytes, declared: str) -> str | None:
    """Windows-1252, the usual legacy Western encoding, for samples too short to detect."""
    return _try_decode(raw, "cp1252")


def _mostly_stray_wide_chars(text: str) -> bool:
    """True when most non-ASCII characters are lone wide (CJK) characters between ASCII."""
    non_ascii_count = sum(1 for char in text if ord(char) > 0x7F)
    stray = 0
    for run in _NON_ASCII_RUN_ANY_RE.findall(text):
        if len(run) == 1 and unicodedata.east_asian_width(run) in ("W", "F"):
            stray += 1
    return stray > 0.5 * non_ascii_count


def _common_cjk_share(text: str) -> float:
    """Share of non-ASCII characters that are CJK punctuation or common hanzi used like hanzi."""
    non_ascii = 0
    common = 0
    for index, char in enumerate(text):
        if ord(char) <= 0x7F:
            continue
        non_ascii += 1
        if _is_cjk_punctuation(char):
            common += 1
        elif _is_common_hanzi(char) and not _is_glued_into_latin_word(text, index):
            common += 1
    if not non_ascii:
        return 0.0
    return common / non_ascii


def _is_glued_into_latin_word(text: str, index: int) -> bool:
    """A lone non-ASCII character touching a lower-case Latin letter ("na?ve", "?af").

    That is what Western legacy bytes (é, curly quotes) look like when read as GB18030:
    each becomes one stray ideograph, sometimes a common one, inside an English word.
    Real Chinese glues hanzi to capitals and digits ("京ICP备", "5G"), rarely to lower case.
    """
    before = text[index - 1] if index > 0 else " "
    after = text[index + 1] if index + 1 < len(text) else " "
    lone = before.isascii() and after.isascii()
    touches_lower = (before.isascii() and before.islower()) or (after.isascii() and after.islower())
    return lone and touches_lower


def _is_cjk_punctuation(char: str) -> bool:
    """CJK symbols, full-width forms and the curly quotes/dashes Chinese text uses."""
    code = ord(char)
    return 0x3000 <= code <= 0x303F or 0xFF00 <= code <= 0xFFEF or 0x2010 <= code <= 0x2027 or char == "·"


@lru_cache(maxsize=65536)
def _is_common_hanzi(char: str) -> bool:
    """GB2312 level-1 hanzi (3,755) or Big5 frequently-used hanzi (5,401)."""
    try:
        gb = char.encode("gb2312")
        if len(gb) == 2 and 0xB0 <= gb[0] <= 0xD7:
            return True
    except UnicodeEncodeError:
        pass
    try:
        big5 = char.encode("big5")
        if len(big5) == 2 and 0xA440 <= int.from_bytes(big5, "big") <= 0xC67E:
            return True
    except UnicodeEncodeError:
        pass
    return False


def _declared_html_charset(raw: bytes) -> str:
    """The charset named in an HTML <meta> tag, or ""."""
    match = re.search(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", raw[:8192], re.I)
    if not match:
        return ""
    return match.group(1).decode("ascii", "ignore")


# --------------------------------------------------------------------------------------
# Front matter and dates
# --------------------------------------------------------------------------------------

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


def _front_matter_url(meta: dict) -> str:
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
        if len(line) <= 40 or _BYLINE_RE.match(_simplified(line)):
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


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------

_HTML_TAG_RE = re.compile(
    r"<(p|div|br|span|table|h[1-6]|ul|ol|li|article|section|html|body|img)\b[^>]*>", re.I
)
_DROP_TAGS = (
    "head", "title", "script", "style", "noscript", "template", "nav", "header", "footer", "aside",
    "form", "iframe", "button", "select", "textarea", "svg", "canvas", "object", "embed",
)
_BLOCK_TAGS = frozenset(
    "p div section article main h1 h2 h3 h4 h5 h6 ul ol li dl dt dd table thead tbody tfoot tr "
    "blockquote pre figure figcaption address hr center details summary caption".split()
)
_CELL_TAGS = frozenset(("td", "th"))
_NEVER_DROP = frozenset(("html", "body", "main", "article"))
# Matched against class and id, lower-cased, with camelCase split ("appendQr" -> "append-qr").
# Short tokens need boundaries so that e.g. "canvas" or "menuitem-text" don't match.
_FURNITURE_ATTR_RE = re.compile(
    r"share|fenxiang|qrcode|erweima|(?<![a-z])qr(?![a-z])|related|recommend|crumb|sidebar|"
    r"side-bar|footer|copyright|comment(?!ary)|(?<![a-z])nav(?![a-z])|(?<![a-z])menu(?![a-z])"
)
# A class match on an element holding most of the page is a wrapper ("has-sidebar"), not furniture.
_MAX_FURNITURE_SHARE = 0.5
_DATE_META_NAMES = (
    "article:published_time", "og:published_time", "datepublished", "pubdate", "publishdate",
    "publish_date", "publication_date", "date", "dc.date", "dc.date.issued", "dcterms.date",
    "dcterms.created", "sailthru.date", "parsely-pub-date",
)


def looks_like_html(text: str) -> bool:
    """True for a body that is markup (starts with a tag and has several), not prose with a tag."""
    stripped = text.lstrip()
    return stripped.startswith("<") and len(_HTML_TAG_RE.findall(stripped[:20000])) >= 2


def parse_html(html: str) -> ParsedFile:
    """Text with paragraph breaks and metadata (title, date, url) from an HTML page."""
    soup = BeautifulSoup(html, "lxml")
    title, date, url = _html_metadata(soup)
    _drop_furniture_elements(soup)
    return ParsedFile(html_to_text(soup), title, date, url)


def html_to_text(soup: BeautifulSoup | Tag) -> str:
    """Visible text of a (cleaned) soup, one paragraph per block element."""
    parts: list[str] = []
    try:
        _collect_text(soup, parts, preformatted=False)
    except RecursionError:
        # Pathologically nested markup: give up on structure, keep the words.
        parts = [soup.get_text("\n")]
    lines = [line.strip() for line in "".join(parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _collect_text(node: Tag, parts: list[str], preformatted: bool) -> None:
    """Append node's text to parts, with blank lines around blocks and newlines for <br>."""
    for child in node.children:
        if isinstance(child, (Comment, Declaration, Doctype, ProcessingInstruction)):
            continue
        if isinstance(child, NavigableString):
            text = str(child)
            if not preformatted:
                # Source line breaks inside a paragraph are layout, not content.
                text = re.sub(r"[ \t\r\n\f\v]+", " ", text)
            parts.append(text)
            continue
        if not isinstance(child, Tag):
            continue
        if child.name == "br":
            parts.append("\n")
            continue
        is_block = child.name in _BLOCK_TAGS
        if is_block:
            parts.append("\n\n")
        if child.name in _CELL_TAGS:
            parts.append(" ")
        _collect_text(child, parts, preformatted or child.name == "pre")
        if is_block:
            parts.append("\n\n")


def _html_metadata(soup: BeautifulSoup) -> tuple[str, str, str]:
    """(title, date, url) from meta tags, <title>, <h1>, <time> and the canonical link."""
    title = _meta_content(soup, ("og:title", "twitter:title"))
    if not title and soup.title and soup.title.string:
        title = _strip_site_suffix(soup.title.string)
    if not title:
        heading = soup.find("h1")
        if heading:
            title = heading.get_text(" ", strip=True)
    date = _meta_content(soup, _DATE_META_NAMES)
    if not date:
        time_tag = soup.find("time", attrs={"datetime": True})
        if time_tag:
            date = str(time_tag["datetime"])
    url = ""
    canonical = soup.find("link", rel="canonical", href=True)
    if canonical:
        url = str(canonical["href"])
    url = url or _meta_content(soup, ("og:url",))
    if date:
        date = normalise_date(date)
    return _tidy_title(title), date, url.strip()


def _meta_content(soup: BeautifulSoup, names: tuple[str, ...]) -> str:
    """Content of the first <meta> whose property/name/itemprop is in names (in names' order)."""
    found: dict[str, str] = {}
    for meta in soup.find_all("meta"):
        content = meta.get("content")
        if not content:
            continue
        for attr in ("property", "name", "itemprop"):
            key = str(meta.get(attr, "")).lower()
            if key in names and key not in found:
                found[key] = str(content).strip()
    for name in names:
        if found.get(name):
            return found[name]
    return ""


def _strip_site_suffix(title: str) -> str:
    """'Headline - Site' / 'Headline_Site' / 'Headline | Site' -> 'Headline'."""
    title = title.strip()
    parts = re.split(r"\s*[|_]\s*|\s+[-–—]\s+", title)
    if len(parts) > 1 and len(parts[0]) >= 4:
        return parts[0]
    return title


def _drop_furniture_elements(soup: BeautifulSoup) -> None:
    """Remove scripts, navigation, share/QR/related/comment blocks and the like, in place."""
    for tag in soup.find_all(list(_DROP_TAGS)):
        if _decomposed(tag):
            continue
        # An <article>'s own <header> holds its headline and byline, not site navigation.
        if tag.name == "header" and tag.find_parent("article"):
            continue
        tag.decompose()
    total = max(len(soup.get_text()), 1)
    for tag in soup.find_all(True):
        if _decomposed(tag) or tag.name in _NEVER_DROP:
            continue
        if not _FURNITURE_ATTR_RE.search(_class_and_id(tag)):
            continue
        if len(tag.get_text()) > _MAX_FURNITURE_SHARE * total:
            continue
        tag.decompose()


def _decomposed(tag: Tag) -> bool:
    """`tag.decomposed` without its cost: on a live tag, bs4 looks up the missing
    `_decomposed` attribute through Tag.__getattr__, i.e. searches the whole subtree for a
    tag of that name, which made deeply nested pages quadratic (5000 nested divs: 11 s)."""
    return bool(vars(tag).get("_decomposed", False))


def _class_and_id(tag: Tag) -> str:
    """class and id attributes as one lower-case string, camelCase split with '-'."""
    classes = tag.get("class") or []
    if isinstance(classes, str):
        classes = [classes]
    value = " ".join([*classes, str(tag.get("id") or "")])
    value = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", value)
    return value.lower()


# --------------------------------------------------------------------------------------
# PDF and DOCX
# --------------------------------------------------------------------------------------


def _read_pdf(raw: bytes, source: str) -> ParsedFile:
    """Text per page joined by blank lines, plus /Title and /CreationDate."""
    if b"%PDF-" not in raw[:1024]:
        raise IngestError(f"{source}: not a PDF (no %PDF header); check the file")
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            _decrypt_pdf(reader, source)
        pages = [page.extract_text() or "" for page in reader.pages]
    except IngestError:
        raise
    except Exception as exc:  # pypdf raises many types on damaged files
        problem = f"{type(exc).__name__}: {exc}"
        message = f"{source}: corrupt or truncated PDF ({problem}); re-download or re-export it"
        raise IngestError(message) from None
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise IngestError(f"{source}: PDF has no extractable text (scanned images?); run OCR on it first")
    title, date = _pdf_metadata(reader)
    return ParsedFile(text, title, date)


def _decrypt_pdf(reader: PdfReader, source: str) -> None:
    """Open PDFs that only have an owner password; others need decrypting first."""
    message = f"{source}: encrypted PDF: decrypt it first (e.g. qpdf --decrypt in.pdf out.pdf)"
    try:
        opened = reader.decrypt("")
    except DependencyError:
        # AES needs the optional 'cryptography' package, which is not a dependency.
        raise IngestError(message) from None
    if not opened:
        raise IngestError(message)


def _pdf_metadata(reader: PdfReader) -> tuple[str, str]:
    """(title, creation date) from the PDF info dictionary; missing or broken values give ""."""
    try:
        info = reader.metadata
        if info is None:
            return "", ""
        title = _tidy_title(info.title or "")
        created = info.creation_date
    except Exception:  # malformed info dictionaries are common and never worth failing over
        return "", ""
    date = created.date().isoformat() if created else ""
    return title, date


def _read_docx(raw: bytes, source: str) -> ParsedFile:
    """Paragraphs and table rows in document order; title from core properties or first heading."""
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
    title = _tidy_title(document.core_properties.title) or _tidy_title(heading)
    # core_properties.created is when the file (or its template) was made, not a publication date.
    return ParsedFile("\n\n".join(blocks), title)


def _is_heading_style(paragraph: Paragraph) -> bool:
    """True for Title and Heading N paragraph styles."""
    name = paragraph.style.name if paragraph.style is not None else ""
    return name == "Title" or name.startswith("Heading")


def _docx_table_rows(table: Table) -> list[str]:
    """One line per table row, cells separated by ' | ' (merged cells counted once)."""
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = cell.text.strip()
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return rows


# --------------------------------------------------------------------------------------
# Cleaning
# --------------------------------------------------------------------------------------

_TONE_MARKS = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹḿ"
_CJK_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# A CJK character followed by "(guān)" or "（guān）": the candidate; the syllable check is below.
_PINYIN_ANNOTATION_RE = re.compile(
    rf"(?<=[{_CJK_CLASS}])[(（]\s*([A-Za-zü{_TONE_MARKS}]{{1,7}})\s*[)）]"
)
# Initial + final, or one of the syllabic nasals (ń, ň, ḿ). ü is compared as u.
_PINYIN_SYLLABLE_RE = re.compile(
    r"(zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?"
    r"(iang|iong|uang|ang|eng|ing|ong|ian|iao|uai|uan|ai|ao|an|ei|en|er|ia|ie|in|iu|ou|"
    r"ua|ue|ui|un|uo|a|e|i|o|u)"
    r"|hng|hm|ng|n|m"
)
_SENTENCE_END_RE = re.compile(r"[。！？；]|[.!?](?:\s|$)")
_TIMESTAMP_LINE_RE = re.compile(r"\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?")
_BULLETS = "•·▪◦●○■□-*–—"
_MIN_PROSE_CHARS = 30

# Line patterns, matched against the line converted to simplified Chinese (see `_simplified`).
# _UI_RE and _RELATED_RE see the line with spaces and brackets removed, hence "backtotop".
_SHARE_RE = re.compile(
    r"分享到|分享至|分享给|一键分享|浏览器分享|分享功能|微信好友|^朋友圈$|扫一扫|"
    r"扫.{0,6}二维码|二维码.{0,6}(扫|关注|下载|分享)|^二维码$|扫码(关注|阅读|下载|分享|查看)|"
    r"^[-—|·\s]*分享[-—|·\s]*$|^(share|tweet)(\s+(this|on|via|to|with|so)\b.*)?$",
    re.I,
)
_ICP_RE = re.compile(r"icp\s*[备证]|公网安备|网安备\s*\d|增值电信业务经营许可证", re.I)
_COPYRIGHT_RE = re.compile(
    r"版权所有|copyright\s*(©|\(c\)|&copy;|\d{4})|©\s*\d{4}|all rights reserved|"
    r"未经.{0,20}(授权|许可).{0,20}(转载|使用|复制)|转载请注明",
    re.I,
)
_NAV_RE = re.compile(r"^(首页|主页|home)\s*[>›»/＞]|当前位置|您的位置|你的位置|you are here", re.I)
_READING_RE = re.compile(r"^正在阅读\s*[:：]")
_SLASH_LABEL_RE = re.compile(r"^[/|»>•·\-–—]\s*[A-Z][A-Z &'-]{2,30}$")
_KNOWN_LABELS = frozenset(("headlines", "breaking news", "top stories", "latest news"))
_UI_RE = re.compile(
    r"(返回顶部|回到顶部|返回首页|返回列表|打印本页|打印本文|打印|关闭窗口|关闭本页|关闭|收藏本页|"
    r"加载更多|查看更多|阅读剩余全文|展开全文|阅读全文|点击查看全文|读取内容中[,，]?请等待\.*|"
    r"backtotop|closewindow|printthispage|print)+",
    re.I,
)
_UI_SEPARATORS_RE = re.compile(r"[\[\]【】()（）|/·•\s:：]+")
_CREDIT_RE = re.compile(
    r"(责任编辑|责编|编辑|审核|审校|校对|监制|editors?|edited by)\s*[:：]|^\(?edited by\b", re.I
)
_INLINE_CREDIT_RE = re.compile(
    r"[(（【\[][^()（）【】\[\]]{0,60}?(责任编辑|责编|编辑|审核)\s*[:：/][^()（）【】\[\]]{0,80}[)）】\]]\s*$"
)
_TAGS_RE = re.compile(r"^(tags?|标签)\s*[:：]", re.I)
_PAGER_RE = re.compile(r"^(PREV|NEXT)\b|^(上一篇|下一篇|上一条|下一条)|^(previous|next) (article|post|story)\s*[:：]")
_RELATED_RE = re.compile(
    r"相关阅读|相关新闻|相关文章|相关报道|相关链接|相关推荐|推荐阅读|延伸阅读|热门推荐|热门文章|"
    r"热点新闻|热门新闻|猜你喜欢|精彩推荐|更多新闻|排行榜|.{0,8}(点击|阅读|浏览|热门|人气)量?(排行榜|排行|排名)|"
    r"related(news|articles|stories|posts|content|reading)?|recommended(foryou)?|"
    r"youmayalsolike|morestories|mostread|readmore",
    re.I,
)
_MAX_LEN = {"share": 40, "icp": 200, "copyright": 200, "nav": 120, "credit": 80, "ui": 40, "related": 20}
# Kinds of furniture that, once the article body has begun, start a sidebar of unrelated items.
_SIDEBAR_STARTERS = frozenset(("related", "share"))
_BYLINE_RE = re.compile(
    r"^(来源|来自|稿源|时间|发布时间|发布日期|更新时间|日期|作者|记者|文|source|by|published|posted|"
    r"updated|date)\s*[:：\s]",
    re.I,
)


@dataclass
class CleanedText:
    """Cleaned text plus the lines taken out, as (kind, line), e.g. ("credit", "责任编辑：X")."""

    text: str
    removed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def credits(self) -> list[str]:
        """Editor/reviewer credit lines that were removed from the text."""
        return [line for kind, line in self.removed if kind == "credit"]


def clean_text(text: str) -> str:
    """Cleaned text: tidy whitespace, no pinyin artefacts, no page furniture, no sidebars."""
    return clean_text_with_log(text).text


def clean_text_with_log(text: str) -> CleanedText:
    """`clean_text`, also reporting every line it removed and why."""
    text = _normalise_whitespace(text)
    text = strip_pinyin_annotations(text)
    lines = [line.strip() for line in text.split("\n")]
    removed: list[tuple[str, str]] = []
    lines = _drop_furniture_lines(lines, removed)
    lines = _drop_repeated_lines(lines, removed)
    joined = "\n".join(lines)
    joined = re.sub(r"\n{3,}", "\n\n", joined).strip()
    return CleanedText(joined, removed)


def _normalise_whitespace(text: str) -> str:
    """Unix newlines, no zero-width characters or BOMs, no-break spaces as spaces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n\n").replace("\f", "\n\n")
    text = re.sub("[\u200b\u200c\u200d\u2060\ufeff]", "", text)
    text = text.replace("\xa0", " ")
    # Trailing spaces and tabs go; leading ones are handled per line by the caller.
    return re.sub(r"[ \t\u3000]+\n", "\n", text)


def strip_pinyin_annotations(text: str) -> str:
    """'區(qū)' -> '區', '關(guān)注' -> '關注'; real parentheticals like '(BIT)' stay."""
    return _PINYIN_ANNOTATION_RE.sub(_drop_if_pinyin, text)


def _drop_if_pinyin(match: re.Match[str]) -> str:
    """Replacement for one candidate: "" if it holds exactly one toned pinyin syllable."""
    if is_toned_pinyin_syllable(match.group(1)):
        return ""
    return match.group(0)


def is_toned_pinyin_syllable(word: str) -> bool:
    """True for one pinyin syllable with exactly one tone mark ('guān', 'xué'; not 'café')."""
    tone_marks = sum(1 for char in word if char in _TONE_MARKS)
    if tone_marks != 1:
        return False
    # NFD splits "ǜ" into "u" plus combining marks; dropping the marks leaves plain letters.
    base = unicodedata.normalize("NFD", word.lower())
    base = "".join(char for char in base if not unicodedata.combining(char))
    return _PINYIN_SYLLABLE_RE.fullmatch(base) is not None


def boilerplate_kind(line: str) -> str | None:
    """Why a whole (stripped) line is page furniture: 'share', 'icp', 'credit', ...; None for content."""
    if not line:
        return None
    simple = _simplified(line)
    compact = _UI_SEPARATORS_RE.sub("", simple)
    checks = (
        ("share", _SHARE_RE.search(simple)),
        ("icp", _ICP_RE.search(simple)),
        ("copyright", _COPYRIGHT_RE.search(simple)),
        ("nav", _NAV_RE.search(simple)),
        ("reading", _READING_RE.search(simple)),
        ("credit", _is_credit_line(simple)),
        ("ui", compact and _UI_RE.fullmatch(compact)),
        ("related", compact and _RELATED_RE.fullmatch(compact)),
        ("tags", _TAGS_RE.search(simple)),
        ("pager", _PAGER_RE.search(line)),
        ("label", _SLASH_LABEL_RE.match(line) or line.lower() in _KNOWN_LABELS),
    )
    for kind, matched in checks:
        if matched and len(line) <= _MAX_LEN.get(kind, 1000):
            return kind
    return None


def _is_credit_line(simple: str) -> bool:
    """An editor/reviewer credit with no sentence before it (those are cut by _strip_inline_credit)."""
    match = _CREDIT_RE.search(simple)
    return match is not None and not _SENTENCE_END_RE.search(simple[: match.start()])


def _drop_furniture_lines(lines: list[str], removed: list[tuple[str, str]]) -> list[str]:
    """Remove furniture lines, and the sidebar list that follows a marker once the body began."""
    following = _next_nonblank_lines(lines)
    kept: list[str] = []
    body_started = False
    in_sidebar = False
    for line, next_line in zip(lines, following):
        if in_sidebar and _is_sidebar_item(line, next_line):
            if line:
                removed.append(("sidebar", line))
            continue
        in_sidebar = False
        kind = boilerplate_kind(line)
        if kind:
            removed.append((kind, line))
            # Before the body, "相关新闻" or share buttons are just a line of site chrome;
            # after it, they head a list of unrelated headlines.
            in_sidebar = body_started and kind in _SIDEBAR_STARTERS
            continue
        line = _strip_inline_credit(line, removed)
        kept.append(line)
        if is_prose(line):
            body_started = True
    return kept


def _next_nonblank_lines(lines: list[str]) -> list[str]:
    """For each line, the next non-blank line after it ("" at the end)."""
    following = [""] * len(lines)
    upcoming = ""
    for index in range(len(lines) - 1, -1, -1):
        following[index] = upcoming
        if lines[index]:
            upcoming = lines[index]
    return following


def _is_sidebar_item(line: str, next_line: str) -> bool:
    """Inside a sidebar: blanks, headlines, bullets, counters, timestamps and dated teasers."""
    if not line or line.isdigit() or _TIMESTAMP_LINE_RE.fullmatch(line):
        return True
    if boilerplate_kind(line):
        return True
    # A teaser, however sentence-like, is followed by its publication time.
    if _TIMESTAMP_LINE_RE.fullmatch(next_line):
        return True
    if line[0] in _BULLETS and len(line) <= 100:
        return True
    return not is_prose(line)


def is_prose(line: str) -> bool:
    """A line punctuated like running text (not a headline, label or link)."""
    if len(line) >= 200:
        return True
    return len(line) >= _MIN_PROSE_CHARS and _SENTENCE_END_RE.search(line) is not None


def _strip_inline_credit(line: str, removed: list[tuple[str, str]]) -> str:
    """Cut a trailing '(供稿/编辑:X 审核:Y)' credit off the end of a content paragraph."""
    simple = _simplified(line)
    match = _INLINE_CREDIT_RE.search(simple)
    # Offsets from the simplified copy are only valid when conversion kept the length.
    if not match or len(simple) != len(line):
        return line
    removed.append(("credit", line[match.start():].strip()))
    return line[: match.start()].rstrip()


def _drop_repeated_lines(lines: list[str], removed: list[tuple[str, str]]) -> list[str]:
    """Drop a line identical to the previous non-blank line (scraped titles often repeat)."""
    kept: list[str] = []
    previous = ""
    for line in lines:
        if line and line == previous:
            removed.append(("duplicate", line))
            continue
        kept.append(line)
        if line:
            previous = line
    return kept


@lru_cache(maxsize=1)
def _t2s_converter() -> opencc.OpenCC:
    """The OpenCC traditional->simplified converter, built once."""
    return opencc.OpenCC("t2s")


@lru_cache(maxsize=8192)
def _simplified(line: str) -> str:
    """The line in simplified Chinese, for pattern matching only (text itself is never converted)."""
    return _t2s_converter().convert(line)


# --------------------------------------------------------------------------------------
# Title and language
# --------------------------------------------------------------------------------------

_HEAD_LINE_LIMIT = 25
_CJK_RE = re.compile(f"[{_CJK_CLASS}\U00020000-\U0002fa1f]")
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
        if _BYLINE_RE.match(_simplified(line)) and _is_heading_like(previous):
            return previous
    if headings:
        return headings[-1]
    for line in text.splitlines():
        line = strip_pinyin_annotations(line).strip()
        if line and not boilerplate_kind(line):
            return line[:_MAX_TITLE_CHARS]
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
    if _BYLINE_RE.match(_simplified(line)) or _TIMESTAMP_LINE_RE.fullmatch(line):
        return False
    return line[-1] not in "。.；;:：,，、"


def _markdown_heading(body: str) -> str:
    """Text of the first '# ' or '## ' heading in markdown, or ""."""
    match = re.search(r"^#{1,2}[ \t]+(.+?)[ \t#]*$", body, re.M)
    if not match:
        return ""
    return _tidy_title(match.group(1))


def detect_lang(text: str) -> str:
    """'zh' when CJK characters dominate, else 'en' (one hanzi weighs about three Latin letters)."""
    cjk = len(_CJK_RE.findall(text))
    latin = len(_LATIN_RE.findall(text))
    if cjk and cjk * 3 >= latin:
        return "zh"
    return "en"
