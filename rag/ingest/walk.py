"""Walking the documents folder: which files are documents, their names and their hash."""
from __future__ import annotations

import hashlib
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from .formats import SUPPORTED_SUFFIXES

# Larger files are skipped, not read: a 20 MB text file already takes hours to embed on a
# laptop CPU. Callers pass `max_file_mb` (the Config field behind RAG_MAX_FILE_MB).
MAX_FILE_MB = 20.0


@dataclass(frozen=True)
class CorpusEntry:
    """A corpus file found by the walk; `skip_reason` is set when it must not be read."""

    path: Path
    skip_reason: str = ""


def file_sha256(path: Path, progress: bool = False, desc: str = "hashing") -> str:
    """Hex sha256 of a file's raw bytes, read in 1 MiB blocks; the one file hash of rag/
    (documents, uploads, the model files), with a byte progress bar for large files."""
    from tqdm.auto import tqdm

    digest = hashlib.sha256()
    with open(path, "rb") as handle, tqdm(total=Path(path).stat().st_size, unit="B", unit_scale=True, desc=desc,
                                          disable=not progress) as bar:
        while block := handle.read(1 << 20):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def list_corpus_files(root: Path, *, max_file_mb: float = MAX_FILE_MB) -> list[Path]:
    """Readable corpus files under root, sorted by relative path (no parsing)."""
    return [path for path, reason in list_corpus_entries(root, max_file_mb=max_file_mb) if not reason]


def list_corpus_entries(root: Path, *, max_file_mb: float = MAX_FILE_MB) -> list[tuple[Path, str]]:
    """(path, skip reason or "") for every supported file under root, sorted by relative path."""
    return [(entry.path, entry.skip_reason) for entry in walk_corpus(Path(root), max_file_mb)]


def walk_corpus(root: Path, max_file_mb: float = MAX_FILE_MB) -> list[CorpusEntry]:
    """Supported files under root, sorted by relative path; symlink or size problems carry a reason."""
    if not root.is_dir():
        raise ConfigError(f"corpus directory {root} does not exist; create it or set RAG_DOCS_DIR")
    real_root = root.resolve()
    entries: list[CorpusEntry] = []
    # os.walk does not descend into symlinked directories, which also rules out link loops.
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [name for name in dirnames if not _is_hidden(name)]
        for name in dirnames:
            path = Path(dirpath) / name
            reason = _symlink_problem(path, real_root)
            if reason:
                entries.append(CorpusEntry(path, reason))
        for name in filenames:
            path = Path(dirpath) / name
            if _is_hidden(name) or path.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            entries.append(CorpusEntry(path, _symlink_problem(path, real_root) or size_problem(path, max_file_mb)))
    entries.sort(key=lambda entry: source_name(entry.path, root))
    return entries


def _is_hidden(name: str) -> bool:
    """Dotfiles and Office lock files ("~$report.docx") are never documents."""
    return name.startswith(".") or name.startswith("~$")


def _symlink_problem(path: Path, real_root: Path) -> str:
    """Why a symlink must be skipped, or "" for regular files and links that stay in the corpus."""
    if not path.is_symlink():
        return ""
    target = path.resolve()
    if not target.exists():
        return "broken symlink; fix or remove it"
    if not target.is_relative_to(real_root):
        return f"symlink points outside the corpus ({target}); copy the file in instead"
    return ""


def size_problem(path: Path, max_file_mb: float) -> str:
    """Why a file is too big to read, or "" (also when it cannot be stat'ed: reading will say why)."""
    try:
        size = path.stat().st_size
    except OSError:
        return ""
    if max_file_mb and size > max_file_mb * 1024 * 1024:
        return (
            f"file is {size / 1048576:.1f} MB, over the limit of {max_file_mb:g} MB; "
            "raise RAG_MAX_FILE_MB to index it"
        )
    return ""


def source_name(path: Path, root: Path) -> str:
    """Path relative to root with forward slashes, NFC-normalised so macOS names match."""
    try:
        relative = Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        relative = Path(Path(path).name)
    return unicodedata.normalize("NFC", relative.as_posix())
