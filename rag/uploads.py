"""Adding files to and removing them from a documents folder, for the web app and `rag serve`.

Uploads are saved under the folder with a safe name (basename only, no path separators,
no leading dots or "..", Unicode letters kept), never overwriting a different file. A
file that fails to ingest is removed again, so a bad upload leaves the folder and the
index as they were.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import NotFoundError, RagError
from .ingest.walk import file_sha256

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 120


def supported_suffixes() -> tuple[str, ...]:
    """The file types ingestion reads (rag.ingest.formats), lower case with the dot."""
    from .ingest import SUPPORTED_SUFFIXES

    return SUPPORTED_SUFFIXES


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


@dataclass
class FileResult:
    """What became of one uploaded file."""

    name: str  # the uploaded file's name, as the user knows it
    outcome: str  # added | updated | unchanged | skipped | rejected | error
    detail: str = ""
    source: str = ""  # where it lives in the folder, if it stayed
    # Why it did not stay: unsupported_type | too_large | empty | name_taken | unreadable |
    # not_indexed | index_failed | save_failed ("" when it stayed).
    code: str = ""

    @property
    def kept(self) -> bool:
        return self.outcome in ("added", "updated", "unchanged")


@dataclass
class UploadOutcome:
    results: list[FileResult] = field(default_factory=list)
    summary: str = ""


_folder_locks: dict[Path, threading.Lock] = {}
_folder_locks_guard = threading.Lock()


def folder_lock(folder: Path) -> threading.Lock:
    """One lock per documents folder in this process: uploads and deletions take turns."""
    key = Path(folder).resolve()
    with _folder_locks_guard:
        return _folder_locks.setdefault(key, threading.Lock())


def add_files(
    assistant,
    uploads: list[tuple[str, str | Path]],
    max_bytes: int,
    progress: Callable[[tuple[int, int], str], None] | None = None,
) -> UploadOutcome:
    """Save uploads ((name as uploaded, path of the received bytes)) into the assistant's
    folder, ingest, and remove again the ones that did not ingest."""
    outcome = UploadOutcome()
    root = Path(assistant.config.docs_dir)
    with folder_lock(root):
        root.mkdir(parents=True, exist_ok=True)
        saved: list[tuple[FileResult, Path]] = []
        for i, (shown, src) in enumerate(uploads):
            if progress is not None:
                progress((i, len(uploads) + 1), f"saving {shown}")
            result, target = _save_one(root, shown, Path(src), max_bytes)
            outcome.results.append(result)
            if target is not None:
                saved.append((result, target))
        if not saved and not any(r.outcome == "unchanged" for r in outcome.results):
            outcome.summary = "Nothing was added."
            return outcome
        if progress is not None:
            progress((len(uploads), len(uploads) + 1), "indexing")
        _ingest_or_roll_back(assistant, saved, outcome)
        return outcome


def _save_one(root: Path, shown: str, src: Path, max_bytes: int) -> tuple[FileResult, Path | None]:
    """Check one upload and copy it into the folder: (its result, the saved file or None)."""
    shown = Path(str(shown).replace("\\", "/")).name or "upload"
    name = safe_filename(shown)
    suffix = Path(name).suffix.lower()
    suffixes = supported_suffixes()
    if suffix not in suffixes:
        detail = f"unsupported type {suffix or '(none)'}; use {' '.join(suffixes)}"
        return FileResult(shown, "rejected", detail, code="unsupported_type"), None
    try:
        size = src.stat().st_size
    except OSError as exc:
        return FileResult(shown, "error", f"cannot read the upload: {exc.strerror}", code="unreadable"), None
    if size > max_bytes:
        detail = f"{size / 1048576:.1f} MB is over the {max_bytes / 1048576:g} MB limit"
        return FileResult(shown, "rejected", detail, code="too_large"), None
    if size == 0:
        return FileResult(shown, "rejected", "the file is empty", code="empty"), None
    target, how = _place(root, src, name)
    if target is None:
        return FileResult(shown, "rejected", how, code="name_taken"), None
    rel = target.relative_to(root).as_posix()
    if how == "same":
        return FileResult(shown, "unchanged", f"already in the folder as {rel}", rel), None
    tmp = target.with_name(f".{target.name}.part")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        return FileResult(shown, "error", f"cannot save: {exc.strerror}", code="save_failed"), None
    return FileResult(shown, "added", f"saved as {rel}" if target.name != shown else "", rel), target


def _place(root: Path, src: Path, name: str) -> tuple[Path | None, str]:
    """Where to save an upload: (target, "") / (existing, "same") if identical."""
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
            digest = digest or file_sha256(src)
            if file_sha256(target) == digest:
                return target, "same"
    return None, "too many files with this name"


def _ingest_or_roll_back(assistant, saved: list[tuple[FileResult, Path]], outcome: UploadOutcome) -> None:
    """Ingest; a file that did not make it into the index is deleted again, with the reason."""
    try:
        report = assistant.ingest()
    except Exception as exc:  # leave the folder as it was
        log.exception("ingest after upload failed")
        for result, target in saved:
            target.unlink(missing_ok=True)
            result.outcome, result.detail, result.source, result.code = "error", f"indexing failed: {exc}", "", "index_failed"
        try:
            assistant.ingest()
        except Exception:
            log.exception("re-ingest after a failed upload failed")
        outcome.summary = f"Indexing failed: {exc}"
        return
    skipped = dict(report.skipped)
    chunks = {}
    try:
        chunks = {f.source: f.chunks for f in assistant.documents()}
    except Exception:
        log.exception("listing documents failed")
    for result, target in saved:
        if result.source in skipped or result.source not in chunks:
            reason = skipped.get(result.source, "the file was not indexed")
            target.unlink(missing_ok=True)
            result.outcome, result.detail, result.source, result.code = "skipped", reason, "", "not_indexed"
        else:
            if result.source in report.updated:
                result.outcome = "updated"
            n = chunks[result.source]
            result.detail = "; ".join(x for x in (result.detail, f"{n} chunk{'s' if n != 1 else ''}") if x)
    outcome.summary = report.summary()


def delete_file(assistant, source: str):
    """Remove an indexed document's file and re-ingest so its chunks go. Returns the IngestReport."""
    root = Path(assistant.config.docs_dir)
    with folder_lock(root):
        indexed = {f.source for f in assistant.documents()}
        resolved_root = root.resolve()
        path = (resolved_root / source).resolve()
        if not path.is_relative_to(resolved_root) or path == resolved_root:
            raise RagError(f"{source!r} is outside the documents folder")
        if source not in indexed:
            raise NotFoundError(f"{source!r} is not an indexed document")
        path.unlink(missing_ok=True)
        return assistant.ingest()
