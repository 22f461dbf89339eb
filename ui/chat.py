"""The chat tab: questions in, streamed answers with [n] marks out, and the source cards.

With an LLM the evidence (the extractive answer's quotes) shows at once; the model's text
streams in above it and, once verified, cites the same numbered cards.
"""
from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

import gradio as gr

from . import render

log = logging.getLogger(__name__)

EXAMPLES = [
    "Which companies will join the Shanhewangu innovation zone?",
    "哪些企业将入驻山河湾谷创新区？",
    "哪些企業將入駐山河灣谷創新區？",
    "What will the innovation zone focus on?",
    "创新区位于哪里？",
]
THINKING = "Searching the documents… / 正在检索文档…"
EVIDENCE_HEAD = "\n\n---\n**Evidence · 原文证据** (quoted from the sources)\n\n"
WRITING = "*⏳ The local model is writing the answer… · 正在生成回答…*"
NO_SOURCES_YET = "Ask a question to see its sources here. / 提问后在此查看来源。"


def stream_answers(assistant, question: str, history: list[dict], top_k: int, backend: str):
    """Answers for the latest question: extractive first, then an LLM's if one runs. The
    library condenses follow-ups itself."""
    messages = history + [{"role": "user", "content": question}]
    for answer in assistant.chat_stream(messages, top_k=top_k):
        yield answer
        if backend == "extractive":
            break  # the user chose quotes only; don't wait for a generator


def render_turn(answer, evidence, expect_llm: bool, turn: int) -> tuple[str, list]:
    """One chat turn's Markdown and its source cards. A model that fails leaves the
    evidence in place with one line saying why."""
    from rag.llm import merge_evidence

    if answer.abstained:
        notice = f"\n\n*{render.md_escape(answer.notice)}*" if answer.notice else ""
        return render.ABSTAIN_TEXT + notice + backend_line(answer), []
    if answer.partial:
        head = render.md_escape(answer.text) + " ▌"
        return head + evidence_md(evidence.text, evidence.citations, turn, folded=True), evidence.citations
    if answer.backend != "extractive":  # the model's verified answer
        text, cards = merge_evidence(answer, evidence)
        head = render.answer_markdown(answer.text, [c.n for c in answer.citations], turn)
        if answer.notice:
            head += f"\n\n*{render.md_escape(answer.notice)}*"
        return head + backend_line(answer) + evidence_md(text, cards, turn, folded=True), cards
    if answer is evidence and expect_llm:  # the model has not written anything yet
        return WRITING + evidence_md(answer.text, answer.citations, turn), answer.citations
    body = render.answer_markdown(answer.text, [c.n for c in answer.citations], turn)
    if answer.notice:  # the model failed: say why above the quotes
        return f"⚠ *{render.md_escape(answer.notice)}*" + evidence_md(answer.text, answer.citations, turn), answer.citations
    return body + backend_line(answer), answer.citations


def evidence_md(text: str, citations, turn: int, folded: bool = False) -> str:
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


def answer_turn(assistant, question, messages, history, turns, top_k, backend):
    """The chat's handler: yields (question box, chat, history, turns, sources panel) as the
    answer streams in. An error becomes one line in the chat; the app keeps serving."""
    messages, history, turns = list(messages or []), list(history or []), dict(turns or {})
    question = (question or "").strip()
    if not question:
        messages.append({"role": "assistant", "content": "⚠ Please type a question about your documents. / 请输入问题。"})
        yield "", messages, history, turns, gr.update()
        return
    messages.append({"role": "user", "content": render.md_escape(question)})
    messages.append({"role": "assistant", "content": THINKING})
    turn = index = len(messages) - 1
    yield "", messages, history, turns, render.sources_placeholder("Searching… / 正在检索…")
    answer = evidence = None
    expect_llm = backend != "extractive" and assistant.generator is not None
    shown: tuple = (None, None)  # the cards last rendered: partial answers reuse them
    try:
        for answer in stream_answers(assistant, question, history, int(top_k), backend):
            evidence = evidence or answer  # the extractive answer comes first and stays as the evidence
            content, cards = render_turn(answer, evidence, expect_llm, turn)
            if cards is not shown[0]:
                shown = (cards, _cards_html(assistant, cards, turn))
            messages[index] = {"role": "assistant", "content": content}
            turns[str(index)] = shown[1]
            yield "", messages, history, turns, shown[1]
    except Exception as exc:  # RagError and anything else: say so, keep serving
        messages[index] = {"role": "assistant", "content": _failure_text(exc)}
        yield "", messages, history, turns, render.sources_placeholder("No sources.")
        return
    if answer is not None and answer is evidence and expect_llm:
        # The stream ended without the model (the assistant chose not to ask it): the
        # quotes are the answer, so drop the "writing" line.
        messages[index] = {"role": "assistant", "content": render_turn(answer, evidence, False, turn)[0]}
    if answer is not None:
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]
    yield "", messages, history, turns, gr.update()


def _cards_html(assistant, cards, turn: int) -> str:
    if not cards:
        return render.sources_placeholder("No sources: the documents do not answer this question. / 文档中没有找到答案。")
    return render.source_cards_html(cards, assistant.document_text, turn)


def _failure_text(exc: Exception) -> str:
    from rag import RagError

    if isinstance(exc, RagError):
        return f"⚠ {render.md_escape(str(exc))}"
    log.error("question failed:\n%s", traceback.format_exc())
    return f"⚠ Something went wrong while answering: {render.md_escape(type(exc).__name__ + ': ' + str(exc))}"


def show_turn(turns, evt: gr.SelectData):
    """Clicking an earlier answer shows its sources again."""
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
    return [], [], {}, render.sources_placeholder(NO_SOURCES_YET)


@dataclass
class ChatTab:
    """The chat tab's components; `wire` connects them once the settings exist."""

    assistant: object
    chatbot: gr.Chatbot
    question: gr.Textbox
    ask_btn: gr.Button
    clear_btn: gr.Button
    sources: gr.HTML
    history: gr.State
    turns: gr.State

    @property
    def cleared(self) -> list:
        """What `clear_chat` empties."""
        return [self.chatbot, self.history, self.turns, self.sources]

    def wire(self, top_k: gr.Slider, backend: gr.State) -> None:
        assistant = self.assistant

        def respond(question, messages, history, turns, top_k, backend):  # its name is the API's: /respond
            yield from answer_turn(assistant, question, messages, history, turns, top_k, backend)

        inputs = [self.question, self.chatbot, self.history, self.turns, top_k, backend]
        outputs = [self.question, self.chatbot, self.history, self.turns, self.sources]
        self.question.submit(respond, inputs, outputs, show_progress="hidden")
        self.ask_btn.click(respond, inputs, outputs, show_progress="hidden")
        self.chatbot.example_select(pick_example, None, self.question).then(
            respond, inputs, outputs, show_progress="hidden"
        )
        self.chatbot.select(show_turn, [self.turns], [self.sources], show_progress="hidden")
        self.clear_btn.click(clear_chat, None, self.cleared)
        self.chatbot.clear(clear_chat, None, self.cleared)


def chat_tab(assistant) -> ChatTab:
    """The chat and the sources panel, side by side (inside an open gr.Tab)."""
    history, turns = gr.State([]), gr.State({})
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
            sources = gr.HTML(render.sources_placeholder(NO_SOURCES_YET), elem_id="rag-sources")
    return ChatTab(assistant, chatbot, question, ask_btn, clear_btn, sources, history, turns)
