"""`python -m eval.ab BEFORE [AFTER]`: question latency of two commits, side by side in one run.

A refactoring must not slow answers down, and this machine's speed drifts by 20-30% within
a minute, so figures taken at different times do not compare. This checks out each commit
(AFTER: the working tree when omitted) in a temporary git worktree, indexes the seeds once
for each, then alternates: in each round every commit answers every question of
`eval/questions.jsonl` in a fresh process (after one warm-up question; the two take turns
going first), and the round's
p50/p95 of `Assistant.ask` and `Assistant.retrieve` are printed with AFTER/BEFORE ratios.
Answers are extractive unless RAG_LLM says otherwise (an LLM answer takes seconds, and
its time is the model's, not the code's).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .metrics import percentile

ROOT = Path(__file__).resolve().parent.parent

# Runs inside each commit's tree: its own rag package, the same questions and documents.
WORKER = r"""
import json, sys, time
from pathlib import Path
from rag import Assistant
docs, index, questions = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
assistant = Assistant(docs, index, progress=False)
assistant.ingest()
if questions:
    assistant.ask("What is this folder about?")
times = {"ask": [], "retrieve": []}
for q in questions:
    for kind, call in (("retrieve", assistant.retrieve), ("ask", assistant.ask)):
        began = time.perf_counter()
        call(q)
        times[kind].append((time.perf_counter() - began) * 1000)
print(json.dumps(times))
"""


def _checkout(ref: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(into), ref], check=True)
    return into


def _run(tree: Path, docs: Path, index: Path, questions: list[str]) -> dict[str, list[float]]:
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, str(docs), str(index), json.dumps(questions, ensure_ascii=False)],
        cwd=tree, env={"RAG_LLM": "extractive", **os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True, check=False,
    )
    if proc.returncode:
        raise SystemExit(f"{tree}: the worker failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.ab", description=__doc__.splitlines()[0])
    parser.add_argument("before", help="a git commit (the baseline)")
    parser.add_argument("after", nargs="?", help="a git commit (default: the working tree)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    from .questions import load_questions

    questions = [q.question for q in load_questions(ROOT / "eval" / "questions.jsonl")]
    with tempfile.TemporaryDirectory(prefix="rag-ab-") as tmp:
        work = Path(tmp)
        trees = {"before": _checkout(args.before, work / "before")}
        trees["after"] = _checkout(args.after, work / "after") if args.after else ROOT
        try:
            for name, tree in trees.items():  # index once each, untimed
                _run(tree, ROOT / "seeds", work / f"index-{name}", [])
            for round_no in range(1, args.rounds + 1):
                order = list(trees) if round_no % 2 else list(reversed(trees))  # neither always goes first
                figures = {name: _run(trees[name], ROOT / "seeds", work / f"index-{name}", questions) for name in order}
                for kind in ("retrieve", "ask"):
                    b, a = figures["before"][kind], figures["after"][kind]
                    print(
                        f"round {round_no} {kind:8s} p50 {percentile(b, 50):7.1f} -> {percentile(a, 50):7.1f} ms "
                        f"(x{percentile(a, 50) / percentile(b, 50):.2f}), p95 {percentile(b, 95):7.1f} -> "
                        f"{percentile(a, 95):7.1f} ms (x{percentile(a, 95) / percentile(b, 95):.2f}), n={len(a)}",
                        flush=True,
                    )
        finally:
            for name, tree in trees.items():
                if tree != ROOT:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
