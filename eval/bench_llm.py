"""`python -m eval.bench_llm`: the default answer backend (the local LLM) on seed questions,
per llama.cpp runtime, side by side.

Each runtime that is installed (xllamacpp, the default; llama-cpp-python, the previous one,
which `make llama-cpp-python` compiles) runs in a child process of its own, so its memory
is its own: the child builds the Assistant as the web app does (RAG_LLM=local), loads and
warms the model, then asks every question through `ask_stream`. Per question: time to the
first evidence (the extractive answer, shown at once), to the first answer token and to the
full, verified answer (all from the call, retrieval included), prompt and generation
tokens/s. Per runtime: p50/p95 of those, model load time and peak RSS.
Prints a table and writes eval/reports/<timestamp>/bench_llm.json.

    python -m eval.bench_llm                                  # every installed runtime, 6 questions
    python -m eval.bench_llm --runtimes xllamacpp --questions 2
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EVAL_DIR = Path(__file__).resolve().parent
ROOT = EVAL_DIR.parent
QUESTIONS = [
    "哪些企业将入驻山河湾谷创新区？",
    "Which companies will join the Shanhewangu innovation zone?",
    "哪些企業將入駐山河灣谷創新區？",
    "北京高校科协联盟重点开展哪四大行动？",
    "How many industry envoys did Beijing have by the end of 2023?",
    "中关村科技园区朝阳园管理委员会、北京工业大学和北京控股集团有限公司在哪一天签订了战略合作协议？",
]
RUNTIMES = {"xllamacpp": "xllamacpp", "llama-cpp-python": "llama_cpp"}  # runtime -> module it needs
ANSWER_P50_TARGET_S = 10.0  # issue #12: an answer in under 10 s (p50) on 2 cores


def run_question(assistant, question: str) -> dict:
    """One question through ask_stream: when the evidence, the first token and the answer arrived."""
    began = time.perf_counter()
    evidence = first_token = None
    final = None
    for answer in assistant.ask_stream(question):
        now = time.perf_counter() - began
        if evidence is None:
            evidence = now
        if answer.partial and first_token is None:
            first_token = now
        final = answer
    total = time.perf_counter() - began
    timings = final.timings or {}
    llm = final.backend != "extractive"
    # llama.cpp's own figure (xllamacpp): prompt tokens read, the cached prefix excluded.
    # llama-cpp-python reports none, and its prompt_tokens include the cached prefix, so
    # dividing would overstate its speed: compare time to first token instead.
    prompt_tps = timings.get("prompt_tokens_per_s")
    return {
        "question": question,
        "backend": final.backend,
        "evidence_s": round(evidence, 3),
        "first_token_s": round(first_token, 3) if first_token is not None else None,
        "total_s": round(total, 3),
        "prompt_tokens": timings.get("prompt_tokens") if llm else None,
        "cached_prompt_tokens": timings.get("cached_prompt_tokens") if llm else None,
        "completion_tokens": timings.get("completion_tokens") if llm else None,
        "prompt_tokens_per_s": prompt_tps if llm else None,
        "tokens_per_s": timings.get("generation_tokens_per_s") or timings.get("tokens_per_s") if llm else None,
        "grounded": final.grounded,
        "abstained": final.abstained,
        "notice": final.notice,
        "text": final.text,
        "citations": len(final.citations),
    }


def percentiles(values: list[float]) -> dict:
    """p50 and p95 (nearest rank) of a few values."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return {"n": 0, "p50": None, "p95": None}
    return {"n": len(values), "p50": round(statistics.median(values), 2),
            "p95": round(values[min(len(values) - 1, round(0.95 * (len(values) - 1)))], 2)}


def summarize(rows: list[dict]) -> dict:
    def median(key):
        values = [r[key] for r in rows if r[key] is not None]
        return round(statistics.median(values), 2) if values else None

    return {
        "evidence_s": percentiles([r["evidence_s"] for r in rows]),
        "first_token_s": percentiles([r["first_token_s"] for r in rows]),
        "total_s": percentiles([r["total_s"] for r in rows]),
        "prompt_tokens_per_s": median("prompt_tokens_per_s"),
        "tokens_per_s": median("tokens_per_s"),
        "answered_by_llm": sum(r["backend"] != "extractive" for r in rows),
    }


def peak_rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return round(int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024, 1)


def measure_runtime(runtime: str, questions: list[str], index_dir: Path) -> dict:
    """In this process: the Assistant as the web app builds it, on `runtime`, asked every question."""
    from rag import Assistant, Config

    config = Config.from_env(docs_dir=ROOT / "seeds", index_dir=index_dir, llm="local", llm_runtime=runtime)
    assistant = Assistant(config=config)
    assistant.ingest(progress=False)
    assistant.with_generator(None).ask(questions[0])  # loads the embedder and warms the caches
    began = time.perf_counter()
    assistant.generator.load()
    load_s = time.perf_counter() - began
    began = time.perf_counter()
    assistant.generator.warm_up()  # as the web app does at start-up
    warm_s = time.perf_counter() - began
    load_average = os.getloadavg()[0]
    rows = []
    for question in questions:
        rows.append(run_question(assistant, question))
        r = rows[-1]
        print(f"   {runtime:16s} {r['total_s']:6.1f} s  {r['backend']:10s} {question[:30]}", file=sys.stderr, flush=True)
    return {
        "runtime": runtime,
        "load_s": round(load_s, 2),
        "warm_up_s": round(warm_s, 2),
        "peak_rss_mb": peak_rss_mb(),
        "load_average_1m": [round(load_average, 2), round(os.getloadavg()[0], 2)],
        "summary": summarize(rows),
        "rows": rows,
    }


