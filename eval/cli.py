"""`python -m eval run | compare | baseline | bench`."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .questions import DEFAULT_DOCS, DEFAULT_QUESTIONS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval", description="Evaluate and benchmark rag.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "rag's quality, latency and memory, with the LlamaIndex peer row unless --no-peer"),
        ("compare", "the same as run, always with the peer row (rag vs LlamaIndex side by side)"),
        ("baseline", "run, then write eval/baseline.json from the result (needs --why)"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="documents folder (default: seeds/)")
        cmd.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS, help="questions JSONL")
        cmd.add_argument("--index", type=Path, help="index dir (default: cached eval/.index-<hash>)")
        cmd.add_argument("--out", type=Path, help="report folder (default: eval/reports/<timestamp>)")
        if name != "baseline":  # the baseline is the extractive configuration's
            cmd.add_argument("--llm", default="extractive", help="answer backend (default: extractive, whatever RAG_LLM says)")
        if name == "run":
            cmd.add_argument("--suite", help="evaluate suites instead: seeds, cmrc, drcd, xquad-en-zh, xquad-zh-en, a comma list, or all")
            cmd.add_argument("--sample", default="full", choices=("full", "gate", "calib", "check"), help="with --suite: which questions (gate: the fixed ~120 of CI)")
            cmd.add_argument("--limit", type=int, help="with --suite: only the first N questions of the sample (same share unanswerable)")
            cmd.add_argument("--write-baseline", metavar="WHY", help="with --suite and --sample gate: rewrite eval/suite_baseline.json")
            cmd.add_argument("--no-peer", action="store_true", help="skip the LlamaIndex peer")
            cmd.add_argument("--gate", action="store_true", help="exit 1 if a metric regressed against the baseline")
        if name == "baseline":
            cmd.add_argument("--why", required=True, help="why the baseline changes (stored in baseline.json)")
    bench = sub.add_parser("bench", help="latency, ingest rate, import/cold-start time and scaling")
    bench.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="documents folder (default: seeds/)")
    bench.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS, help="questions JSONL")
    bench.add_argument("--out", type=Path, help="report folder (default: eval/reports/<timestamp>)")
    bench.add_argument("--scales", default="1000,10000,100000", help="synthetic index sizes in chunks")
    bench.add_argument("--budget", type=float, default=1800, help="seconds the scaling part may take")
    bench.add_argument("--no-llm", action="store_true", help="skip the local LLM and web app memory figures")
    bench.add_argument("--ingest-only", action="store_true", help="only the ingest figures (seeds and the generated folder)")
    bench.add_argument("--files", type=_file_count, default=2000, help="files in the generated mixed folder (0: seeds only)")
    calib = sub.add_parser("calibrate", help="fit the answerability model on the suites' calib halves, report the check halves")
    calib.add_argument("--suite", default="all", help="suites (comma list or all)")
    calib.add_argument("--sample", default="full", choices=("full", "gate"), help="questions per suite")
    calib.add_argument("--cache", type=Path, help="JSON file of collected features: reused when it exists")
    ver = sub.add_parser("verifier", help="precision and recall of rag.verify on true and near-miss claims from the suites")
    ver.add_argument("--suite", default="all", help="suites (comma list or all; seeds has no gold spans and is skipped)")
    ver.add_argument("--limit", type=int, default=150, help="answerable questions per suite (from the check half)")
    worker = sub.add_parser("scale-worker", help=argparse.SUPPRESS)  # one scaling point, in its own process
    worker.add_argument("action", choices=("build", "measure"))
    worker.add_argument("--dir", type=Path, required=True)
    worker.add_argument("--chunks", type=int, default=0)
    worker.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    return parser


def _file_count(text: str) -> int:
    """--files: a whole number from 0 up (argparse turns the ValueError into a usage error)."""
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    for handler in logging.root.handlers:  # bm25s sets its own logger to DEBUG when imported
        handler.setLevel(logging.WARNING)
    if args.command == "bench":
        from .bench import run_bench

        sizes = [int(s) for s in args.scales.split(",") if s]
        return run_bench(args.docs, args.questions, args.out, sizes, args.budget, with_llm=not args.no_llm,
                         folder_files=args.files, ingest_only=args.ingest_only)
    if args.command == "calibrate":
        from .calibrate import main as calibrate

        return calibrate(args.suite, args.sample, args.cache)
    if args.command == "verifier":
        from .verifier import main as verifier

        return verifier(args.suite, args.limit)
    if args.command == "scale-worker":
        from .scaling import worker

        print(json.dumps(worker(args.action, args.dir, args.chunks, args.questions)))
        return 0
    if getattr(args, "suite", None):
        return suite_command(args)
    return run_command(args)


def suite_command(args) -> int:
    """run --suite: each suite's report, a table across them, and the suites' gate."""
    from .suite_run import gate_failures, run_suites, write_suite_baseline

    reports = run_suites(args.suite, args.sample, args.llm, not args.no_peer, args.out, args.limit)
    if args.sample != "gate" or args.llm != "extractive" or args.limit:
        return 0
    if args.write_baseline:
        write_suite_baseline(reports, args.write_baseline)
        return 0
    failures = gate_failures(reports)
    if failures:
        print("\nregressions against eval/suite_baseline.json:\n" + "\n".join(f"  {line}" for line in failures))
    return 1 if failures and args.gate else 0


def run_command(args) -> int:
    """run / compare / baseline: evaluate, write the report, print the table."""
    from .gate import BASELINE, baseline_from_report, compare_to_baseline, load_baseline
    from .questions import load_questions
    from .report import main_table, render_markdown, write_report
    from .runner import run_eval

    questions = load_questions(args.questions)
    with_peer = args.command == "compare" or (args.command == "run" and not args.no_peer)
    llm = getattr(args, "llm", "extractive")
    report = run_eval(args.docs, args.questions, questions, args.index, with_peer=with_peer, llm=llm)
    gate = None
    if BASELINE.exists() and load_baseline()["configuration"]["backend"] == llm:
        gate = compare_to_baseline(report, load_baseline())
    out_dir = write_report(report, render_markdown(report, questions, gate), args.out)
    print(main_table(report))
    print(f"\nreport: {out_dir}/report.md (json, chart.png beside it)")
    if gate:
        print("\nregressions against eval/baseline.json:\n" + "\n".join(f"  {line}" for line in gate))
    if args.command == "baseline":
        BASELINE.write_text(json.dumps(baseline_from_report(report, args.why), ensure_ascii=False, indent=2) + "\n")
        print(f"\nwrote {BASELINE}")
    return 1 if gate and getattr(args, "gate", False) else 0


if __name__ == "__main__":
    sys.exit(main())
