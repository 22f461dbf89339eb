"""`python -m eval.bench_llm`: how fast each answer backend is on seed questions.

For each backend (extractive; local = llama.cpp in process; openai = the same GGUF behind
a local `llama_cpp.server`, reached over HTTP) and each question: time to first token
(from the call to ask, retrieval included), total time, generation speed (new tokens per
second after the first), prompt and passage (context) tokens, grounded share.
Prints a table and writes eval/reports/<timestamp>/bench_llm.json.

    python -m eval.bench_llm                          # all three backends, 5 questions
    python -m eval.bench_llm --backends local --questions 2
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

EVAL_DIR = Path(__file__).resolve().parent
ROOT = EVAL_DIR.parent
QUESTIONS = [
    "哪些企业将入驻山河湾谷创新区？",
    "Which companies will join the Shanhewangu innovation zone?",
    "北京高校科协联盟重点开展哪四大行动？",
    "How many industry envoys did Beijing have by the end of 2023?",
    "中关村科技园区朝阳园管理委员会、北京工业大学和北京控股集团有限公司在哪一天签订了战略合作协议？",
]


def run_question(assistant, question: str) -> dict:
    began = time.perf_counter()
    first_answer = first_token = None
    final = None
    for answer in assistant.ask_stream(question):
        now = time.perf_counter() - began
        if first_answer is None:
            first_answer = now
        if answer.partial and first_token is None:
            first_token = now
        final = answer
    total = time.perf_counter() - began
    timings = final.timings or {}
    llm = final.backend != "extractive"
    return {
        "question": question,
        "backend": final.backend,
        "first_token_s": round(first_token if first_token is not None else first_answer, 3),
        "extractive_s": round(first_answer, 3),
        "total_s": round(total, 3),
        "tokens_per_s": timings.get("tokens_per_s") if llm else None,
        "context_tokens": timings.get("context_tokens") if llm else None,
        "prompt_tokens": timings.get("prompt_tokens") if llm else None,
        "completion_tokens": timings.get("completion_tokens") if llm else None,
        "grounded": final.grounded,
        "abstained": final.abstained,
        "notice": final.notice,
        "text": final.text,
        "citations": len(final.citations),
    }


def bench(backends: list[str], questions: list[str], index_dir: Path) -> dict:
    from rag import Assistant, Config
    from rag.llm import LocalLlamaGenerator, OpenAICompatibleGenerator
    from rag.local_model import ensure_model, llama_server

    config = Config.from_env(docs_dir=ROOT / "seeds", index_dir=index_dir, llm="extractive")
    base = Assistant(config=config)
    base.ingest(progress=False)
    base.ask(questions[0])  # loads the embedder and warms the caches
    results: dict = {"backends": {}, "setup": {}}
    if {"local", "openai"} & set(backends):
        began = time.perf_counter()
        model = ensure_model(config, progress=True)
        results["setup"]["model_ready_s"] = round(time.perf_counter() - began, 2)
    for backend in backends:
        print(f"== {backend}", file=sys.stderr, flush=True)
        if backend == "extractive":
            rows = [run_question(base, q) for q in questions]
        elif backend == "local":
            generator = LocalLlamaGenerator(config)
            began = time.perf_counter()
            generator.load()
            results["setup"]["local_load_s"] = round(time.perf_counter() - began, 2)
            rows = [run_question(base.with_generator(generator), q) for q in questions]
            del generator
        elif backend == "openai":
            began = time.perf_counter()
            with llama_server(model, threads=config.llm_threads or os.cpu_count() or 2, n_ctx=config.llm_ctx) as url:
                results["setup"]["server_start_s"] = round(time.perf_counter() - began, 2)
                generator = OpenAICompatibleGenerator(config, base_url=url, model="local", timeout=300)
                rows = [run_question(base.with_generator(generator), q) for q in questions]
        else:
            raise SystemExit(f"unknown backend {backend!r}")
        for row in rows:
            print(f"   {row['total_s']:6.1f} s  {row['backend']:10s} {row['question'][:40]}", file=sys.stderr, flush=True)
        results["backends"][backend] = rows
    return results


def _fit(text: str, width: int) -> str:
    """Cut and pad to a display width (CJK characters take two columns)."""
    import unicodedata

    def cols(ch: str) -> int:
        return 2 if unicodedata.east_asian_width(ch) in "WF" else 1

    total = sum(map(cols, text))
    if total <= width:
        return text + " " * (width - total)
    out, used = "", 0
    for ch in text:
        if used + cols(ch) > width - 1:
            break
        out, used = out + ch, used + cols(ch)
    return out + "…" + " " * (width - used - 1)


def summary_table(results: dict) -> str:
    head = f"{'backend':10s} {'question':34s} {'TTFT s':>7s} {'total s':>8s} {'tok/s':>6s} {'ctx':>5s} {'prompt':>6s} {'grounded':>8s}"
    lines = [head, "-" * len(head)]
    for backend, rows in results["backends"].items():
        for r in rows:
            q = _fit(r["question"], 34)
            tps = "-" if r["tokens_per_s"] is None else f"{r['tokens_per_s']:.1f}"
            ctx = "-" if r["context_tokens"] is None else str(r["context_tokens"])
            prompt = "-" if r["prompt_tokens"] is None else str(r["prompt_tokens"])
            flag = "abstain" if r["abstained"] else f"{r['grounded']:.2f}"
            shown = r["backend"] if r["backend"] == backend else f"{backend}>{r['backend']}"
            lines.append(
                f"{shown:10s} {q} {r['first_token_s']:7.1f} {r['total_s']:8.1f} {tps:>6s} {ctx:>5s} {prompt:>6s} {flag:>8s}"
            )
        ttft = sorted(r["first_token_s"] for r in rows)
        lines.append(f"{backend:10s} {'median':34s} {ttft[len(ttft) // 2]:7.1f} {sorted(r['total_s'] for r in rows)[len(rows) // 2]:8.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.bench_llm", description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="extractive,local,openai", help="comma-separated (default: all three)")
    parser.add_argument("--questions", type=int, default=len(QUESTIONS), help="how many of the 5 seed questions")
    parser.add_argument("--out", type=Path, help="report directory (default: eval/reports/<timestamp>)")
    parser.add_argument("--index", type=Path, default=EVAL_DIR / ".index-bench-llm", help="index dir for seeds/")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    results = bench(backends, QUESTIONS[: args.questions], args.index)
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    results["load_average"] = os.getloadavg()
    out = args.out or EVAL_DIR / "reports" / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_llm.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print(summary_table(results))
    print(f"\nwrote {out / 'bench_llm.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
