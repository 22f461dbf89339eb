"""`rag serve` as a real subprocess: the official `openai` client (plain and streamed answers,
two knowledge bases that must not leak, a wrong key refused), plain HTTP for the error
shapes, uploads and deletions, 20 requests at once, and a full queue answering 503.
Real model, real Chroma, real files; the extractive backend (tests/conftest.py).
"""
from __future__ import annotations

import os
import shutil
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from _servers import ServerProcess, free_port
from rag import Config
from rag.kb import add_base

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
KEY = "test-key-3f9a"
ANCHOR = "Which companies will join the Shanhewangu innovation zone?"
ORCHARD = {
    "orchard.txt": "The Velmora orchard lab grows apples under violet LED light. It opened in 2029 in Dunmere.\n",
    "果园.txt": "维尔莫拉果园实验室位于邓米尔，种植了一千二百棵苹果树。\n",
}
ORCHARD_Q = "What does the Velmora orchard lab grow?"
ABSTAIN_TEXT = "文档中没有找到答案。The documents do not say."
QUESTIONS = [  # (model, question): both bases, both languages, and abstentions
    ("rag:seeds", ANCHOR),
    ("rag:seeds", "哪些企业将入驻山河湾谷创新区？"),
    ("rag:seeds", "How many industry envoys did Beijing have by the end of 2023?"),
    ("rag:orchard", ORCHARD_Q),
    ("rag:orchard", "维尔莫拉果园实验室种了多少棵苹果树？"),
    ("rag:orchard", ANCHOR),  # the other base's question: abstains
]


class ApiServer(ServerProcess):
    """`python -m rag serve` on an index root, ready once it answers /v1/models."""

    def __init__(self, docs: Path, index: Path, key: str | None = None, **env_vars: str):
        port = free_port()
        env = {**os.environ, "RAG_DOCS_DIR": str(docs), "RAG_INDEX_DIR": str(index), "PYTHONUNBUFFERED": "1", **env_vars}
        env.pop("RAG_API_KEY", None)
        if key:
            env["RAG_API_KEY"] = key
        super().__init__("rag serve", [sys.executable, "-m", "rag", "serve", "--port", str(port)], env=env, cwd=ROOT)
        self.url = f"http://127.0.0.1:{port}/v1"
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.wait_until(self._models_listed, timeout=120)

    def _models_listed(self) -> bool:
        try:
            return httpx.get(f"{self.url}/models", headers=self.headers, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def client(self, key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=key or KEY, max_retries=0, timeout=120)

    def post(self, path: str, headers: dict | None = None, **kwargs) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", headers={**self.headers, **(headers or {})}, timeout=120, **kwargs)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("serve")
    seeds = base / "seeds"
    shutil.copytree(SEEDS, seeds)
    orchard = base / "orchard"
    orchard.mkdir()
    for name, text in ORCHARD.items():
        (orchard / name).write_text(text, encoding="utf-8")
    add_base(Config.from_env(docs_dir=seeds, index_dir=base / "index"), "orchard", orchard)
    return seeds, orchard, base / "index"


@pytest.fixture(scope="module")
def server(folders):
    seeds, _, index = folders
    # 0.05 MB: every seed file fits (the largest is 8.5 kB), a 60 kB upload does not.
    srv = ApiServer(seeds, index, key=KEY, RAG_MAX_FILE_MB="0.05")
    try:
        yield srv
    finally:
        srv.stop()


def extra(obj, name: str):
    """A field outside OpenAI's schema, as the openai client keeps it."""
    return (obj.model_extra or {}).get(name)


def signature(completion) -> tuple:
    citations = extra(completion, "citations")
    return completion.choices[0].message.content, tuple((c["n"], c["source"], c["start"], c["end"], c["quote"]) for c in citations)


def streamed(client: openai.OpenAI, model: str, messages: list[dict]) -> tuple[str, list, list]:
    """(joined content, every chunk, the final chunk's citations)."""
    chunks = list(client.chat.completions.create(model=model, messages=messages, stream=True))
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return content, chunks, extra(chunks[-1], "citations")


# ---- the openai client ---------------------------------------------------------------


def test_models_are_the_knowledge_bases(server):
    models = server.client().models.list()
    assert [m.id for m in models.data] == ["rag:seeds", "rag:orchard"]


def test_answers_match_the_library_and_stream_the_same(server, seeds_assistant):
    client = server.client()
    completion = client.chat.completions.create(model="rag:seeds", messages=[{"role": "user", "content": ANCHOR}])
    library = seeds_assistant.ask(ANCHOR)
    assert not library.abstained and library.citations
    assert completion.model == "rag:seeds" and completion.choices[0].finish_reason == "stop"
    assert signature(completion) == (
        library.text, tuple((c.n, c.source, c.start, c.end, c.quote) for c in library.citations)
    )
    assert "[1]" in completion.choices[0].message.content
    citation = extra(completion, "citations")[0]
    assert set(citation) >= {"source", "title", "page", "quote", "start", "end"}
    assert extra(completion, "rag")["abstained"] is False

    content, chunks, citations = streamed(client, "rag:seeds", [{"role": "user", "content": ANCHOR}])
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert content == completion.choices[0].message.content
    assert citations == extra(completion, "citations")


def test_two_bases_do_not_leak_into_each_other(server, folders):
    client = server.client()
    own = client.chat.completions.create(model="rag:orchard", messages=[{"role": "user", "content": ORCHARD_Q}])
    assert "apples" in own.choices[0].message.content
    assert {c["source"] for c in extra(own, "citations")} <= set(ORCHARD)
    for c in extra(own, "citations"):  # the orchard files are plain text: quotes are verbatim
        assert c["quote"] in ORCHARD[c["source"]]

    for model, question in (("rag:seeds", ORCHARD_Q), ("rag:orchard", ANCHOR)):
        other = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}])
        assert other.choices[0].message.content == ABSTAIN_TEXT
        assert extra(other, "citations") == [] and extra(other, "rag")["abstained"] is True
        content, _, citations = streamed(client, model, [{"role": "user", "content": question}])
        assert content == ABSTAIN_TEXT and citations == []


