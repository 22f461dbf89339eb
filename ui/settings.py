"""The settings tab: which backend answers, how many passages to consider, and the status."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from . import render
from .status import available_backends

BACKENDS = [
    ("extractive", "extractive: quotes the best source sentences (always available)"),
    ("local", "local: the bundled LLM, in process (default)"),
    ("openai", "OpenAI-compatible API"),
]


@dataclass
class SettingsTab:
    backend: gr.State  # the backend the chat uses
    radio: gr.Radio
    note: gr.HTML
    top_k: gr.Slider
    status: gr.Markdown
    refresh_btn: gr.Button

    def wire(self, assistant, status, header: gr.Markdown) -> None:
        available = available_backends(assistant)
        default = _default_backend(assistant)

        def choose_backend(choice):
            if choice in available:
                return choice, render.notice_html(f"Answers now come from: {choice}.")
            message = (
                f"The {choice} backend is not available in this installation (no generator is configured); "
                f"answers keep coming from the {default} backend."
            )
            return default, render.notice_html(message, "error")

        self.radio.input(choose_backend, [self.radio], [self.backend, self.note]).then(
            lambda b: b, [self.backend], [self.radio]
        )
        self.refresh_btn.click(lambda: (status.text(False), status.text()), None, [header, self.status])


def _default_backend(assistant) -> str:
    return assistant.generator.name if assistant.generator is not None else "extractive"


def settings_tab(assistant, status) -> SettingsTab:
    """The settings tab's layout (inside an open gr.Tab)."""
    available = available_backends(assistant)
    default = _default_backend(assistant)
    choices = [(label if name in available else f"{label} (not configured)", name) for name, label in BACKENDS]
    choices += [(f"{name} (configured generator)", name) for name in sorted(available - {n for n, _ in BACKENDS})]
    radio = gr.Radio(choices=choices, value=default, label="Answer backend", elem_id="rag-backend")
    note = gr.HTML(
        render.notice_html(
            "Only the extractive backend is available here: answers quote the documents directly."
            if available == {"extractive"}
            else f"Available: {', '.join(sorted(available))}."
        ),
        elem_id="rag-backend-note",
    )
    top_k = gr.Slider(1, 20, value=assistant.config.top_k, step=1, label="Passages to consider (top-k)", elem_id="rag-topk")
    status_md = gr.Markdown(status.text(), elem_id="rag-status")
    refresh_btn = gr.Button("Refresh status", size="sm", elem_id="rag-refresh")
    return SettingsTab(gr.State(default), radio, note, top_k, status_md, refresh_btn)
