"""Chroma server mode (RAG_CHROMA_URL): a real `chroma run` in a subprocess, shared by
several Assistants and processes as separate machines would share it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _servers import ServerProcess, answers_http, free_port
from rag import Assistant, Config
from rag.errors import StoreError

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_002 = "002_e1ad1554a458d264.txt"
ANCHOR = "Which companies will join the Shanhewangu innovation zone?"
CHROMA = Path(sys.executable).with_name("chroma")


class ChromaServer(ServerProcess):
    """`chroma run` on a data folder, answering its heartbeat."""

    def __init__(self, path: Path, port: int):
        super().__init__(
            "chroma run", [str(CHROMA), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
        )
        self.url = f"http://127.0.0.1:{port}"
        self.wait_until(lambda: answers_http(f"{self.url}/api/v2/heartbeat"), timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not CHROMA.exists():
        pytest.skip(f"{CHROMA} is missing (pip install chromadb)")
    base = tmp_path_factory.mktemp("chroma-server")
    srv = ChromaServer(base / "data", free_port())
    srv.data = base / "data"
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def shared(server, tmp_path_factory, embedder):
    """One documents folder (a network share, say) and the first machine's Assistant."""
    base = tmp_path_factory.mktemp("server-docs")
    docs = base / "docs"
    docs.mkdir()
    shutil.copy2(SEEDS / SEED_002, docs / SEED_002)
    (docs / "park.txt").write_text("翠微湖生态公园将于2030年开放，占地四百公顷。\n", encoding="utf-8")
    first = machine(server, docs, base / "index-a", embedder)
    report = first.ingest()
    assert sorted(report.added) == [SEED_002, "park.txt"]
    return docs, first


def machine(server, docs: Path, index_dir: Path, embedder) -> Assistant:
    """An Assistant as another machine runs it: its own index dir (BM25 cache, lock), the shared server."""
    assistant = Assistant(config=Config.from_env(docs_dir=docs, index_dir=index_dir, chroma_url=server.url), embedder=embedder)
    return assistant


def signature(answer) -> tuple:
    return answer.abstained, answer.text, tuple((c.source, c.start, c.end, c.quote) for c in answer.citations)


def test_ingest_and_ask_through_a_chroma_server(server, shared):
    docs, first = shared
    answer = first.ask(ANCHOR)
    assert not answer.abstained and "Huawei" in answer.text
    assert any(c.source == SEED_002 for c in answer.citations)
    for c in answer.citations:
        assert first.document_text(c.source)[c.start : c.end] == c.quote
    # The vectors live on the server; the index dir only holds the lock and the BM25 cache.
    index_dir = Path(first.config.index_dir)
    assert not (index_dir / "chroma").exists()
    assert (server.data / "chroma.sqlite3").exists()
    assert first.index.chunk_count() == len(first.index.bm25().ids) > 0


def test_a_second_machine_sees_the_same_index(server, shared, tmp_path, embedder):
    docs, first = shared
    second = machine(server, docs, tmp_path / "index-b", embedder)
    report = second.ingest()
    assert report.chunks == 0 and report.unchanged == 2 and not report.added  # nothing embedded again
    assert second.index.files() == first.index.files()
    assert sorted(second.index.chunks.get(include=[])["ids"]) == sorted(first.index.chunks.get(include=[])["ids"])
    assert signature(second.ask(ANCHOR)) == signature(first.ask(ANCHOR))
    # ... and so does another process.
    env = dict(os.environ, RAG_LLM="extractive")  # the LLM is the default now
    env.update(RAG_CHROMA_URL=server.url)
    proc = subprocess.run(
        [sys.executable, "-m", "rag", "--index", str(tmp_path / "index-c"), "docs", "--docs", str(docs)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [line.split("\t")[0] for line in proc.stdout.splitlines()] == [SEED_002, "park.txt"]


def test_a_change_made_on_one_machine_reaches_the_other(server, shared, tmp_path, embedder):
    docs, first = shared
    second = machine(server, docs, tmp_path / "index-b", embedder)
    second.ask(ANCHOR)  # its BM25 is now built and held in memory
    fact = "The Zephyrion quantum sensing lab will open in the Shanhewangu zone in 2031."
    (docs / "zephyrion.txt").write_text(fact + "\n", encoding="utf-8")
    try:
        assert first.ingest().added == ["zephyrion.txt"]
        report = second.ingest()  # e.g. the web app's Re-index button
        assert report.chunks == 0 and not report.added
        top = second.retrieve("Zephyrion quantum sensing lab", top_k=3)
        assert top[0].chunk.source == "zephyrion.txt"
        assert top[0].sparse_rank == 0  # the keyword index saw the other machine's chunks too
    finally:
        (docs / "zephyrion.txt").unlink()
        first.ingest()
    assert "zephyrion.txt" not in second.index.files()


def test_server_down_is_a_clear_error_and_data_survives_a_restart(server, shared, tmp_path, embedder):
    docs, first = shared
    before = first.index.files()
    server.stop()
    with pytest.raises(StoreError, match=r"Chroma at http://127\.0\.0\.1:\d+ failed .*is `chroma run` up\?"):
        first.ask(ANCHOR)
    with pytest.raises(StoreError, match=r"cannot reach Chroma at .*is `chroma run` up\?"):
        machine(server, docs, tmp_path / "index-d", embedder).index
    restarted = ChromaServer(server.data, free_port())
    try:
        again = machine(restarted, docs, tmp_path / "index-e", embedder)
        assert again.index.files() == before
        answer = again.ask(ANCHOR)
        assert "Huawei" in answer.text
    finally:
        restarted.stop()
