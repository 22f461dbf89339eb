"""The documents tab: the indexed files, upload, delete, re-index, view, and the folder watcher."""
from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

import gradio as gr

from . import render, watch
from .corpus import Corpus, max_upload_bytes, supported_suffixes

log = logging.getLogger(__name__)

DOC_HEADERS = ["Title", "Date", "Language", "Chunks", "File"]


@dataclass
class DocumentsTab:
    """The documents tab's components and the handlers behind them."""

    assistant: object
    corpus: Corpus
    table: gr.Dataframe
    uploader: gr.File
    upload_result: gr.HTML
    choice: gr.Dropdown
    delete_btn: gr.Button
    reindex_btn: gr.Button
    notice: gr.HTML
    view: gr.HTML
    watch_toggle: gr.Checkbox
    watch_note: gr.HTML

    def wire(self, status, refreshed: list, watcher) -> None:
        """Connect the handlers; `refreshed` are the components `status.refresh` updates."""

        def upload(files, progress=gr.Progress()):
            paths = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in (files or [])]
            if not paths:
                return (gr.update(), *status.refresh(), None)
            try:
                outcome = self.corpus.add_files(paths, progress=progress)
                rows = [(r.name, r.outcome, r.detail) for r in outcome.results]
                html = render.upload_results_html(rows) + render.notice_html(outcome.summary)
            except Exception as exc:
                log.error("upload failed:\n%s", traceback.format_exc())
                html = render.notice_html(f"Upload failed: {exc}", "error")
            return (html, *status.refresh(), None)

        def delete(source):
            if not source:
                return (render.notice_html("Choose a document to delete first.", "error"), *status.refresh())
            try:
                html = render.notice_html(f"Deleted {source}. {self.corpus.delete(source).summary()}")
            except Exception as exc:
                html = render.notice_html(f"Could not delete {source}: {exc}", "error")
            return (html, *status.refresh())

        def reindex():
            try:
                report = self.corpus.reindex()
                status.startup.message = report.summary()
                rows = [(s, "skipped", reason) for s, reason in report.skipped]
                html = render.notice_html(f"Re-indexed: {report.summary()}") + render.upload_results_html(rows)
            except Exception as exc:
                html = render.notice_html(f"Re-indexing failed: {exc}", "error")
            return (html, *status.refresh())

        self.uploader.upload(upload, [self.uploader], [self.upload_result, *refreshed, self.uploader])
        self.delete_btn.click(
            delete,
            [self.choice],
            [self.notice, *refreshed],
            js="(s) => (s && confirm('Delete ' + s + ' from the documents folder?')) ? s : ''",
        )
        self.reindex_btn.click(reindex, None, [self.notice, *refreshed])
        self.choice.change(self.show, [self.choice], [self.view], show_progress="hidden")
        watch.wire(watcher, self.watch_toggle, self.watch_note, self.choice, refreshed, status.refresh)

    def show(self, source):
        """A document's cleaned text, as citations quote it."""
        if not source:
            return render.document_view_html("", None)
        try:
            return render.document_view_html(source, self.assistant.document_text(source))
        except Exception as exc:
            return render.notice_html(f"Cannot show {source}: {exc}", "error")


def documents_tab(assistant, watcher) -> DocumentsTab:
    """The documents tab's layout (inside an open gr.Tab)."""
    suffixes = supported_suffixes()
    table = gr.Dataframe(
        headers=DOC_HEADERS,
        datatype=["str", "str", "str", "number", "str"],
        interactive=False,
        elem_id="rag-docs-table",
        label="Indexed documents",
        wrap=True,
        column_widths=["40%", "12%", "8%", "8%", "32%"],
    )
    with gr.Row():
        with gr.Column():
            uploader = gr.File(
                label=f"Upload documents ({' '.join(suffixes)}; up to {max_upload_bytes() / 1048576:g} MB each)",
                file_count="multiple",
                file_types=list(suffixes),
                elem_id="rag-upload",
            )
            upload_result = gr.HTML(elem_id="rag-upload-result")
        with gr.Column():
            choice = gr.Dropdown(label="Document", choices=[], elem_id="rag-doc-choice", interactive=True)
            with gr.Row():
                delete_btn = gr.Button("Delete document · 删除", variant="stop", elem_id="rag-delete")
                reindex_btn = gr.Button("Re-index · 重建索引", elem_id="rag-reindex")
            notice = gr.HTML(elem_id="rag-docs-notice")
            watch_toggle, watch_note = watch.controls(watcher)
    view = gr.HTML(render.document_view_html("", None), elem_id="rag-doc-view")
    return DocumentsTab(assistant, Corpus(assistant), table, uploader, upload_result, choice, delete_btn,
                        reindex_btn, notice, view, watch_toggle, watch_note)