def test_a_follow_up_is_answered_from_the_conversation(server, seeds_assistant):
    """Earlier turns are used as `Assistant.chat` uses them: the server's answer is the library's."""
    turns = [
        {"role": "user", "content": ANCHOR},
        {"role": "assistant", "content": "Beijing Enterprises Group, Huawei, Xiaomi and Alibaba [1]."},
        {"role": "user", "content": "And when did construction begin?"},
    ]
    library = seeds_assistant.chat(turns)
    messages = [{"role": "system", "content": "You are a helpful assistant."}, *turns[:2],
                {"role": "user", "content": [{"type": "text", "text": turns[2]["content"]}]}]
    completion = server.client().chat.completions.create(model="rag:seeds", messages=messages)
    rag = extra(completion, "rag")
    assert rag["question"] == library.question and "Shanhewangu" in rag["question"]  # made standalone
    assert signature(completion) == (
        library.text, tuple((c.n, c.source, c.start, c.end, c.quote) for c in library.citations)
    )


def test_a_wrong_or_missing_key_is_refused(server):
    with pytest.raises(openai.AuthenticationError) as caught:
        server.client(key="wrong").chat.completions.create(
            model="rag:seeds", messages=[{"role": "user", "content": ANCHOR}]
        )
    assert caught.value.status_code == 401
    resp = httpx.get(f"{server.url}/models", timeout=10)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_api_key"
    assert resp.headers["www-authenticate"] == "Bearer"


# ---- plain HTTP: errors, retrieval, uploads --------------------------------------------------


