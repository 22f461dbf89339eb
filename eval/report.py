"""report.json, report.md and chart.png for one eval run."""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path

from .chart import write_chart
from .metrics import QUALITY_METRICS, QuestionResult
from .questions import EVAL_DIR, Question

REPORTS_DIR = EVAL_DIR / "reports"
LABELS = {
    "hit_at_1": "doc hit@1",
    "hit_at_5": "doc hit@5",
    "mrr": "MRR@5",
    "quote_recall_at_5": "quote recall@5",
    "key_fact_accuracy": "key-fact accuracy",
    "negative_rejection": "negative rejection",
    "false_refusal_rate": "false refusal rate (lower is better)",
    "citation_precision": "citation precision",
    "citation_recall": "citation recall",
    "groundedness": "groundedness",
    "language_match": "language match",
}
CHART_LABELS = {
    "hit_at_1": "HIT@1", "hit_at_5": "HIT@5", "mrr": "MRR", "quote_recall_at_5": "QUOTE RECALL@5",
    "key_fact_accuracy": "KEY-FACT ACC", "negative_rejection": "NEG REJECTION", "false_refusal_rate": "FALSE REFUSAL",
    "citation_precision": "CITE PRECISION", "citation_recall": "CITE RECALL", "groundedness": "GROUNDED",
    "language_match": "LANGUAGE MATCH",
}
RATIO_METRICS = ("hit_at_1", "mrr", "key_fact_accuracy")
PEER_NOTE = (
    "Peer = plain LlamaIndex: SimpleDirectoryReader, default SentenceSplitter, VectorStoreIndex over Chroma "
    "(PersistentClient in a temp dir), the same multilingual-e5-small with query:/passage: prefixes, top-5 "
    "retriever. It has no LLM: its answer is the text of its top-1 node (so its answers are much longer than "
    "rag's quoted sentences, which favours it on key-fact accuracy), its one citation is that node, it never "
    "abstains, and groundedness does not apply."
)


def timestamp() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def machine() -> dict:
    """What the numbers were measured on (latency depends on it, and on the load)."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, None when either is missing or b is zero."""
    return None if a is None or not b else round(a / b, 3)


def ratios(product: dict, peer: dict) -> dict:
    """rag / peer for quality; peer / rag for retrieval latency (how many times faster rag is)."""
    out = {name: ratio(product["metrics"][name], peer["metrics"][name]) for name in RATIO_METRICS}
    out["retrieve_p50_speedup"] = ratio(peer["latency"]["retrieve"]["p50_ms"], product["latency"]["retrieve"]["p50_ms"])
    return out


def build_report(questions_file: Path, docs_dir: Path, questions: list[Question], product: dict, peer: dict | None) -> dict:
    """The whole report as one JSON-able dict."""
    return {
        "created": dt.datetime.now().isoformat(timespec="seconds"),
        "docs_dir": str(docs_dir),
        "questions_file": str(questions_file),
        "questions": len(questions),
        "machine": machine(),
        "product": product,
        "peer": peer,
        "ratios": ratios(product, peer) if peer else None,
    }


def results_json(results: list[QuestionResult]) -> list[dict]:
    return [r.to_json() for r in results]


# ------------------------------------------------------------------ markdown


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def main_table(report: dict) -> str:
    """Metric | rag | peer | rag/peer, quality first, then cost."""
    product, peer = report["product"], report["peer"]
    columns = ["metric", product["name"]] + (["LlamaIndex peer", "rag / peer"] if peer else [])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]

    def row(label: str, ours: str, theirs: str = "", rate: str = "") -> None:
        cells = [label, ours] + ([theirs, rate] if peer else [])
        lines.append("| " + " | ".join(cells) + " |")

    for name in QUALITY_METRICS:
        theirs = peer["metrics"][name] if peer else None
        rate = fmt(report["ratios"].get(name)) if peer and name in RATIO_METRICS else ""
        row(LABELS[name], fmt(product["metrics"][name]), fmt(theirs), rate)
    for stage in ("retrieve", "answer"):
        for pct in ("p50_ms", "p95_ms"):
            theirs = _ms(peer["latency"][stage][pct]) if peer else ""
            rate = ""
            if peer and stage == "retrieve" and pct == "p50_ms":
                rate = f"peer / rag = {fmt(report['ratios']['retrieve_p50_speedup'], 2)}"
            row(f"{stage} latency {pct[:3]}", _ms(product["latency"][stage][pct]), theirs, rate)
    row("index build", f"{product['build']['seconds']:.1f} s" + (" (cached)" if product["build"]["cached"] else ""),
        f"{peer['build']['seconds']:.1f} s" if peer else "")
    row("chunks / nodes", str(product["build"]["chunks"]), str(peer["build"]["nodes"]) if peer else "")
    row("mean answer length", f"{product['mean_answer_chars']:.0f} chars",
        f"{peer['mean_answer_chars']:.0f} chars" if peer else "")
    row("peak memory (process)", f"{product['peak_memory_mb']:.0f} MB",
        f"{peer['peak_memory_mb']:.0f} MB (same process, after rag)" if peer else "")
    return "\n".join(lines)


