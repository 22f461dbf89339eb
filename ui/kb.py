"""The knowledge base selector: which base the chat, documents, status and retrieval test use.

`SelectedBase` stands for the Assistant of the chosen base, so the app's handlers, which
all reach the assistant through it, follow the selector without knowing about bases. The
choice holds for the whole app (it serves one user, on 127.0.0.1 by default).
"""
from __future__ import annotations

import logging
import threading

import gradio as gr

log = logging.getLogger(__name__)


class SelectedBase:
    """The Assistant of the knowledge base chosen last; every other attribute is that Assistant's."""

    def __init__(self, bases, name: str | None = None):
        self.bases = bases
        self.name = name or bases.default_name
        self._lock = threading.Lock()

    @property
    def current(self):
        return self.bases.get(self.name)

    def select(self, name: str):
        """Switch to base `name` (NotFoundError if it is unknown) and return its Assistant."""
        assistant = self.bases.get(name)
        with self._lock:
            self.name = name
        return assistant

    def __getattr__(self, attr: str):
        return getattr(self.current, attr)


def kb_selector(assistant) -> gr.Dropdown | None:
    """The dropdown of bases, or None when the app serves a single Assistant."""
    if not isinstance(assistant, SelectedBase):
        return None
    return gr.Dropdown(
        label="Knowledge base · 知识库",
        choices=assistant.bases.names(),
        value=assistant.name,
        interactive=True,
        elem_id="rag-kb",
        scale=1,
    )


def wire_selector(demo: gr.Blocks, dropdown: gr.Dropdown, assistant: SelectedBase, cleared: list, on_cleared,
                  refreshed: list, on_refreshed) -> None:
    """Choosing a base: bring its index up to date, start a new chat, show its documents.
    A page (re)load lists the bases again, so one added with `rag kb add` shows up.

    `cleared`/`on_cleared` are the chat's components and the function that empties them;
    `refreshed`/`on_refreshed` the documents table and status lines and their refresher.
    """

    def choose(name, progress=gr.Progress()):
        try:
            chosen = assistant.select(name)
            progress(0, desc=f"Indexing {name}…")
            report = chosen.ingest()
        except Exception as exc:  # unknown or broken base: keep the current one
            log.warning("switching to knowledge base %s failed: %s", name, exc)
            gr.Warning(f"Cannot use knowledge base {name}: {exc}")
            return gr.update(value=assistant.name, choices=assistant.bases.names())
        gr.Info(f"Knowledge base {name} · {chosen.config.docs_dir} · {report.summary()}")
        return name

    dropdown.input(choose, [dropdown], [dropdown]).then(on_cleared, None, cleared).then(
        on_refreshed, None, refreshed, show_progress="hidden"
    )
    demo.load(lambda: gr.update(choices=assistant.bases.names(), value=assistant.name), None, dropdown,
              show_progress="hidden")
