"""Throughput and latency of `rag serve` under concurrent clients.

    /work/heavy --all .venv/bin/python -m eval.serve_bench [--clients 20] [--seconds 30]

Starts `python -m rag serve` on a folder (default: seeds/) with a fresh index and the
extractive backend, warms it with one question, times every question once from a single
client, then runs `--clients` clients at once, each sending the eval questions in turn
(from a different starting point) over its own keep-alive connection for `--seconds`.
Prints requests/s and latency p50/p95/p99 (client side, request sent to response read),
and checks that every concurrent answer equals the single-client answer to its question.
The clients run on the same machine as the server, so they take part of its CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from .questions import DEFAULT_DOCS, DEFAULT_QUESTIONS, load_questions


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation between the sorted values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def answer_key(body: dict) -> tuple:
    """What must not change between a lone and a concurrent answer."""
    return body["choices"][0]["message"]["content"], tuple(
        (c["n"], c["source"], c["start"], c["end"]) for c in body["citations"]
    )


def start_server(docs: Path, index: Path, port: int):
    """`python -m rag serve` in its own process group (tests/_servers.py's helper)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from _servers import ServerProcess

    env = {**os.environ, "RAG_DOCS_DIR": str(docs), "RAG_INDEX_DIR": str(index), "RAG_LLM": "extractive",
           "PYTHONUNBUFFERED": "1"}
    env.pop("RAG_API_KEY", None)
    server = ServerProcess("rag serve", [sys.executable, "-m", "rag", "serve", "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}/v1"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/models", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    server.wait_until(ready, timeout=300)
    return server, url


def ask(http: httpx.Client, url: str, model: str, question: str) -> tuple[float, int, dict | None]:
    body = {"model": model, "messages": [{"role": "user", "content": question}]}
    began = time.perf_counter()
    resp = http.post(f"{url}/chat/completions", json=body)
    seconds = time.perf_counter() - began
    return seconds, resp.status_code, resp.json() if resp.status_code == 200 else None


def run_clients(url: str, model: str, questions: list[str], clients: int, seconds: float, expected: dict) -> dict:
    """`clients` threads asking in turn for `seconds`; latencies, errors and mismatches."""
    latencies: list[float] = []
    errors: dict[int, int] = {}
    mismatches: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(offset: int) -> None:
        with httpx.Client(timeout=300) as http:
            http.get(f"{url}/models")  # connect before the clock starts
            barrier.wait()
            i = offset
            while time.perf_counter() < deadline[0]:
                question = questions[i % len(questions)]
                took, status, body = ask(http, url, model, question)
                with lock:
                    if status != 200:
                        errors[status] = errors.get(status, 0) + 1
                    else:
                        latencies.append(took)
                        if answer_key(body) != expected[question]:
                            mismatches.append(question)
                i += 1

    threads = [threading.Thread(target=client, args=(n * 7,)) for n in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "errors": errors,
        "mismatches": len(mismatches),
        "requests_per_s": round(len(latencies) / elapsed, 2),
        "p50_ms": round(percentile(latencies, 0.5) * 1000),
        "p95_ms": round(percentile(latencies, 0.95) * 1000),
        "p99_ms": round(percentile(latencies, 0.99) * 1000),
        "max_ms": round(max(latencies) * 1000) if latencies else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.serve_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="documents folder (default: seeds/)")
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the concurrent run")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here too")
    args = parser.parse_args(argv)
    from rag.local_model import free_port

    questions = [q.question for q in load_questions(args.questions)]
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        server, url = start_server(args.docs.resolve(), Path(tmp) / "index", free_port())
        try:
            model = httpx.get(f"{url}/models", timeout=10).json()["data"][0]["id"]
            with httpx.Client(timeout=300) as http:
                ask(http, url, model, "warm-up: what do the documents cover?")
                alone, expected = [], {}
                for q in questions:
                    took, status, body = ask(http, url, model, q)
                    if status != 200:
                        raise SystemExit(f"serve-bench: {q!r} got HTTP {status}")
                    alone.append(took)
                    expected[q] = answer_key(body)
            load = os.getloadavg()[0]
            concurrent = run_clients(url, model, questions, args.clients, args.seconds, expected)
        finally:
            server.stop()
    report = {
        "docs": str(args.docs),
        "questions": len(questions),
        "backend": "extractive",
        "load_average_1m_before": round(load, 2),
        "single_client": {
            "requests_per_s": round(len(alone) / sum(alone), 2),
            "p50_ms": round(statistics.median(alone) * 1000),
            "p95_ms": round(percentile(alone, 0.95) * 1000),
        },
        "concurrent": concurrent,
    }
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 1 if concurrent["errors"] or concurrent["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