@pytest.mark.parametrize(
    "body, status, code, param",
    [
        ({"model": "rag:nope", "messages": [{"role": "user", "content": "q"}]}, 404, "model_not_found", "model"),
        ({"messages": [{"role": "user", "content": "q"}]}, 400, "invalid_request", "model"),
        ({"model": "rag:seeds"}, 400, "invalid_request", "messages"),
        ({"model": "rag:seeds", "messages": []}, 400, "invalid_request", "messages"),
        ({"model": "rag:seeds", "messages": [{"role": "assistant", "content": "hi"}]}, 400, "invalid_messages", "messages"),
        ({"model": "rag:seeds", "messages": [{"role": "user", "content": " \u200b\x00 "}]}, 400, "empty_question", "messages"),
        ({"model": "rag:seeds", "messages": "hello"}, 400, "invalid_request", "messages"),
        ({"model": "rag:seeds", "messages": [{"role": "user", "content": "q"}], "top_k": 0}, 400, "invalid_request", "top_k"),
    ],
)
def test_bad_requests_get_openai_error_shapes(server, body, status, code, param):
    resp = server.post("/chat/completions", json=body)
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (code, param, "invalid_request_error")
    assert error["message"]


def test_malformed_json_and_unknown_routes(server):
    resp = server.post("/chat/completions", content=b'{"model": "rag:seeds", "messages": [',
                       headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_json", resp.text
    resp = httpx.get(f"{server.url}/nowhere", headers=server.headers, timeout=10)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    resp = httpx.get(f"{server.url}/chat/completions", headers=server.headers, timeout=10)
    assert resp.status_code == 405 and "error" in resp.json()


def test_retrieve_shows_every_score(server):
    resp = server.post("/kb/seeds/retrieve", json={"query": ANCHOR, "top_k": 5})
    assert resp.status_code == 200, resp.text
    ranked = resp.json()["data"]
    assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1)) and len(ranked) == 5
    assert all(r["source"] in {p.name for p in SEEDS.iterdir()} for r in ranked)
    fused = [r["fused_score"] for r in ranked if r["reason"] == "fused"]
    assert fused == sorted(fused, reverse=True)
    assert any(r["dense_rank"] and r["bm25_rank"] and r["bm25_score"] > 0 for r in ranked)
    assert server.post("/kb/nope/retrieve", json={"query": "q"}).status_code == 404


def upload(server, base: str, name: str, data: bytes) -> httpx.Response:
    return server.post(f"/kb/{base}/files", files={"file": (name, data, "application/octet-stream")})


def test_uploads_are_checked_indexed_and_rolled_back(server, folders):
    _, orchard, _ = folders
    before = sorted(p.name for p in orchard.iterdir())
    fact = b"# Dunmere cider\n\nThe Dunmere cider press was built by Ostrik Vale in 2030.\n"
    resp = upload(server, "orchard", "dunmere.md", fact)
    assert resp.status_code == 200, resp.text
    assert [(r["name"], r["outcome"], r["source"]) for r in resp.json()["data"]] == [("dunmere.md", "added", "dunmere.md")]
    client = server.client()
    question = [{"role": "user", "content": "Who built the Dunmere cider press?"}]
    answer = client.chat.completions.create(model="rag:orchard", messages=question)
    assert "Ostrik Vale" in answer.choices[0].message.content
    assert {c["source"] for c in extra(answer, "citations")} == {"dunmere.md"}

    refused = {
        "tool.exe": (b"MZ\x90\x00", 415, "unsupported_type"),
        "empty.txt": (b"", 400, "empty"),
        "big.txt": (b"word " * 12_000, 413, "too_large"),  # 60 kB > RAG_MAX_FILE_MB=0.05
        "broken.docx": (os.urandom(2048), 422, "not_indexed"),  # not a zip: ingest skips it
    }
    for name, (data, status, code) in refused.items():
        resp = upload(server, "orchard", name, data)
        assert resp.status_code == status, (name, resp.text)
        assert resp.json()["error"]["code"] == code and resp.json()["data"][0]["name"] == name
    assert server.post("/kb/orchard/files", data={"note": "no file"}).status_code == 400
    assert upload(server, "nope", "a.txt", b"text").status_code == 404

    resp = upload(server, "orchard", "../../escape.txt", b"The Marrow lighthouse is 40 metres tall.\n")
    assert resp.status_code == 200 and resp.json()["data"][0]["source"] == "escape.txt"
    assert not (orchard.parent.parent / "escape.txt").exists()
    assert sorted(p.name for p in orchard.iterdir()) == sorted(before + ["dunmere.md", "escape.txt"])

    for source in ("dunmere.md", "escape.txt"):
        resp = httpx.delete(f"{server.url}/kb/orchard/files/{source}", headers=server.headers, timeout=60)
        assert resp.status_code == 200 and resp.json()["deleted"] == source
    assert sorted(p.name for p in orchard.iterdir()) == before
    gone = client.chat.completions.create(model="rag:orchard", messages=question)
    assert "dunmere.md" not in {c["source"] for c in extra(gone, "citations")}
    resp = httpx.delete(f"{server.url}/kb/orchard/files/dunmere.md", headers=server.headers, timeout=60)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    resp = httpx.delete(f"{server.url}/kb/orchard/files/..%2Fseeds%2F{SEEDS.iterdir().__next__().name}",
                        headers=server.headers, timeout=60)
    assert resp.status_code in (400, 404) and "error" in resp.json()
    files = httpx.get(f"{server.url}/kb/orchard/files", headers=server.headers, timeout=60).json()["data"]
    assert sorted(f["source"] for f in files) == sorted(ORCHARD)


