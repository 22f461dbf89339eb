"""eval.folder: the bench's generated folder is the same every time, mixed as described, and
every file reads back (through the library's own loader) as the passage it was made from."""
from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest

from eval.folder import DATASETS, mixed_folder, passages
from rag.ingest import load_document
from rag.text import normalize

pytestmark = pytest.mark.skipif(not DATASETS.is_dir(), reason=f"no datasets in {DATASETS}")
FILES = 60


def test_the_folder_is_deterministic_and_mixed(tmp_path: Path) -> None:
    first, second = mixed_folder(tmp_path / "a", FILES), mixed_folder(tmp_path / "b", FILES)
    names = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert len(names) == FILES
    for name in names:
        if name.suffix != ".docx":  # a .docx zip carries its save time
            assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert Counter(n.suffix for n in names) == {".txt": 35, ".html": 24, ".docx": 1}
    assert mixed_folder(tmp_path / "a", FILES) == first  # built once, then reused


def test_every_file_reads_back_as_its_passage(tmp_path: Path) -> None:
    folder = mixed_folder(tmp_path, FILES)
    paths = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.name)
    legacy = 0
    for path, (_, _, title, text) in zip(paths, itertools.islice(passages(), FILES)):
        raw = path.read_bytes()
        legacy += path.suffix == ".txt" and not raw.isascii() and _not_utf8(raw)
        doc = load_document(path, folder)
        assert doc.title == title, path
        first_line = next(line for line in text.splitlines() if line.strip())
        assert normalize(first_line)[:40] in normalize(doc.text), path
    assert legacy >= 8  # GB18030 and Big5 files are really in their codepages


def _not_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def test_asking_for_more_files_than_passages_says_so(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="passages, fewer than 100000"):
        mixed_folder(tmp_path, 100_000)