def breakdown_table(report: dict, key: str, title: str) -> str:
    """Accuracy and hit@1 per kind or per language, rag next to peer."""
    product, peer = report["product"][key], (report["peer"] or {}).get(key, {})
    head = f"| {title} | n | rag accuracy | rag hit@1 |" + (" peer accuracy | peer hit@1 |" if peer else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, row in product.items():
        cells = [name, str(row["n"]), fmt(row["accuracy"]), fmt(row["hit_at_1"])]
        if peer:
            cells += [fmt(peer[name]["accuracy"]), fmt(peer[name]["hit_at_1"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def misses_table(results: list[dict], questions: dict[str, Question]) -> str:
    """The product's wrong answers, with why: abstained, missing facts, or answered the unanswerable."""
    lines = ["| id | kind | lang | question | why |", "|---|---|---|---|---|"]
    for r in results:
        if r["correct"]:
            continue
        q = questions[r["id"]]
        if not q.answerable:
            why = "answered an unanswerable question"
        elif r["abstained"]:
            why = "abstained" + ("" if r["rank"] else "; no supporting doc in top 5")
        else:
            missing = [group[0] for group, ok in zip(q.key_facts, r["facts"]) if not ok]
            why = "missing " + ", ".join(missing)
        lines.append(f"| {q.id} | {q.kind} | {q.language} | {q.question} | {why} |")
    return "\n".join(lines)


def render_markdown(report: dict, questions: list[Question], gate: list[str] | None) -> str:
    """report.md."""
    product = report["product"]
    by_id = {q.id: q for q in questions}
    parts = [
        f"# rag eval — {report['created']}",
        f"{report['questions']} questions from `{report['questions_file']}` over `{report['docs_dir']}`. "
        f"Machine: {report['machine']['cpus']} CPUs, 1-minute load average {report['machine']['load_average_1m']} "
        "at the end of the run (latencies are wall-clock and move with the load).",
        "## rag vs peer",
        main_table(report),
        "Retrieval metrics use each system's top 5 passages; hit@1/hit@5/MRR count the first passage from a "
        "supporting document; quote recall counts supporting quotes found inside one retrieved passage "
        f"(ceiling for rag: {fmt(product.get('quote_ceiling'))} of the quotes survive cleaning into the indexed text).",
    ]
    if report["peer"]:
        parts.append(PEER_NOTE + f" Vector store adapter: {report['peer']['store']}.")
    if gate is not None:
        parts += ["## Gate against eval/baseline.json", "\n".join(f"- {line}" for line in gate) or "No regression."]
    parts += [
        "## By kind",
        "Accuracy: every key fact present (answerable) or abstained (unanswerable).",
        breakdown_table(report, "by_kind", "kind"),
        "## By language",
        breakdown_table(report, "by_language", "language"),
        "## rag's misses",
        misses_table(product["results"], by_id),
    ]
    return "\n\n".join(parts) + "\n"


def write_report(report: dict, markdown: str, out_dir: Path | None = None) -> Path:
    """eval/reports/<timestamp>/{report.json, report.md, chart.png}; returns the folder."""
    out_dir = Path(out_dir or REPORTS_DIR / timestamp())
    out_dir.mkdir(parents=True, exist_ok=True)
    series = {"RAG": [report["product"]["metrics"][m] for m in QUALITY_METRICS]}
    if report["peer"]:
        series["PEER (LLAMAINDEX)"] = [report["peer"]["metrics"][m] for m in QUALITY_METRICS]
    labels = [CHART_LABELS[m] for m in QUALITY_METRICS]
    footer = "FALSE REFUSAL: LOWER IS BETTER." + (" PEER HAS NO LLM: ITS ANSWER IS ITS TOP-1 NODE." if report["peer"] else "")
    report["chart"] = write_chart(out_dir / "chart.png", "RAG EVAL: QUALITY METRICS", labels, series, footer)
    (out_dir / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    return out_dir
