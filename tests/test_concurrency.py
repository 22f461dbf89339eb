"""Concurrent questions: threads against one Assistant, and HTTP clients against the running
web app (`python -m ui` in a subprocess). Every request must complete, and each answer must
be the one the same question gets when asked alone. Real model, Chroma and server.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from _servers import ServerProcess, free_port
from rag import Assistant

ROOT = Path(__file__).resolve().parent.parent
SEED_QUESTIONS = [
    "Which companies will join the Shanhewangu innovation zone?",
    "哪些企业将入驻山河湾谷创新区？",
    "哪些企業將入駐山河灣谷創新區？",
    "How many industry envoys did Beijing have by the end of 2023?",
    "What is the capital of France?",  # abstains
]
SMALL_CORPUS = {
    "harbour.txt": "The Quillon Harbour ferry terminal will open in March 2031. It will serve 12,000 passengers a day.\n",
    "museum.md": "---\ntitle: Ostrava glass museum\n---\nThe Ostrava glass museum reopened in 2028 after a four-year renovation.\n",
    "公园.txt": "翠微湖生态公园将于2030年开放，占地四百公顷。公园由市园林局负责建设。\n",
}
SMALL_QUESTIONS = [
    "When will the Quillon Harbour ferry terminal open?",
    "How many passengers a day will the ferry terminal serve?",
    "翠微湖生态公园占地多少公顷？",
    "When did the Ostrava glass museum reopen?",
    "Who won the 1998 World Cup?",  # abstains
]
REQUESTS = 20


def signature(answer) -> tuple:
    return answer.abstained, answer.text, tuple((c.n, c.source, c.start, c.end, c.quote) for c in answer.citations)


def ask_all_at_once(assistant: Assistant, questions: list[str]) -> list:
    """Each question from its own thread, all released at the same moment."""
    barrier = threading.Barrier(len(questions))

    def ask(question):
        barrier.wait()
        return assistant.ask(question)

    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        return list(pool.map(ask, questions))


def test_concurrent_asks_match_sequential_answers(seeds_assistant):
    alone = {q: signature(seeds_assistant.ask(q)) for q in SEED_QUESTIONS}
    questions = [SEED_QUESTIONS[i % len(SEED_QUESTIONS)] for i in range(REQUESTS)]
    began = time.perf_counter()
    answers = ask_all_at_once(seeds_assistant, questions)
    seconds = time.perf_counter() - began
    assert len(answers) == REQUESTS
    for question, answer in zip(questions, answers):
        assert signature(answer) == alone[question], question
    assert seconds < 120, seconds


def test_concurrent_first_questions_on_a_cold_assistant(tmp_path, embedder):
    """20 threads ask a new Assistant at once: the index is built once, nothing races."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in SMALL_CORPUS.items():
        (docs / name).write_text(text, encoding="utf-8")
    cold = Assistant(docs, tmp_path / "index", embedder=embedder)
    questions = [SMALL_QUESTIONS[i % len(SMALL_QUESTIONS)] for i in range(REQUESTS)]
    answers = ask_all_at_once(cold, questions)
    warm = Assistant(docs, tmp_path / "index", embedder=embedder)
    alone = {q: signature(warm.ask(q)) for q in SMALL_QUESTIONS}
    for question, answer in zip(questions, answers):
        assert signature(answer) == alone[question], question
    assert len(cold.index.files()) == len(SMALL_CORPUS)
    assert cold.index.chunk_count() == len(cold.index.bm25().ids)


def test_a_question_waits_for_another_process_brief_index_check(seeds_assistant):
    """Every process checks the index under the writer lock before its first question;
    two `rag ask` started together used to fail with "another process is updating"."""
    from rag.sync import LOCK_WAIT_S, writer_lock

    index_dir = Path(seeds_assistant.config.index_dir)
    held = threading.Event()

    def other_process():
        with writer_lock(index_dir):  # a new open file: excluded like another process
            held.set()
            time.sleep(1.5)

    holder = threading.Thread(target=other_process)
    holder.start()
    held.wait(10)
    began = time.perf_counter()
    report = seeds_assistant.ingest()
    waited = time.perf_counter() - began
    holder.join()
    assert report.chunks == 0 and not report.added
    assert 1.0 < waited < LOCK_WAIT_S


# ---- the web app ---------------------------------------------------------------------


class UiServer(ServerProcess):
    """`python -m ui` on a folder, every request served at once."""

    def __init__(self, docs: Path, index: Path, port: int):
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
        env.update(
            RAG_DOCS_DIR=str(docs),
            RAG_INDEX_DIR=str(index),
            RAG_UI_HOST="127.0.0.1",
            RAG_UI_PORT=str(port),
            RAG_UI_CONCURRENCY=str(REQUESTS),  # all 20 requests in flight at once
            RAG_LLM="extractive",  # the LLM is the default now; this test is about the quotes
            PYTHONUNBUFFERED="1",
            GRADIO_ANALYTICS_ENABLED="False",
        )
        super().__init__("the UI", [sys.executable, "-m", "ui"], env=env, cwd=ROOT)
        self.url = f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("ui-concurrency")
    docs = base / "docs"
    docs.mkdir()
    for name, text in SMALL_CORPUS.items():
        (docs / name).write_text(text, encoding="utf-8")
    server = UiServer(docs, base / "index", free_port())
    try:
        server.wait_until(lambda: server.printed("Index ready"), timeout=240)
        yield server
    finally:
        server.stop()


def _reply(job) -> tuple[str, str]:
    """(the answer as shown in the chat, the last sources panel) from a finished /respond job."""
    outputs = job.outputs()
    _, messages, _ = job.result()
    content = messages[-1]["content"]
    text = content[0]["text"] if isinstance(content, list) else content
    panels = [out[2] for out in outputs if isinstance(out[2], str)]
    return text, panels[-1] if panels else ""


def test_concurrent_requests_to_the_web_app_match_sequential_answers(ui_server):
    from gradio_client import Client

    client = Client(ui_server.url, verbose=False)
    alone = {}
    for question in SMALL_QUESTIONS:
        job = client.submit(question, [], 6, api_name="/respond")
        job.result(timeout=120)
        alone[question] = _reply(job)
    assert all("⚠" not in text for text, _ in alone.values()), alone
    assert "12,000" in alone[SMALL_QUESTIONS[1]][0] and "rag-card" in alone[SMALL_QUESTIONS[1]][1]

    questions = [SMALL_QUESTIONS[i % len(SMALL_QUESTIONS)] for i in range(REQUESTS)]
    began = time.perf_counter()
    jobs = [client.submit(q, [], 6, api_name="/respond") for q in questions]
    for job in jobs:
        job.result(timeout=180)
    seconds = time.perf_counter() - began
    served = 0
    for question, job in zip(questions, jobs):
        assert _reply(job) == alone[question], (question, ui_server.log())
        served += 1
    assert served == REQUESTS
    assert seconds < 180, seconds
    assert ui_server.proc.poll() is None, ui_server.log()
    assert not [line for line in ui_server.lines if "Traceback" in line or "question failed" in line], ui_server.log()
