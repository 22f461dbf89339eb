"""Offline bilingual (Chinese/English) question answering over a folder of documents.

    from rag import ask, Assistant
    ask("这份报告提到了哪些公司？").citations

Importing rag is cheap: chromadb and the models load on first use.
"""
from __future__ import annotations

from .config import Config
from .errors import ConfigError, IngestError, ModelError, RagError, StoreError
from .types import Answer, Candidate, Chunk, Citation, Document, Page

__all__ = [
    "Answer",
    "Assistant",
    "Candidate",
    "Chunk",
    "Citation",
    "Config",
    "ConfigError",
    "Document",
    "IngestError",
    "ModelError",
    "Page",
    "RagError",
    "StoreError",
    "ask",
]


def __getattr__(name: str):
    # Assistant pulls in numpy and the index modules; keep `import rag` light.
    if name in ("Assistant", "ask"):
        from . import assistant

        return getattr(assistant, name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
