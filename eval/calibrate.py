"""`python -m eval calibrate`: fit rag.extractive.AnswerabilityModel on the suites' calib halves.

For every question of every suite the evidence is gathered once and the answerability
features of its best sentence are recorded with the label "the folder answers it". A
logistic regression is fitted on the calib halves (each suite weighing the same), the two
thresholds are chosen there, and everything is reported on the check halves, which the
fit never saw. The printed weights are what rag/extractive.py carries.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rag.extractive import FEATURES, AnswerabilityModel, answerability_features, nothing_to_look_for, score_sentences

from .product import open_assistant
from .suites import SUITES, load_suite

MAX_FALSE_REFUSAL = 0.10  # the answer threshold keeps false refusals under this on calib
LLM_FALSE_REFUSAL = 0.03  # the LLM is asked for all but this share of answerable questions


def collect(names: list[str], sample: str) -> list[dict]:
    """One row per question: suite, split, label, features (None when nothing to look for)."""
    rows = []
    for name in names:
        suite = load_suite(name)
        assistant, _build = open_assistant(suite.docs_dir)
        for q in suite.sample(sample):
            evidence = assistant.gather(q.question)
            scored = score_sentences(evidence)
            usable = scored and not nothing_to_look_for(evidence.query, evidence.idf, evidence.languages)
            features = answerability_features(scored, evidence) if usable else None
            rows.append({"suite": name, "id": q.id, "split": q.split, "answerable": q.answerable, "features": features})
        print(f"{name}: {len(rows)} rows so far", flush=True)
    return rows


def fit(rows: list[dict]) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    train = [r for r in rows if r["split"] == "calib" and r["features"]]
    x = np.array([[r["features"][f] for f in FEATURES] for r in train])
    y = np.array([r["answerable"] for r in train])
    per_suite = {s: sum(r["suite"] == s for r in train) for s in {r["suite"] for r in train}}
    weight = np.array([1.0 / per_suite[r["suite"]] for r in train])
    model = LogisticRegression(C=10.0, max_iter=2000).fit(x, y, sample_weight=weight * len(train))
    return model.coef_[0], float(model.intercept_[0])


def probabilities(rows: list[dict], model: AnswerabilityModel) -> list[float]:
    return [model.probability(r["features"]) if r["features"] else 0.0 for r in rows]


def rates(rows: list[dict], p: list[float], threshold: float) -> dict[str, dict]:
    """Per suite: rejection of unanswerable and false refusal of answerable questions at `threshold`."""
    table: dict[str, dict] = {}
    for suite in dict.fromkeys(r["suite"] for r in rows):
        pos = [pi for r, pi in zip(rows, p) if r["suite"] == suite and r["answerable"]]
        neg = [pi for r, pi in zip(rows, p) if r["suite"] == suite and not r["answerable"]]
        table[suite] = {
            "rejection": float(np.mean([pi < threshold for pi in neg])) if neg else None,
            "false_refusal": float(np.mean([pi < threshold for pi in pos])) if pos else None,
            "n": len(pos) + len(neg),
        }
    return table


def choose(rows: list[dict], p: list[float], max_false_refusal: float) -> float:
    """The highest threshold whose worst suite keeps false refusals within the bound."""
    best = 0.0
    for t in np.linspace(0.02, 0.98, 97):
        table = rates(rows, p, float(t))
        if all(v["false_refusal"] is None or v["false_refusal"] <= max_false_refusal for v in table.values()):
            best = float(t)
    return round(best, 2)


def calibrate(names: list[str], sample: str, cache: Path | None = None) -> dict:
    """Collect (or reuse the cache's rows for these suites), fit, choose thresholds, report."""
    rows = json.loads(cache.read_text()) if cache and cache.exists() else []
    missing = [n for n in names if n not in {r["suite"] for r in rows}]
    rows = [r for r in rows if r["suite"] in names] + (collect(missing, sample) if missing else [])
    if cache:
        cache.write_text(json.dumps(rows))
    weights, bias = fit(rows)
    model = AnswerabilityModel(weights=tuple(round(float(w), 2) for w in weights), bias=round(bias, 2))
    calib = [r for r in rows if r["split"] == "calib"]
    check = [r for r in rows if r["split"] == "check"]
    p_calib = probabilities(calib, model)
    answer_at = choose(calib, p_calib, MAX_FALSE_REFUSAL)
    ask_llm_at = min(answer_at, choose(calib, p_calib, LLM_FALSE_REFUSAL))
    p_check = probabilities(check, model)
    return {
        "weights": dict(zip(FEATURES, model.weights)),
        "bias": model.bias,
        "answer_at": answer_at,
        "ask_llm_at": ask_llm_at,
        "calib": rates(calib, p_calib, answer_at),
        "check": rates(check, p_check, answer_at),
        "check_llm": rates(check, p_check, ask_llm_at),
        "current_model_check": rates(check, probabilities(check, AnswerabilityModel()), AnswerabilityModel().answer_at),
    }


def main(suites: str, sample: str, cache: Path | None) -> int:
    names = list(SUITES) if suites == "all" else suites.split(",")
    result = calibrate(names, sample, cache)
    print(json.dumps(result, indent=2))
    weights = ", ".join(f"{w}" for w in result["weights"].values())
    print(f"\nAnswerabilityModel(weights=({weights}), bias={result['bias']}, "
          f"answer_at={result['answer_at']}, ask_llm_at={result['ask_llm_at']})")
    return 0
