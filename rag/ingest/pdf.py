"""PDF: the text layer of every page, with the document's title and creation date."""
from __future__ import annotations

import io

from pypdf import PdfReader
from pypdf.errors import DependencyError

from ..errors import IngestError
from .meta import tidy_title
from .parsed import ParsedFile


def read_pdf(raw: bytes, source: str) -> ParsedFile:
    """Text of every page ("p. 1", "p. 2", ...), plus /Title and /CreationDate."""
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
    if not any(page.strip() for page in pages):
        raise IngestError(f"{source}: PDF has no extractable text (scanned images?); run OCR on it first")
    title, date = _pdf_metadata(reader)
    labelled = tuple((f"p. {number}", page) for number, page in enumerate(pages, start=1))
    return ParsedFile("", title, date, pages=labelled)


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
        title = tidy_title(info.title or "")
        created = info.creation_date
    except Exception:  # malformed info dictionaries are common and never worth failing over
        return "", ""
    date = created.date().isoformat() if created else ""
    return title, date