# ---- load ----------------------------------------------------------------------------


def ask_all_at_once(server, requests: list[tuple[str, str]]) -> list:
    """Each request from its own client and thread, released together."""
    barrier = threading.Barrier(len(requests))

    def ask(request):
        model, question = request
        client = server.client()
        client.models.list()  # connect first, so the questions themselves arrive together
        barrier.wait()
        return client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}])

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(ask, requests))


def test_twenty_concurrent_requests_match_the_sequential_answers(server):
    client = server.client()
    alone = {
        request: signature(client.chat.completions.create(model=request[0], messages=[{"role": "user", "content": request[1]}]))
        for request in QUESTIONS
    }
    requests = [QUESTIONS[i % len(QUESTIONS)] for i in range(20)]
    for request, completion in zip(requests, ask_all_at_once(server, requests)):
        assert signature(completion) == alone[request], request


def test_a_full_queue_answers_503_and_the_server_keeps_serving(folders, tmp_path):
    _, orchard, _ = folders
    busy = ApiServer(orchard, tmp_path / "index", RAG_SERVE_WORKERS="1", RAG_SERVE_QUEUE="0")
    try:
        question = [{"role": "user", "content": ORCHARD_Q}]
        expected = signature(busy.client().chat.completions.create(model="rag:orchard", messages=question))
        barrier = threading.Barrier(20)

        def post(_):
            with httpx.Client(timeout=120) as http:
                http.get(f"{busy.url}/models")
                barrier.wait()
                return http.post(f"{busy.url}/chat/completions", json={"model": "rag:orchard", "messages": question})

        with ThreadPoolExecutor(max_workers=20) as pool:
            responses = list(pool.map(post, range(20)))
        refused = [r for r in responses if r.status_code == 503]
        assert refused and len(refused) < 20, [r.status_code for r in responses]
        assert all(r.status_code in (200, 503) for r in responses)
        error = refused[0].json()["error"]
        assert (error["type"], error["code"]) == ("server_error", "overloaded") and refused[0].headers["retry-after"]
        for r in responses:
            if r.status_code == 200:
                body = r.json()
                assert (body["choices"][0]["message"]["content"], tuple(
                    (c["n"], c["source"], c["start"], c["end"], c["quote"]) for c in body["citations"])) == expected
        after = busy.client().chat.completions.create(model="rag:orchard", messages=question)
        assert signature(after) == expected
    finally:
        busy.stop()
