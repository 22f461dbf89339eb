"""A watched folder: real files written and deleted in tmp_path, a real index, the real model.

The library watcher on a thread (its Assistant answers from what the watcher indexed, with no
sync of its own), and `rag watch` as a real process whose lines and index are checked.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from _servers import ServerProcess
from rag.watch import change_lines, is_document_change, is_temporary

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = (".txt", ".md", ".docx", ".pdf")

ORCHARD = "# Orchard Lab\n\nThe Orchard Lab in Harbour Ward grows apples under violet LED light.\n"
ORCHARD_QUESTION = "What light does the Orchard Lab grow apples under?"
LATE = "青岚气象站建于1998年。站长是白榆研究员。\n"


# ---- pure helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, temporary",
    [
        ("report.docx", False),
        ("报告.pdf", False),
        ("~$report.docx", True),
        (".~lock.report.docx#", True),
        (".report.txt.swp", True),
        ("notes.txt~", True),
        ("film.pdf.part", True),
        ("paper.pdf.crdownload", True),
        ("upload.TMP", True),
    ],
)
def test_temporary_files_are_recognised(name, temporary):
    assert is_temporary(name) is temporary


def test_only_changes_that_can_alter_the_index_count(tmp_path):
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text("x")
    index = root / "index"
    assert is_document_change(root / "sub" / "a.txt", root, SUFFIXES)
    assert is_document_change(root / "sub", root, SUFFIXES)  # a folder moved in or out
    assert is_document_change(root / "gone-folder", root, SUFFIXES)  # deleted: it may have been a folder
    assert not is_document_change(root / "movie.mp4", root, SUFFIXES)
    assert not is_document_change(root / "~$a.docx", root, SUFFIXES)
    assert not is_document_change(root / ".git" / "x.txt", root, SUFFIXES)
    assert not is_document_change(index / "bm25.txt", root, SUFFIXES, ignored=index)
    assert not is_document_change(tmp_path / "elsewhere.txt", root, SUFFIXES)


def test_change_lines_print_each_skip_reason_once():
    from rag.sync import IngestReport

    first = IngestReport(added=["a.txt"], removed=["old.md"], skipped=[("bad.pdf", "corrupt")])
    lines, skips = change_lines(first, {})
    assert lines == ["added a.txt", "removed old.md", "skipped bad.pdf: corrupt"]
    again = IngestReport(updated=["a.txt"], skipped=[("bad.pdf", "corrupt")])
    assert change_lines(again, skips)[0] == ["updated a.txt"]
    other = IngestReport(skipped=[("bad.pdf", "encrypted")])
    assert change_lines(other, skips)[0] == ["skipped bad.pdf: encrypted"]


# ---- the library watcher ----------------------------------------------------------------


def _wait_for(condition, timeout: float, what: str, lines: list[str]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen in {timeout:.0f} s; watcher said:\n" + "\n".join(lines))
        time.sleep(0.1)


def _cited(answer) -> set[str]:
    return {c.source for c in answer.citations}


@pytest.mark.slow
def test_a_watched_folder_indexes_added_changed_and_deleted_files(tmp_path):
    from rag import Assistant
    from rag.watch import FolderWatcher

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "base.txt").write_text("The Lumen Bridge in Chaoyang opened in 2020.\n", encoding="utf-8")
    assistant = Assistant(docs, tmp_path / "index")
    lines: list[str] = []
    watcher = FolderWatcher(assistant, echo=lines.append)
    watcher.start()
    try:
        _wait_for(lambda: watcher.syncs >= 1, 120, "the first sync", lines)
        assert lines[-1].startswith("up to date: 1 added")

        # editors' locks, swap files and downloads in progress are never picked up
        (docs / "~$draft.docx").write_bytes(b"owner lock")
        (docs / "paper.pdf.crdownload").write_bytes(b"%PDF-1.7 half")
        (docs / ".notes.txt.swp").write_bytes(b"swap")
        # a burst of 20 files and the one we ask about: one sync (two if the burst straddles a pause)
        before, began = watcher.syncs, time.monotonic()
        for i in range(20):
            (docs / f"survey_{i:02}.txt").write_text(f"Survey {i} counted {100 + i} meteors over Thistlewood.\n")
        (docs / "orchard.md").write_text(ORCHARD, encoding="utf-8")
        _wait_for(lambda: "added orchard.md" in lines, 30, "added orchard.md", lines)
        picked_up_s = time.monotonic() - began
        assert watcher.syncs - before <= 2, lines
        assert sum(line.startswith("added survey_") for line in lines) == 20
        assert not any("~$" in line or "crdownload" in line or ".swp" in line for line in lines), lines
        answer = assistant.ask(ORCHARD_QUESTION)  # no sync of its own: the watcher's index answers
        assert "orchard.md" in _cited(answer) and "violet LED" in answer.text, answer

        # a file that cannot be read: one line, and the watcher carries on
        (docs / "broken.docx").write_bytes(os.urandom(2048))
        _wait_for(lambda: any(line.startswith("skipped broken.docx: ") for line in lines), 30, "the skip", lines)
        (docs / "orchard.md").write_text(ORCHARD.replace("violet", "amber"), encoding="utf-8")
        _wait_for(lambda: "updated orchard.md" in lines, 30, "updated orchard.md", lines)
        assert "amber LED" in assistant.ask(ORCHARD_QUESTION).text

        began = time.monotonic()
        (docs / "orchard.md").unlink()
        _wait_for(lambda: "removed orchard.md" in lines, 30, "removed orchard.md", lines)
        removed_s = time.monotonic() - began
        assert "orchard.md" not in _cited(assistant.ask(ORCHARD_QUESTION))
        assert sum(line.startswith("skipped broken.docx") for line in lines) == 1  # said once, not per sync

        # the folder vanishes (an unmounted share): its documents stay; when it is back, watching resumes
        docs.rename(tmp_path / "away")
        _wait_for(lambda: any("is missing" in line for line in lines), 15, "the missing folder", lines)
        assert "base.txt" in assistant.index.files()
        (tmp_path / "away").rename(docs)
        _wait_for(lambda: any("is back" in line for line in lines), 15, "the folder's return", lines)
        (docs / "late.txt").write_text(LATE, encoding="utf-8")
        _wait_for(lambda: "added late.txt" in lines, 30, "added late.txt", lines)
        assert "late.txt" in _cited(assistant.ask("青岚气象站的站长是谁？"))
    finally:
        watcher.stop()
    assert not watcher.running
    print(f"\nwatch: added file picked up in {picked_up_s:.1f} s (21-file burst), removal in {removed_s:.1f} s")


# ---- `rag watch` ----------------------------------------------------------------------------


@pytest.mark.slow
def test_rag_watch_command_indexes_and_drops_files(tmp_path):
    from rag import Config
    from rag.index import ChunkIndex

    docs, index_dir = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    (docs / "base.txt").write_text("The Lumen Bridge in Chaoyang opened in 2020.\n", encoding="utf-8")
    env = dict(os.environ, RAG_INDEX_DIR=str(index_dir), PYTHONUNBUFFERED="1")
    env.pop("RAG_DOCS_DIR", None)
    watch = ServerProcess("rag watch", [sys.executable, "-m", "rag", "watch", "--docs", str(docs)], env=env, cwd=ROOT)
    try:
        watch.wait_until(lambda: any(" up to date: 1 added" in line for line in watch.lines), timeout=120)
        config = Config.from_env(docs_dir=docs, index_dir=index_dir)
        index = ChunkIndex(config, config.index_key)  # read only: this process never syncs
        (docs / "orchard.md").write_text(ORCHARD, encoding="utf-8")
        watch.wait_until(lambda: any(line.endswith(" added orchard.md") for line in watch.lines), timeout=30)
        assert "violet LED" in index.document_text("orchard.md")
        assert index.files()["orchard.md"].chunks >= 1
        (docs / "orchard.md").unlink()
        watch.wait_until(lambda: any(line.endswith(" removed orchard.md") for line in watch.lines), timeout=30)
        assert set(index.files()) == {"base.txt"}
        assert not index.chunks.get(where={"source": "orchard.md"})["ids"], "no chunk of a removed file may stay"
        os.killpg(watch.proc.pid, signal.SIGINT)  # Ctrl-C is how a watch ends
        assert watch.proc.wait(20) == 0, watch.log()
        assert watch.printed("stopped watching"), watch.log()
    finally:
        watch.stop()
