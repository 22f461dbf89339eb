"""The Documents tab's "watch the folder" toggle.

On (the default), a `rag.watch.FolderWatcher` runs on a background thread for the app's
Assistant: files added, changed or removed in the documents folder are indexed within
seconds, with the same sync as Re-index. A timer on the page refreshes the document list
and the watcher's last lines whenever the watcher picked something up.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque

import gradio as gr

from . import render

log = logging.getLogger(__name__)

POLL_S = 2.0  # how often an open page asks whether the watcher picked something up
LOG_LINES = 6  # the watcher's last lines shown under the toggle


class AppWatcher:
    """Starts and stops a FolderWatcher for the app's Assistant; counts what it picked up."""

    def __init__(self, assistant, startup, enabled: bool = True) -> None:
        self.assistant = assistant
        self.startup = startup  # ui.app.Startup: the watcher begins once startup indexing is done
        self.generation = 0  # bumped by every line the watcher prints; pages refresh when it moves
        self.lines: deque[str] = deque(maxlen=LOG_LINES)
        self._watcher = None
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        if enabled:
            self.start()

    @property
    def enabled(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        from rag.watch import FolderWatcher

        with self._lock:
            if self.enabled:
                return
            self._cancel = threading.Event()
            self._watcher = FolderWatcher(self.assistant, echo=self._echo, on_sync=self._synced)
            self._thread = threading.Thread(
                target=self._run, args=(self._watcher, self._cancel), name="rag-ui-watcher", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._cancel.set()
            if self._watcher is not None:
                self._watcher.stop()
            if self._thread is not None:
                self._thread.join(10)
            self._thread = self._watcher = None

    def _run(self, watcher, cancel: threading.Event) -> None:
        while self.startup.busy:  # the startup sync runs first; the watcher's own then finds little to do
            if cancel.wait(0.5):
                return
        if not cancel.is_set():
            watcher.run()

    def _echo(self, line: str) -> None:
        print(f"watch: {line}", flush=True)
        self.lines.append(f"{time.strftime('%H:%M:%S')} {line}")
        self.generation += 1

    def _synced(self, report) -> None:
        if self.startup.state == "failed":  # e.g. the folder was missing at start and is there now
            self.startup.state = "ready"
        if report.added or report.updated or report.removed:
            self.startup.message = report.summary()  # the status line's "Last indexing"

    def note_html(self) -> str:
        """What the watcher is doing and its last lines."""
        folder = self.assistant.config.docs_dir
        if not self.enabled:
            head = f"Not watching {folder}: files put there directly are indexed on Re-index."
        else:
            head = f"Watching {folder}: files added, changed or removed there are indexed within seconds."
        log_html = "".join(f"<div>{render.esc(line)}</div>" for line in self.lines)
        return render.notice_html(head) + (f'<div class="rag-watch-log">{log_html}</div>' if log_html else "")


def controls(watcher: AppWatcher) -> tuple[gr.Checkbox, gr.HTML]:
    """The toggle and the note under it, placed where they are called in the layout."""
    toggle = gr.Checkbox(
        value=watcher.enabled,
        label="Watch the folder · 监视文件夹 (index files added, changed or removed there automatically)",
        elem_id="rag-watch",
        interactive=True,
    )
    note = gr.HTML(watcher.note_html(), elem_id="rag-watch-note")
    return toggle, note


def wire(watcher: AppWatcher, toggle: gr.Checkbox, note: gr.HTML, doc_choice, docs_out: list, docs_outputs) -> None:
    """The toggle's event, and a timer that refreshes `docs_out` (via `docs_outputs(selected)`)
    when the watcher picked something up since this page last looked."""
    seen = gr.State(watcher.generation)

    def flip(on: bool):
        watcher.start() if on else watcher.stop()
        return watcher.note_html()

    def poll(last: int, selected: str | None):
        if watcher.generation == last:
            return (gr.skip(),) * (2 + len(docs_out))
        return (watcher.generation, watcher.note_html(), *docs_outputs(selected))

    toggle.input(flip, [toggle], [note], show_progress="hidden")
    gr.Timer(POLL_S).tick(poll, [seen, doc_choice], [seen, note, *docs_out], show_progress="hidden")
