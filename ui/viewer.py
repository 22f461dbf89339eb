"""The page viewer: a cited PDF page (or image) as it looks, with the quote highlighted, and
the page's cleaned text beside it for copying.

A source card's "View page" button (render.page_button_html) writes its citation into a
hidden textbox; its change event renders the page with rag.pages.show_page.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import gradio as gr

from . import render

log = logging.getLogger(__name__)

REQUEST_ID = "rag-page-request"

CSS = """
.rag-hidden { display: none !important; }
#rag-page-text .rag-doc-text { max-height: 640px; overflow-y: auto; white-space: pre-wrap; user-select: text; }
"""

# A card's page button fills the hidden request box (with a nonce, so asking for the same
# page twice still counts as a change) and scrolls the viewer into sight.
HEAD = """
<script>
(function () {
  document.addEventListener('click', function (e) {
    var button = e.target && e.target.closest && e.target.closest('.rag-page-btn');
    if (!button) return;
    e.preventDefault();
    e.stopPropagation();
    var box = document.querySelector('#%s textarea, #%s input');
    if (!box) return;
    var request = JSON.stringify({source: button.dataset.source, page: button.dataset.page,
      start: button.dataset.start, end: button.dataset.end, nonce: Date.now()});
    var setter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(box), 'value').set;
    setter.call(box, request);
    box.dispatchEvent(new Event('input', {bubbles: true}));
    var viewer = document.getElementById('rag-page-viewer');
    if (viewer) viewer.scrollIntoView({block: 'start', behavior: 'smooth'});
  }, true);
})();
</script>
""" % (REQUEST_ID, REQUEST_ID)


def page_viewer(assistant) -> None:
    """Add the viewer (caption, page image, page text) to the Blocks being built."""
    with gr.Column(elem_id="rag-page-viewer"):
        request = gr.Textbox(elem_id=REQUEST_ID, elem_classes=["rag-hidden"], show_label=False, container=False)
        caption = gr.Markdown("", elem_id="rag-page-caption")
        with gr.Row(equal_height=False):
            image = gr.Image(type="pil", interactive=False, show_label=False, elem_id="rag-page-image", scale=3)
            text = gr.HTML("", elem_id="rag-page-text", padding=False)
    request.change(lambda value: show_request(assistant, value), [request], [caption, image, text], show_progress="minimal")


def show_request(assistant, value: str):
    """(caption, image, text html) for a page request from a source card."""
    if not value:
        return gr.update(), gr.update(), gr.update()
    try:
        request = json.loads(value)
        source = str(request["source"])
        page = int(request["page"]) if request.get("page") not in (None, "") else None
        start, end = int(request["start"]), int(request["end"])
    except (ValueError, KeyError, TypeError):
        return "⚠ Not a page request.", None, ""
    try:
        return _show(assistant, source, page, start, end)
    except Exception as exc:  # a removed file or a failed render must not break the page
        log.warning("page view of %s p. %s failed: %s", source, page, exc)
        return f"⚠ Cannot show {render.md_escape(source)}: {render.md_escape(str(exc))}", None, ""


def _show(assistant, source: str, page: int | None, start: int, end: int):
    from rag.pages import show_page

    path = _document_path(assistant, source)
    text = assistant.document_text(source) or ""
    pages = assistant.document_pages(source)
    quote = text[start:end]
    view = show_page(path, page, quote)
    first, last = _page_span(pages, page, len(text))
    span = (start - first, min(end, last) - first) if first <= start < last else None
    label = pages[page - 1].label if page and page <= len(pages) else "image"
    found = "quote highlighted" if view.boxes else "quote not found on the rendered page"
    caption = f"**{render.md_escape(source)}** · {render.md_escape(label)} · {found}"
    return caption, view.image, render.full_document_html(text[first:last], span, "rag-page-mark")


def _document_path(assistant, source: str) -> Path:
    """The indexed file behind a source name, refused when it is not one (or leaves the folder)."""
    indexed = {f.source for f in assistant.documents()}
    root = Path(assistant.config.docs_dir).resolve()
    path = (root / source).resolve()
    if source not in indexed or not path.is_relative_to(root):
        raise ValueError("not an indexed document")
    return path


def _page_span(pages, page: int | None, length: int) -> tuple[int, int]:
    """Where the page's text lies in the document text (all of it when unpaged)."""
    if not page or page > len(pages):
        return 0, length
    end = pages[page].start if page < len(pages) else length
    return pages[page - 1].start, end
