"""`python -m eval run --suite NAME|all`: every suite, one report each, and one table across them."""
from __future__ import annotations

import json
from pathlib import Path

from .metrics import mean
from .questions import EVAL_DIR, Question
from .report import main_table, render_markdown, timestamp, write_report
from .runner import run_eval
from .suites import SUITES, load_suite

SUITE_BASELINE = EVAL_DIR / "suite_baseline.json"
# The metrics each suite's gate holds (the seeds suite keeps eval/baseline.json as well).
GATED = ("hit_at_5", "key_fact_accuracy", "negative_rejection", "false_refusal_rate", "citation_recall")


def suite_names(spec: str) -> list[str]:
    names = list(SUITES) if spec == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        raise SystemExit(f"unknown suite {', '.join(unknown)}: choose from {', '.join(SUITES)} or all")
    return names


def run_suites(spec: str, sample: str, llm: str, with_peer: bool, out: Path | None, limit: int | None = None) -> dict[str, dict]:
    """Evaluate each suite; write <out>/<suite>/report.{md,json}; return {suite: report}."""
    out = out or EVAL_DIR / "reports" / f"{timestamp()}-suites"
    reports = {}
    for name in suite_names(spec):
        suite = load_suite(name)
        questions = suite.sample(sample)
        if limit:
            questions = _first(questions, limit)
        report = run_eval(suite.docs_dir, suite.docs_dir.parent / "questions.jsonl", questions, with_peer=with_peer, llm=llm)
        report["suite"] = {"name": name, "sample": sample, **failure_kinds(report, questions)}
        write_report(report, render_markdown(report, questions, None), out / name)
        print(f"\n## {name} ({sample}, {len(questions)} questions)\n\n{main_table(report)}")
        reports[name] = report
    table = suites_table(reports)
    (out / "suites.md").write_text(table + "\n", encoding="utf-8")
    (out / "suites.json").write_text(json.dumps({n: summary(r) for n, r in reports.items()}, indent=2) + "\n")
    print("\n" + table + f"\n\nreports: {out}/")
    return reports


def _first(questions: list[Question], limit: int) -> list[Question]:
    """The first `limit` questions, answerable and unanswerable in the sample's proportion."""
    negatives = [q for q in questions if not q.answerable]
    keep_negatives = round(limit * len(negatives) / len(questions))
    chosen = negatives[:keep_negatives] + [q for q in questions if q.answerable][: limit - keep_negatives]
    return [q for q in questions if q in chosen]


def failure_kinds(report: dict, questions: list[Question]) -> dict:
    """Counts of what went wrong, by kind, and accuracy on the specified questions alone."""
    results = report["product"]["results"]
    under = {q.id for q in questions if q.underspecified}
    kinds = {"answered_unanswerable": 0, "abstained_answerable": 0, "wrong_file": 0, "right_file_wrong_answer": 0}
    for r in results:
        if r["correct"]:
            continue
        if not r["answerable"]:
            kinds["answered_unanswerable"] += 1
        elif r["abstained"]:
            kinds["abstained_answerable"] += 1
        elif r["cites_support"]:
            kinds["right_file_wrong_answer"] += 1
        else:
            kinds["wrong_file"] += 1
    specified = [r["correct"] for r in results if r["answerable"] and r["id"] not in under]
    return {
        "failures": kinds,
        "underspecified": len(under),
        "accuracy_specified": mean(specified),
        "right_file_cited_when_answered": mean(r["cites_support"] for r in results if r["answerable"] and not r["abstained"]),
    }


def summary(report: dict) -> dict:
    product, peer = report["product"], report.get("peer")
    return {
        "questions": report["questions"],
        "backend": product["configuration"]["backend"],
        "metrics": product["metrics"],
        "answer_p50_ms": product["latency"]["answer"]["p50_ms"],
        "peer_metrics": peer and peer["metrics"],
        **report["suite"],
    }


def suites_table(reports: dict[str, dict]) -> str:
    head = (
        "| suite | backend | n | accuracy | accuracy (specified) | rejection | false refusal | right file cited "
        "| hit@1 / hit@5 | peer hit@1 / hit@5 | answer p50 | failures (answered-unanswerable / refused / wrong file / wrong span) |"
    )
    lines = [head, "|" + "---|" * 12]
    for name, report in reports.items():
        s = summary(report)
        m, p, f = s["metrics"], s["peer_metrics"], s["failures"]
        peer = f"{_f(p['hit_at_1'])} / {_f(p['hit_at_5'])}" if p else "-"
        lines.append(
            f"| {name} | {s['backend']} | {s['questions']} | {_f(m['key_fact_accuracy'])} | {_f(s['accuracy_specified'])} "
            f"| {_f(m['negative_rejection'])} | {_f(m['false_refusal_rate'])} | {_f(m['citation_recall'])} "
            f"| {_f(m['hit_at_1'])} / {_f(m['hit_at_5'])} | {peer} | {_f(s['answer_p50_ms'], 0)} ms "
            f"| {f['answered_unanswerable']} / {f['abstained_answerable']} / {f['wrong_file']} / {f['right_file_wrong_answer']} |"
        )
    return "\n".join(lines)


def _f(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def gate_failures(reports: dict[str, dict], tolerance: float = 0.03) -> list[str]:
    """Gated metrics that fell more than `tolerance` below eval/suite_baseline.json."""
    baseline = json.loads(SUITE_BASELINE.read_text(encoding="utf-8"))["suites"]
    failures = []
    for name, report in reports.items():
        metrics = report["product"]["metrics"]
        for metric, expected in baseline.get(name, {}).items():
            actual = metrics.get(metric)
            worse = actual is None or (actual > expected + tolerance if metric == "false_refusal_rate" else actual < expected - tolerance)
            if worse:
                failures.append(f"{name} {metric}: {actual} against baseline {expected} (tolerance {tolerance})")
    return failures


def write_suite_baseline(reports: dict[str, dict], why: str) -> None:
    body = {
        "why": why,
        "sample": "gate",
        "suites": {n: {m: round(r["product"]["metrics"][m], 4) for m in GATED} for n, r in reports.items()},
    }
    SUITE_BASELINE.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