def installed(runtime: str) -> bool:
    return importlib.util.find_spec(RUNTIMES[runtime]) is not None


def bench(runtimes: list[str], questions: list[str], index_dir: Path) -> dict:
    """Each installed runtime measured in a child process; the others marked skipped."""
    from rag import Config
    from rag.local_model import ensure_model

    began = time.perf_counter()
    ensure_model(Config.from_env(), progress=True)
    results: dict = {"model_ready_s": round(time.perf_counter() - began, 2), "runtimes": {}}
    for runtime in runtimes:
        if not installed(runtime):
            hint = "make llama-cpp-python" if runtime == "llama-cpp-python" else "make setup"
            results["runtimes"][runtime] = {"skipped": f"{RUNTIMES[runtime]} is not installed ({hint})"}
            continue
        print(f"== {runtime}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="rag-bench-llm-") as tmp:
            out = Path(tmp) / "result.json"
            cmd = [sys.executable, "-m", "eval.bench_llm", "--child", runtime, "--child-out", str(out),
                   "--index", str(index_dir), "--questions", str(len(questions))]
            proc = subprocess.run(cmd, cwd=ROOT, stdout=sys.stderr, stderr=subprocess.STDOUT)
            if proc.returncode != 0 or not out.exists():
                results["runtimes"][runtime] = {"skipped": f"the child process failed (exit {proc.returncode})"}
                continue
            results["runtimes"][runtime] = json.loads(out.read_text(encoding="utf-8"))
    return results


def _s(value, unit: str = " s") -> str:
    return "-" if value is None else f"{value:.1f}{unit}"


def summary_table(results: dict) -> str:
    """One column per runtime: the figures issue #12 asks for."""
    names = list(results["runtimes"])
    cols = [results["runtimes"][n] for n in names]
    lines = ["| figure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def row(label, fn):
        lines.append(f"| {label} | " + " | ".join(c["skipped"] if "skipped" in c else fn(c) for c in cols) + " |")

    def pair(key):
        return lambda c: f"{_s(c['summary'][key]['p50'])} / {_s(c['summary'][key]['p95'])}"

    row("time to first evidence p50 / p95", pair("evidence_s"))
    row("time to first answer token p50 / p95", pair("first_token_s"))
    row(f"full answer p50 / p95 (target p50 <= {ANSWER_P50_TARGET_S:.0f} s)", pair("total_s"))
    row("prompt tokens/s, cached prefix excluded (median; reported by xllamacpp only)",
        lambda c: _s(c["summary"]["prompt_tokens_per_s"], ""))
    row("generation tokens/s (median)", lambda c: _s(c["summary"]["tokens_per_s"], ""))
    row("answers written by the LLM", lambda c: f"{c['summary']['answered_by_llm']} of {len(c['rows'])}")
    row("model load / warm-up", lambda c: f"{c['load_s']:.1f} s / {c['warm_up_s']:.1f} s")
    row("peak RSS of the process (embedder + index + LLM)", lambda c: f"{c['peak_rss_mb']:.0f} MB")
    row("1-min load average (start, end)", lambda c: f"{c['load_average_1m'][0]}, {c['load_average_1m'][1]}")
    return "\n".join(lines)


def answers_table(results: dict) -> str:
    lines = []
    for name, c in results["runtimes"].items():
        for r in c.get("rows", []):
            lines.append(f"{name:16s} {r['total_s']:6.1f} s  {r['backend']:10s} {r['question'][:24]}  ->  {r['text'][:90]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.bench_llm", description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", default=",".join(RUNTIMES), help="comma-separated (default: both; missing ones are skipped)")
    parser.add_argument("--questions", type=int, default=len(QUESTIONS), help=f"how many of the {len(QUESTIONS)} seed questions")
    parser.add_argument("--out", type=Path, help="report directory (default: eval/reports/<timestamp>)")
    parser.add_argument("--index", type=Path, default=EVAL_DIR / ".index-bench-llm", help="index dir for seeds/")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    questions = QUESTIONS[: args.questions]
    if args.child:
        result = measure_runtime(args.child, questions, args.index)
        args.child_out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
        return 0
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    unknown = set(runtimes) - set(RUNTIMES)
    if unknown:
        raise SystemExit(f"unknown runtime(s) {', '.join(sorted(unknown))}: choose from {', '.join(RUNTIMES)}")
    results = bench(runtimes, questions, args.index)
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    out = args.out or EVAL_DIR / "reports" / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_llm.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print(summary_table(results))
    print()
    print(answers_table(results))
    print(f"\nwrote {out / 'bench_llm.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
