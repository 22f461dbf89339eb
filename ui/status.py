"""What the page shows about the index and the models: the status lines and the document list.

The header, the Settings tab and the Documents tab all read them through one `StatusView`,
refreshed together (`refresh`) after any change and by the page's timer (`tick`).
"""
from __future__ import annotations

import logging
import time

import gradio as gr

from . import render

log = logging.getLogger(__name__)


def available_backends(assistant) -> set[str]:
    """The answer backends this installation can use: extractive, and the configured generator's."""
    return {"extractive"} | ({assistant.generator.name} if assistant.generator is not None else set())


class StatusView:
    """Status lines and document rows for one assistant and its start-up state (ui.app.Startup)."""

    def __init__(self, assistant, startup):
        self.assistant, self.startup = assistant, startup

    def text(self, detail: bool = True) -> str:
        """One Markdown status line; with `detail`, the last indexing summary under it."""
        startup = self.startup
        if startup.busy:
            live = self.assistant.status().get("indexing")
            return (
                f"**{startup.phase}** · 正在建立索引… ({time.monotonic() - startup.began:.0f} s) · "
                f"{render.md_escape(str(self.assistant.config.docs_dir))}" + render.indexing_progress(live)
            )
        if startup.state == "failed":
            return f"⚠ Indexing failed: {render.md_escape(startup.message)}"
        try:
            s = self.assistant.status()
        except Exception as exc:  # the index cannot be read: say so, keep serving
            log.warning("assistant.status() failed: %s", exc)
            return f"⚠ Status unavailable: {render.md_escape(str(exc))}"
        loaded = "loaded" if s["embedder_loaded"] else "not loaded yet"
        llm = {"preparing": " (preparing the model…)", "ready": " (model loaded)", "": ""}.get(
            startup.llm, f" ({render.md_escape(startup.llm)}; answers quote the sources)"
        )
        return (
            f"**Embedding model:** `{s['embed_model']}` ({loaded}) · **Documents:** {s['documents']} · "
            f"**Chunks:** {s['chunks']} · **Backend:** {s['backend']}{llm}"
            + (f"  \nLast indexing: {render.md_escape(startup.message)}" if detail and startup.message else "")
        )

    def doc_rows(self) -> tuple[list[list], list[str]]:
        """The documents table's rows and the sources for the document dropdown (while
        indexing: the files written so far)."""
        try:
            files = self.assistant.documents()
        except Exception:
            log.exception("listing documents failed")
            return [], []
        rows = [[f.title or "", f.date or "", f.lang or "", int(f.chunks), f.source] for f in files]
        return rows, [f.source for f in files]

    def refresh(self, selected: str | None = None) -> tuple:
        """Updates for [documents table, document dropdown, header status, settings status]."""
        rows, sources = self.doc_rows()
        value = selected if selected in sources else None
        return gr.update(value=rows or None), gr.update(choices=sources, value=value), self.text(False), self.text()

    def tick(self) -> tuple:
        """The timer's refresh: the same four, plus whether to keep polling (while indexing
        or while the model is being prepared)."""
        rows, sources = self.doc_rows()
        polling = self.startup.busy or self.startup.llm == "preparing"
        return (self.text(False), self.text(), gr.update(value=rows or None), gr.update(choices=sources),
                gr.Timer(active=polling))
