"""Page-cited PDFs: pages, reading order, running heads, text that matches, the page viewer.

Units first (literal strings and boxes), then real PDFs printed by Chromium with
fonts-noto-cjk (see _documents.py), the real embedding model and real Chroma.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import pytest
from pypdf import PdfReader

from _documents import REPORT_ANSWER, REPORT_QUESTION, real_documents, real_ingest  # noqa: F401  (fixtures)
from eval.documents import PAGE_CSS, chromium_pdf
from rag.cli import format_answer
from rag.ingest import load_document
from rag.ingest.layout import Line, drop_running_lines, page_text, reading_order
from rag.ingest.normalise import normalise_text
from rag.ingest.paging import join_pages
from rag.types import page_at

RADICAL_BLOCKS = ((0x2E80, 0x2EFF), (0x2F00, 0x2FDF))


def radicals(text: str) -> list[str]:
    return [char for char in text if any(low <= ord(char) <= high for low, high in RADICAL_BLOCKS)]


# ---- text that matches --------------------------------------------------------------------


def test_radicals_and_compatibility_forms_become_the_characters_they_show():
    # ⻘ U+2ED8 (radical supplement: NFKC leaves it), ⾯ U+2FAF and ⽣ U+2F63 (Kangxi),
    # 﨑 U+FA11 is a unified ideograph and stays, 豈 U+F900 is a compatibility one.
    assert normalise_text("⻘松湖⽣态园占地⾯积") == "青松湖生态园占地面积"
    assert normalise_text("\uf900") == "\u8c48" and normalise_text("\ufa11") == "\ufa11"
    assert normalise_text("ﬁnancial ﬂows, ﬀ") == "financial flows, ff"
    # Full-width Chinese punctuation and superscripts are not touched (NFKC would).
    assert normalise_text("面积：２０㎡，m²。") == "面积：２０㎡，m²。"


def test_soft_hyphens_and_line_break_hyphenation_are_undone():
    assert normalise_text("co\u00adoper\u00ad\nation") == "cooperation"
    assert normalise_text("an exam-\nple of it") == "an example of it"
    # The document writes "well-known" on one line, so the broken one keeps its hyphen.
    assert normalise_text("a well-known case; a well-\nknown case") == "a well-known case; a well-known case"
    # A dash before a new sentence or list item is not a broken word.
    assert normalise_text("Result -\nThe next") == "Result -\nThe next"


# ---- pages --------------------------------------------------------------------------------


def test_pages_are_cleaned_alone_and_marked_where_they_begin():
    text, pages = join_pages((("p. 1", "First page."), ("p. 2", "   "), ("p. 3", "Third page."), ("p. 4", "")))
    assert text == "First page.\n\nThird page."
    assert [page.label for page in pages] == ["p. 1", "p. 2", "p. 3", "p. 4"]
    # The empty page 2 starts where page 3 does, so no offset ever lands on it.
    assert [page_at(pages, offset) for offset in (0, 10, 13, len(text) - 1)] == [1, 1, 3, 3]
    assert page_at((), 5) is None


def test_two_columns_are_read_one_after_the_other():
    lines = [Line("Title across the page", 50, 40, 550, 60)]
    for row in range(4):
        top = 100 + row * 20
        lines.append(Line(f"left {row}", 50, top, 280, top + 12))
        lines.append(Line(f"right {row}", 320, top, 550, top + 12))
    lines.append(Line("Footer across the page", 50, 700, 550, 712))
    order = [line.text for line in reading_order(lines, 600)]
    assert order == ["Title across the page", *(f"left {i}" for i in range(4)), *(f"right {i}" for i in range(4)),
                     "Footer across the page"]
    # A form's short keys and values side by side are not columns: read row by row.
    form = [Line(f"Key {row}:", 50, 100 + row * 20, 100, 112 + row * 20) for row in range(5)]
    form += [Line(f"value {row}", 350, 100 + row * 20, 420, 112 + row * 20) for row in range(5)]
    assert [line.text for line in reading_order(form, 600)][:4] == ["Key 0:", "value 0", "Key 1:", "value 1"]


def test_wrapped_lines_are_joined_into_paragraphs():
    lines = [
        Line("青松湖生态园占地面积为一千二百八十", 50, 100, 500, 112),  # full: the paragraph goes on
        Line("公顷。", 50, 118, 90, 130),  # short: it ends
        Line("An English sentence that wraps", 50, 150, 500, 162),
        Line("onto the next line.", 50, 168, 250, 180),
        Line("A new paragraph after a gap.", 50, 210, 400, 222),
    ]
    assert page_text(lines, 600) == [
        "青松湖生态园占地面积为一千二百八十公顷。",
        "An English sentence that wraps onto the next line.",
        "A new paragraph after a gap.",
    ]


def test_running_titles_and_page_numbers_are_dropped():
    bodies = [["The survey began.", "Two sites were added."], ["Flows rose in May.", "Levels fell."],
              ["Costs are listed below.", "Staff grew to 12."], ["The board approved it.", "Work starts soon."]]
    pages = [["Annual Review 2023", *body, f"- {n} -"] for n, body in enumerate(bodies, start=1)]
    pages[2].append("第 3 页")
    assert drop_running_lines(pages) == bodies
    # One page alone has no running lines; a body line that merely looks alike stays.
    assert drop_running_lines([["Annual Review 2023", "Text.", "12 apples were sold."]]) == [
        ["Annual Review 2023", "Text.", "12 apples were sold."]
    ]


# ---- real PDFs ----------------------------------------------------------------------------


def test_printed_chinese_report_reads_as_the_characters_it_shows(real_documents):
    pdf = real_documents / "report.pdf"
    # The file really has the problem: pypdf reads radical code points out of it.
    assert radicals(PdfReader(pdf).pages[2].extract_text())
    doc = load_document(pdf, real_documents)
    assert not radicals(doc.text)
    assert [page.label for page in doc.pages] == ["p. 1", "p. 2", "p. 3"]
    fact = doc.text.index("青松湖生态园占地面积为一千二百八十公顷")
    assert doc.page_at(fact) == 3
    # Lines wrapped by the layout are joined back: no break inside the page-1 sentence.
    assert "全年接待游客十二万人次" in doc.text


def test_two_column_pdf_reads_in_column_order_without_running_heads(tmp_path: Path):
    paragraphs = [f"Paragraph {n} says that station {n} measured {n * 7} units of flow during the dry season, "
                  "which the committee found acceptable across all of the northern sites." for n in range(1, 9)]
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    closing = "<p>The second page closes the review with thanks to the field teams.</p>"
    pages = "".join(
        f'<div class="page"><div class="running">Riverside Basin Review</div><div class="cols">{body}</div>'
        f'<p style="text-align:center;font-size:8pt">{n}</p></div>' for n, body in ((1, body), (2, closing))
    )
    html = f"<!doctype html><html><head><meta charset=utf-8><style>{PAGE_CSS}</style></head><body>{pages}</body></html>"
    doc = load_document(chromium_pdf(html, tmp_path / "twocol.pdf"), tmp_path)
    page_one = doc.text[: doc.pages[1].start]
    positions = [page_one.index(f"Paragraph {n} says") for n in range(1, 9)]
    assert positions == sorted(positions), "columns were interleaved"
    assert "Riverside Basin Review" not in doc.text
    assert "station 8 measured 56 units of flow during the dry season, which the committee" in page_one


def test_page_three_fact_is_answered_with_page_three_cited(real_ingest):
    assistant, _report = real_ingest
    answer = assistant.ask(REPORT_QUESTION)
    assert not answer.abstained, answer.text
    cited = [c for c in answer.citations if REPORT_ANSWER in c.quote]
    assert cited, answer.citations
    citation = cited[0]
    assert (citation.source, citation.page, citation.page_label) == ("report.pdf", 3, "p. 3")
    assert assistant.document_text("report.pdf")[citation.start:citation.end] == citation.quote
    # The CLI and --json show the page.
    assert "(report.pdf, p. 3" in format_answer(answer)
    data = json.loads(json.dumps(asdict(answer), ensure_ascii=False))
    assert any(c["page"] == 3 and c["page_label"] == "p. 3" for c in data["citations"])


def test_unpaged_sources_cite_no_page(seeds_assistant):
    answer = seeds_assistant.ask("哪些企业将入驻山河湾谷创新区？")
    assert answer.citations and all(c.page is None and c.page_label == "" for c in answer.citations)


def test_page_view_marks_the_quote_on_the_rendered_page(real_ingest, real_documents):
    from rag.pages import show_page

    assistant, _ = real_ingest
    text = assistant.document_text("report.pdf")
    quote = text[text.index("青松湖生态园占地面积") :].split("。")[0] + "。"
    began = time.perf_counter()
    view = show_page(real_documents / "report.pdf", 3, quote)
    assert time.perf_counter() - began < 5
    assert view.boxes, "the quote was not found on page 3"
    width, height = view.image.size
    assert max(width, height) == pytest.approx(1600, abs=2)
    # On page 3, under its heading, in the upper part of the page.
    assert all(0 < top < bottom < height / 2 for _, top, _, bottom in view.boxes)
    assert not show_page(real_documents / "report.pdf", 1, quote).boxes


@pytest.mark.slow
def test_page_viewer_in_browser(real_ingest):
    """Ask in the real app, click the card's page button, see page 3 with the quote marked."""
    from playwright.sync_api import sync_playwright

    from _servers import free_port
    from test_ui import CHROMIUM, CHROMIUM_ARGS, ChatPage
    from ui.app import build_app, launch_kwargs

    assistant, _ = real_ingest
    demo = build_app(assistant)
    demo.queue()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
            page.locator("#rag-question textarea").wait_for(state="visible", timeout=30_000)
            ChatPage(page, Path(".")).ask(REPORT_QUESTION)
            card = page.locator('#rag-sources .rag-card[data-source="report.pdf"]').first
            assert "p. 3" in card.locator(".rag-meta").inner_text()
            card.locator(".rag-page-btn").click()
            page.locator("#rag-page-image img").wait_for(state="visible", timeout=30_000)
            caption = page.locator("#rag-page-caption").inner_text()
            assert "report.pdf" in caption and "p. 3" in caption and "quote highlighted" in caption, caption
            marked = page.locator("#rag-page-text mark").inner_text()
            assert REPORT_ANSWER in marked
            browser.close()
    finally:
        demo.close()


def test_files_indexed_under_an_older_schema_are_read_again(tmp_path: Path, embedder):
    """Rows written before chunks carried pages are re-indexed, not trusted."""
    from rag import Assistant
    from rag.index import SCHEMA

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The ferry leaves the north pier at seven every morning.", encoding="utf-8")
    (docs / "b.txt").write_text("The museum is closed on Mondays and public holidays.", encoding="utf-8")
    assistant = Assistant(docs, tmp_path / "index", embedder=embedder)
    assistant.ingest()
    assert {f.schema for f in assistant.index.files().values()} == {SCHEMA}
    rows = assistant.index.documents
    row = rows.get(ids=["doc:a.txt"], include=["metadatas"])["metadatas"][0]
    rows.update(ids=["doc:a.txt"], metadatas=[{**{k: v for k, v in row.items() if k != "schema"}, "schema": 1}])
    report = assistant.ingest()
    assert report.updated == ["a.txt"] and report.unchanged == 1
    assert {f.schema for f in assistant.index.files().values()} == {SCHEMA}
