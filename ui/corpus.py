"""Adding and removing files in the documents folder on behalf of the web UI.

The checks (type, size, safe name) and the rollback live in `rag.uploads`, which
`rag serve` uses too; this module adds the web app's upload limit and progress bar.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from rag.uploads import (  # noqa: F401  (re-exported for the app and its tests)
    FileResult,
    UploadOutcome,
    add_files,
    delete_file,
    folder_lock,
    safe_filename,
    supported_suffixes,
)

log = logging.getLogger(__name__)


def max_upload_bytes() -> int:
    raw = os.environ.get("RAG_UI_MAX_UPLOAD_MB", "").strip()
    try:
        mb = float(raw) if raw else 20.0
    except ValueError:
        log.warning("RAG_UI_MAX_UPLOAD_MB=%r is not a number; using 20", raw)
        mb = 20.0
    return int(max(mb, 0.001) * 1024 * 1024)


class Corpus:
    """File operations on the assistant's documents folder."""

    def __init__(self, assistant):
        self.assistant = assistant

    @property
    def root(self) -> Path:
        return Path(self.assistant.config.docs_dir)

    def add_files(self, paths: list[str], progress=None) -> UploadOutcome:
        """Save uploads into the folder, ingest, and undo the ones that did not ingest."""
        uploads = [(Path(str(p).replace("\\", "/")).name, p) for p in paths]
        report = None if progress is None else (lambda step, desc: progress(step, desc=desc))
        return add_files(self.assistant, uploads, max_upload_bytes(), report)

    def delete(self, source: str):
        """Remove an indexed document's file and re-ingest so its chunks go. Returns the report."""
        return delete_file(self.assistant, source)

    def reindex(self):
        with folder_lock(self.root):
            return self.assistant.ingest()
