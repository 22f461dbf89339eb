"""Adding and removing files in the documents folder on behalf of the web UI.

Uploads are saved under the corpus dir with a safe name (basename only, no path
separators, no leading dots or "..", Unicode letters kept), never overwriting a
different file. A file that fails to ingest is removed again, so a bad upload leaves the
corpus and the index as they were.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".pptx", ".xlsx", ".xls", ".csv")
MAX_NAME_CHARS = 120


def supported_suffixes() -> tuple[str, ...]:
    try:
        from rag.ingest import SUPPORTED_SUFFIXES

        return tuple(s.lower() for s in SUPPORTED_SUFFIXES)
    except Exception:  # the loaders are optional at import time
        return DEFAULT_SUFFIXES


def max_upload_bytes() -> int:
    raw = os.environ.get("RAG_UI_MAX_UPLOAD_MB", "").strip()
    try:
        mb = float(raw) if raw else 20.0
    except ValueError:
        log.warning("RAG_UI_MAX_UPLOAD_MB=%r is not a number; using 20", raw)
        mb = 20.0
    return int(max(mb, 0.001) * 1024 * 1024)


def safe_filename(name: str, fallback_stem: str = "upload") -> str:
    """A file name that cannot leave the folder: basename only, no control characters,
    no leading dots, no "..", Unicode letters and digits kept, others become "_"."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch if ch.isprintable() else " " for ch in name)
    name = re.sub(r"[^\w\s.\-()\[\]（）【】·]", "_", name)  # \w keeps Unicode letters and digits
    name = re.sub(r"\s+", " ", name)
    name = re.sub(r"\.{2,}", ".", name)
    name = name.strip(" ._")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = stem.strip(" ._") or fallback_stem
    suffix = suffix.lower()
    room = MAX_NAME_CHARS - len(suffix) - 1
    stem = stem[:room].rstrip(" ._") or fallback_stem
    return f"{stem}.{suffix}" if suffix else stem


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class FileResult:
    name: str  # the uploaded file's name, as the user knows it
    outcome: str  # added | updated | unchanged | skipped | rejected | error
    detail: str = ""
    source: str = ""  # where it lives in the corpus, if it stayed


@dataclass
class UploadOutcome:
    results: list[FileResult] = field(default_factory=list)
    summary: str = ""


class Corpus:
    """File operations on the assistant's documents folder, serialised by one lock."""

    def __init__(self, assistant):
        self.assistant = assistant
        self.lock = threading.Lock()

    @property
    def root(self) -> Path:
        return Path(self.assistant.config.docs_dir)

    # ---- uploads ---------------------------------------------------------------------

    def _place(self, src: Path, name: str) -> tuple[Path | None, str]:
        """Where to save an upload: (target, "") / (existing, "same") if identical."""
        root = self.root
        target = root / name
        digest = None
        stem, dot, suffix = name.rpartition(".")
        if not dot:
            stem, suffix = name, ""
        for i in range(1, 1000):
            if i > 1:
                target = root / (f"{stem} ({i}).{suffix}" if suffix else f"{stem} ({i})")
            if not target.exists():
                return target, ""
            if target.is_file():
                digest = digest or sha256_file(src)
                if sha256_file(target) == digest:
                    return target, "same"
        return None, "too many files with this name"

    def add_files(self, paths: list[str], progress=None) -> UploadOutcome:
        """Save uploads into the corpus, ingest, and undo the ones that did not ingest."""
        outcome = UploadOutcome()
        suffixes = supported_suffixes()
        limit = max_upload_bytes()
        with self.lock:
            root = self.root
            root.mkdir(parents=True, exist_ok=True)
            saved: list[tuple[FileResult, Path]] = []
            for i, raw in enumerate(paths):
                src = Path(raw)
                shown = Path(str(raw).replace("\\", "/")).name
                if progress is not None:
                    progress((i, len(paths) + 1), desc=f"saving {shown}")
                name = safe_filename(shown)
                suffix = Path(name).suffix.lower()
                if suffix not in suffixes:
                    outcome.results.append(
                        FileResult(shown, "rejected", f"unsupported type {suffix or '(none)'}; use {' '.join(suffixes)}")
                    )
                    continue
                try:
                    size = src.stat().st_size
                except OSError as exc:
                    outcome.results.append(FileResult(shown, "error", f"cannot read the upload: {exc.strerror}"))
                    continue
                if size > limit:
                    outcome.results.append(
                        FileResult(shown, "rejected", f"{size / 1048576:.1f} MB is over the {limit / 1048576:g} MB limit")
                    )
                    continue
                if size == 0:
                    outcome.results.append(FileResult(shown, "rejected", "the file is empty"))
                    continue
                target, how = self._place(src, name)
                if target is None:
                    outcome.results.append(FileResult(shown, "rejected", how))
                    continue
                rel = target.relative_to(root).as_posix()
                if how == "same":
                    outcome.results.append(FileResult(shown, "unchanged", f"already in the corpus as {rel}", rel))
                    continue
                tmp = target.with_name(f".{target.name}.part")
                try:
                    shutil.copyfile(src, tmp)
                    os.replace(tmp, target)
                except OSError as exc:
                    tmp.unlink(missing_ok=True)
                    outcome.results.append(FileResult(shown, "error", f"cannot save: {exc.strerror}"))
                    continue
                detail = f"saved as {rel}" if target.name != shown else ""
                result = FileResult(shown, "added", detail, rel)
                outcome.results.append(result)
                saved.append((result, target))

            if not saved and not any(r.outcome == "unchanged" for r in outcome.results):
                outcome.summary = "Nothing was added."
                return outcome
            if progress is not None:
                progress((len(paths), len(paths) + 1), desc="indexing")
            try:
                report = self.assistant.ingest()
            except Exception as exc:  # leave the corpus as it was
                log.exception("ingest after upload failed")
                for result, target in saved:
                    target.unlink(missing_ok=True)
                    result.outcome, result.detail, result.source = "error", f"indexing failed: {exc}", ""
                try:
                    self.assistant.ingest()
                except Exception:
                    log.exception("re-ingest after a failed upload failed")
                outcome.summary = f"Indexing failed: {exc}"
                return outcome

            skipped = dict(report.skipped)
            chunks = {}
            try:
                chunks = {f.source: f.chunks for f in self.assistant.documents()}
            except Exception:
                log.exception("listing documents failed")
            for result, target in saved:
                if result.source in skipped or result.source not in chunks:
                    reason = skipped.get(result.source, "the file was not indexed")
                    target.unlink(missing_ok=True)
                    result.outcome, result.detail, result.source = "skipped", reason, ""
                else:
                    if result.source in report.updated:
                        result.outcome = "updated"
                    n = chunks[result.source]
                    result.detail = "; ".join(x for x in (result.detail, f"{n} chunk{'s' if n != 1 else ''}") if x)
            outcome.summary = report.summary()
            return outcome

    # ---- deletion and re-indexing ----------------------------------------------------

    def delete(self, source: str):
        """Remove an indexed document's file and re-ingest so its chunks go. Returns the report."""
        with self.lock:
            indexed = {f.source for f in self.assistant.documents()}
            if source not in indexed:
                raise ValueError(f"{source!r} is not an indexed document")
            root = self.root.resolve()
            path = (root / source).resolve()
            if not path.is_relative_to(root) or path == root:
                raise ValueError(f"{source!r} is outside the documents folder")
            path.unlink(missing_ok=True)
            return self.assistant.ingest()

    def reindex(self):
        with self.lock:
            return self.assistant.ingest()
