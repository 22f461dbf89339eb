"""Shared fixtures: the real embedding model, real Chroma, real files; built once per session."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# The library answers with the local LLM by default (20-60 s a question on 2 cores). The
# suite pins the extractive backend; the LLM tests (tests/test_llm.py, marked slow) build
# their generators explicitly, and subprocess tests inherit this setting.
os.environ["RAG_LLM"] = "extractive"

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


@pytest.fixture(scope="session")
def seeds_copy(tmp_path_factory) -> Path:
    """A private copy of seeds/ that tests may not modify."""
    target = tmp_path_factory.mktemp("corpus") / "seeds"
    shutil.copytree(SEEDS, target)
    return target


@pytest.fixture(scope="session")
def seeds_assistant(seeds_copy, tmp_path_factory):
    """An Assistant over the seeds with its index built (read-only use in tests)."""
    from rag import Assistant

    assistant = Assistant(seeds_copy, tmp_path_factory.mktemp("index"))
    assistant.ingest()
    return assistant


@pytest.fixture(scope="session")
def embedder(seeds_assistant):
    """The loaded embedder, shared so each test does not load the model again."""
    return seeds_assistant.embedder
