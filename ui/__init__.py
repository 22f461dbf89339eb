"""Gradio web UI for the document question-answering assistant: `python -m ui`."""


def build_app(assistant, startup=None):
    from .app import build_app as _build

    return _build(assistant, startup)


def main(argv=None) -> int:
    from .app import main as _main

    return _main(argv)
