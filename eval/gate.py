"""The regression gate: a run's quality metrics against eval/baseline.json."""
from __future__ import annotations

import json
from pathlib import Path

from .metrics import LOWER_IS_BETTER, QUALITY_METRICS
from .questions import EVAL_DIR

BASELINE = EVAL_DIR / "baseline.json"
TOLERANCE = 0.03


def load_baseline(path: str | Path = BASELINE) -> dict:
    """The committed baseline (see eval/README.md on updating it)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _metrics(report: dict) -> dict:
    """The product's metrics from a full report, a baseline, or a bare metrics dict."""
    if "product" in report:
        return report["product"]["metrics"]
    return report.get("metrics", report)


def compare_to_baseline(report: dict, baseline: dict, tolerance: float = TOLERANCE) -> list[str]:
    """One line per quality metric that fell more than `tolerance` below the baseline.

    The false refusal rate is the exception: it fails when it rises more than `tolerance`.
    A metric the baseline has but the report lacks (or reports as null) is a failure too.
    """
    now, then = _metrics(report), _metrics(baseline)
    failures = []
    for name in QUALITY_METRICS:
        expected = then.get(name)
        if expected is None:
            continue
        actual = now.get(name)
        if actual is None:
            failures.append(f"{name}: missing from the report (baseline {expected:.3f})")
        elif name in LOWER_IS_BETTER and actual > expected + tolerance:
            failures.append(f"{name}: rose to {actual:.3f} from baseline {expected:.3f} (tolerance {tolerance})")
        elif name not in LOWER_IS_BETTER and actual < expected - tolerance:
            failures.append(f"{name}: fell to {actual:.3f} from baseline {expected:.3f} (tolerance {tolerance})")
    return failures


def baseline_from_report(report: dict, why: str) -> dict:
    """A new baseline.json body from a run's report."""
    product = report["product"]
    return {
        "why": why,
        "created": report["created"],
        "configuration": product["configuration"],
        "questions": report["questions"],
        "tolerance": TOLERANCE,
        "metrics": {name: _round(product["metrics"].get(name)) for name in QUALITY_METRICS},
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
