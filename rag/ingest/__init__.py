"""Read corpus files (txt, md, html, pdf, docx, pptx, xlsx, xls, csv, images) into cleaned `Document`s.

Each format reader (registered by suffix in `formats.py`) returns text, or text per page,
plus whatever metadata the format carries. Glyphs are then normalised (`normalise.py`:
radicals and compatibility forms as the ideographs they show, ligatures, hyphenation) and
`clean_text` removes scraping debris (share prompts, ICP lines, sidebars, pinyin
artefacts) the same way for every format, page by page for paged sources. `Document.text`
is never converted between traditional and simplified Chinese: quotes and offsets must
match what the author wrote.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from ..errors import IngestError
from ..types import Document
from .clean import (
    CleanedText,
    boilerplate_kind,
    clean_text,
    clean_text_with_log,
    is_prose,
    is_toned_pinyin_syllable,
    strip_pinyin_annotations,
)
from .decode import decode_text
from .formats import READERS, SUPPORTED_SUFFIXES
from .html import html_to_text, looks_like_html, parse_html
from .meta import derive_title, detect_lang, find_text_date, normalise_date, parse_date, split_front_matter, tidy_title
from .normalise import normalise_text
from .paging import join_pages
from .parsed import ParsedFile
from .walk import (
    MAX_FILE_MB,
    file_sha256,
    list_corpus_entries,
    list_corpus_files,
    size_problem,
    source_name,
    walk_corpus,
)

__all__ = [
    "MAX_FILE_MB", "READERS", "SUPPORTED_SUFFIXES", "CleanedText", "ParsedFile", "boilerplate_kind",
    "clean_text", "clean_text_with_log", "decode_text", "derive_title", "detect_lang", "file_sha256",
    "find_text_date", "html_to_text", "is_prose", "is_toned_pinyin_syllable", "iter_documents",
    "list_corpus_entries", "list_corpus_files", "load_document", "load_documents", "looks_like_html",
    "normalise_date", "normalise_text", "parse_date", "parse_html", "source_name", "split_front_matter",
    "strip_pinyin_annotations",
]

log = logging.getLogger(__name__)


def iter_documents(
    root: Path, *, max_file_mb: float = MAX_FILE_MB
) -> Iterator[Document | tuple[Path, IngestError]]:
    """Yield a Document per corpus file, or (path, IngestError) for a file that was skipped."""
    root = Path(root)
    for entry in walk_corpus(root, max_file_mb):
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


def load_document(path: Path, root: Path, *, max_file_mb: float = MAX_FILE_MB) -> Document:
    """Read, decode, parse and clean one file; raise IngestError naming the file if it can't be."""
    path = Path(path)
    source = source_name(path, Path(root))
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = ", ".join(SUPPORTED_SUFFIXES)
        raise IngestError(f"{source}: unsupported file type '{suffix}' (supported: {supported})")
    too_big = size_problem(path, max_file_mb)
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
    parsed = _normalised(_parse(raw, suffix, source))
    if not parsed.body.strip():
        raise IngestError(f"{source}: empty file (no text in it)")
    if parsed.pages:
        text, pages = join_pages(parsed.pages)
    else:
        text, pages = clean_text(parsed.text), ()
    if not text:
        raise IngestError(f"{source}: no text left after removing page furniture; check the file")
    title = tidy_title(parsed.title) or derive_title(parsed.body)
    return Document(
        source=source,
        text=text,
        title=title,
        date=parsed.date or find_text_date(text),
        url=parsed.url,
        lang=detect_lang(text),
        sha256=hashlib.sha256(raw).hexdigest(),
        pages=pages,
    )


def _normalised(parsed: ParsedFile) -> ParsedFile:
    """The reader's text, pages and title with glyphs normalised (before cleaning, so quotes
    stay exact spans of the cleaned text)."""
    pages = tuple((label, normalise_text(text)) for label, text in parsed.pages)
    return replace(parsed, text=normalise_text(parsed.text), title=normalise_text(parsed.title), pages=pages)


def _read_bytes(path: Path, source: str) -> bytes:
    """The file's bytes, with OS errors turned into IngestError."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{source}: cannot read file ({exc.strerror or exc})") from None


def _parse(raw: bytes, suffix: str, source: str) -> ParsedFile:
    """Dispatch to the reader registered for this suffix."""
    return READERS[suffix](raw, source)
