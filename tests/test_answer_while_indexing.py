"""Questions asked while a folder is being indexed are answered from the files already
written, and say how far indexing has got. Real model, real Chroma, real files; the ingest
is held half-way by a gate in front of the real embedder, so the test sees that moment."""
from __future__ import annotations

import threading

import pytest

import rag.sync
from rag import Assistant
from rag.embeddings import _QueriesFirst

FILES = {
    "a_ferry.txt": "The Kestwick ferry runs twice a day. It leaves from Pier 7.\n",
    "b_station.txt": "青岚气象站建于1998年。站长是白榆研究员。该站每年记录雷暴一百余次。\n",
    "c_market.txt": "The Harbour Ward market opens at nine. Stall 12 sells apples. Stall 14 sells bread.\n",
    "d_trail.txt": "".join(f"丹霞山第{i}号步道长{i * 3}公里。" for i in range(1, 12)) + "\n",
}
FIRST_QUESTION = "How often does the Kestwick ferry run?"
LATER_QUESTION = "青岚气象站建于哪一年？"


class GatedEmbedder:
    """The real embedder, except that passage calls after the first `open_calls` wait for
    `gate`: the ingest stops there, with the files embedded so far written."""

    def __init__(self, real, open_calls: int) -> None:
        self.real, self.open_calls, self.calls = real, open_calls, 0
        self.gate, self.held = threading.Event(), threading.Event()

    def embed_passages(self, texts, batch_size=64, progress=False):
        self.calls += 1
        if self.calls > self.open_calls:
            self.held.set()
            assert self.gate.wait(120), "the test never opened the gate"
        return self.real.embed_passages(texts, batch_size, progress)

    def __getattr__(self, name):  # queries, token counts, model info: the real embedder's
        return getattr(self.real, name)


@pytest.fixture()
def held_ingest(tmp_path, embedder, monkeypatch):
    """An ingest of FILES in a thread, stopped after its first engine round."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, body in FILES.items():
        (docs / name).write_text(body, encoding="utf-8")
    monkeypatch.setattr(rag.sync, "EMBED_BATCH", 4)  # a round ends inside the second file
    gated = GatedEmbedder(embedder, open_calls=1)
    assistant = Assistant(docs, tmp_path / "index", embedder=gated)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("report", assistant.ingest()))
    thread.start()
    try:
        assert gated.held.wait(60), "the ingest never reached its second engine round"
        yield assistant, gated, thread, result
    finally:
        gated.gate.set()
        thread.join(120)


def _wait_for_first_file(assistant) -> None:
    for _ in range(600):
        report = assistant.indexing
        if report is not None and report.files_done >= 1:
            return
        threading.Event().wait(0.05)
    raise AssertionError("no file was written before the gate")


def test_answers_from_the_files_written_so_far_and_says_so(held_ingest):
    assistant, gated, thread, result = held_ingest
    _wait_for_first_file(assistant)
    assert thread.is_alive() and assistant.indexing is not None

    answer = assistant.ask(FIRST_QUESTION)
    assert not answer.abstained
    assert "twice a day" in answer.text
    assert {c.source for c in answer.citations} == {"a_ferry.txt"}
    assert f"of {len(FILES)} files so far" in answer.notice
    live = assistant.status()["indexing"]
    assert live["files_to_index"] == len(FILES) and 1 <= live["files_done"] < len(FILES)

    waiting = assistant.ask(LATER_QUESTION)  # its file is not written yet: nothing to cite from it
    assert "b_station.txt" not in {c.source for c in waiting.citations}

    gated.gate.set()
    thread.join(120)
    report = result["report"]
    assert sorted(report.added) == sorted(FILES) and report.files_done == len(FILES)
    assert assistant.indexing is None and assistant.status()["indexing"] is None

    later = assistant.ask(LATER_QUESTION)
    assert not later.abstained and "1998" in later.text
    assert "b_station.txt" in {c.source for c in later.citations}
    assert later.notice == ""
    assert assistant.index.chunk_count() == len(assistant.index.bm25().ids)  # BM25 rebuilt once at the end


def test_documents_list_shows_the_files_written_so_far(held_ingest):
    assistant, gated, thread, result = held_ingest
    _wait_for_first_file(assistant)
    listed = [f.source for f in assistant.documents()]  # does not wait for the ingest
    assert "a_ferry.txt" in listed and len(listed) < len(FILES)


def test_a_waiting_query_goes_before_the_next_passage_batch():
    """The engine's turn order: a query waiting when a call ends runs before the passages
    queued behind it, so a question asked during indexing waits for one call only."""
    calls = _QueriesFirst()
    order: list[str] = []
    first_running, release_first = threading.Event(), threading.Event()

    def run(kind: str, is_query: bool, hold: bool = False) -> None:
        with calls.call(is_query):
            order.append(kind)
            if hold:
                first_running.set()
                release_first.wait(10)

    first = threading.Thread(target=run, args=("passages 1", False, True))
    first.start()
    first_running.wait(10)
    second = threading.Thread(target=run, args=("passages 2", False))
    second.start()
    threading.Event().wait(0.2)  # passages 2 is queued first
    query = threading.Thread(target=run, args=("query", True))
    query.start()
    threading.Event().wait(0.2)
    release_first.set()
    for t in (first, second, query):
        t.join(10)
    assert order == ["passages 1", "query", "passages 2"]


def test_a_sync_with_nothing_to_write_changes_no_answer(tmp_path, embedder, monkeypatch):
    """A watcher's sync scans the folder often; while it only scans (and when it finds
    nothing new) answers carry no indexing notice and status shows no indexing."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a_ferry.txt").write_text(FILES["a_ferry.txt"], encoding="utf-8")
    assistant = Assistant(docs, tmp_path / "index", embedder=embedder)
    assistant.ingest()
    scanning, release = threading.Event(), threading.Event()
    real_hash = rag.sync._hash_files

    def held_scan(*args, **kwargs):
        scanning.set()
        assert release.wait(60), "the test never released the scan"
        return real_hash(*args, **kwargs)

    monkeypatch.setattr(rag.sync, "_hash_files", held_scan)
    thread = threading.Thread(target=assistant.ingest)
    thread.start()
    try:
        assert scanning.wait(60)
        answer = assistant.ask(FIRST_QUESTION)
        assert "twice a day" in answer.text and answer.notice == ""
        assert assistant.indexing is None and assistant.status()["indexing"] is None
    finally:
        release.set()
        thread.join(60)
