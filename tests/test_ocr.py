"""Scans and photos through OCR, and bad files that must stay harmless.

The documents are real (see _documents.py): Chromium prints the pages, PDFium rasterises
them into an image-only PDF, a page is "photographed" (turned, blurred, JPEG), and the bad
files are a password-locked PDF, a truncated one, a page-less one, a 2,000-page one and a
PNG whose header declares 1.6 G pixels. One folder holds them all, indexed once.
"""
from __future__ import annotations

import time

import pytest

from _documents import (  # noqa: F401  (real_documents, real_ingest are fixtures)
    LOCKED_QUESTION,
    PHOTO_ANSWER,
    PHOTO_QUESTION,
    SCAN_ANSWER,
    SCAN_QUESTION,
    real_documents,
    real_ingest,
)
from rag.errors import IngestError
from rag.ingest import load_document

BAD_FILES = {
    "bad-password.pdf": "encrypted PDF: decrypt it first",
    "bad-truncated.pdf": "corrupt or truncated PDF",
    "bad-no-pages.pdf": "PDF has no pages",
    "bad-2000-pages.pdf": "PDF has 2000 pages, over the limit of 1000",
    "bad-bomb.png": "over the limit of 50 MP",
}


def test_scan_fact_on_page_two_is_answered_through_ocr_with_page_two_cited(real_ingest):
    assistant, _ = real_ingest
    answer = assistant.ask(SCAN_QUESTION)
    assert not answer.abstained, answer.text
    cited = [c for c in answer.citations if SCAN_ANSWER in c.quote]
    assert cited, answer.citations
    assert (cited[0].source, cited[0].page, cited[0].page_label) == ("scan.pdf", 2, "p. 2")
    assert [page.label for page in assistant.document_pages("scan.pdf")] == ["p. 1", "p. 2", "p. 3"]


def test_photo_of_a_page_is_answered(real_ingest):
    assistant, _ = real_ingest
    answer = assistant.ask(PHOTO_QUESTION)
    assert not answer.abstained, answer.text
    cited = [c for c in answer.citations if c.source == "photo.jpg"]
    assert cited and PHOTO_ANSWER in cited[0].quote, answer.citations
    assert cited[0].page is None  # one image is one unpaged text


def test_bad_files_are_skipped_with_a_one_line_reason_and_lose_nothing(real_ingest):
    assistant, report = real_ingest
    skipped = dict(report.skipped)
    for name, reason in BAD_FILES.items():
        assert name in skipped, f"{name} was not skipped: {report.skipped}"
        assert reason in skipped[name] and "\n" not in skipped[name], skipped[name]
    indexed = {f.source for f in assistant.documents()}
    assert indexed == {"report.pdf", "scan.pdf", "photo.jpg", "owner-locked.pdf"}
    # A PDF locked with an owner password only opens without one, and is answered from.
    answer = assistant.ask(LOCKED_QUESTION)
    assert any(c.source == "owner-locked.pdf" and "east gate" in c.quote for c in answer.citations), answer


def test_a_huge_or_bomb_file_is_refused_quickly(real_documents):
    for name in ("bad-2000-pages.pdf", "bad-bomb.png"):
        began = time.perf_counter()
        with pytest.raises(IngestError, match=BAD_FILES[name]):
            load_document(real_documents / name, real_documents)
        assert time.perf_counter() - began < 3, name


def test_page_view_of_a_scan_marks_the_ocr_lines(real_ingest, real_documents):
    from rag.pages import show_page

    assistant, _ = real_ingest
    text = assistant.document_text("scan.pdf")
    start = text.index(SCAN_ANSWER)
    view = show_page(real_documents / "scan.pdf", 2, text[start - 10 : start + len(SCAN_ANSWER)])
    assert view.boxes, "the quote was not found among page 2's OCR lines"
    assert not show_page(real_documents / "scan.pdf", 3, SCAN_ANSWER).boxes
