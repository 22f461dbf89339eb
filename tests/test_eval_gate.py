"""The eval gate: rag's quality on eval/questions.jsonl must not fall below eval/baseline.json.

The slow tests run the real eval (real model, real index) on the session's seeds index;
the fast ones check the gate and the matching rules on hand-made numbers.
"""
from __future__ import annotations

import pytest

from eval.gate import TOLERANCE, compare_to_baseline, load_baseline
from eval.matching import facts_found, has_spelling, overlaps, quote_in, strip_artefacts
from eval.metrics import QUALITY_METRICS
from eval.questions import DEFAULT_QUESTIONS, load_questions

# ------------------------------------------------------------------ the gate itself


def _metrics(**changes: float) -> dict:
    base = {name: 0.8 for name in QUALITY_METRICS}
    base["false_refusal_rate"] = 0.1
    return {"metrics": {**base, **changes}}


def test_same_numbers_pass():
    assert compare_to_baseline(_metrics(), _metrics(), TOLERANCE) == []


def test_a_drop_within_tolerance_passes_and_beyond_it_fails():
    assert compare_to_baseline(_metrics(mrr=0.78), _metrics(), 0.03) == []
    failures = compare_to_baseline(_metrics(mrr=0.76, hit_at_1=0.7), _metrics(), 0.03)
    assert [f.split(":")[0] for f in failures] == ["hit_at_1", "mrr"]


def test_false_refusals_may_fall_but_not_rise():
    assert compare_to_baseline(_metrics(false_refusal_rate=0.0), _metrics(), 0.03) == []
    assert compare_to_baseline(_metrics(false_refusal_rate=0.15), _metrics(), 0.03)[0].startswith("false_refusal_rate")


def test_a_metric_missing_from_the_report_fails():
    report = _metrics()
    report["metrics"]["groundedness"] = None
    assert compare_to_baseline(report, _metrics(), 0.03)[0].startswith("groundedness: missing")


def test_baseline_has_every_quality_metric_and_a_reason():
    baseline = load_baseline()
    assert baseline["why"].strip()
    assert set(QUALITY_METRICS) <= set(baseline["metrics"])


# ------------------------------------------------------------------ matching rules


def test_quotes_match_across_cleaning_and_scripts():
    raw = "焦點關(guān)注 雙方就加快戰(zhàn)略性新興產(chǎn)業(yè)集群融合發(fā)展"
    assert strip_artefacts(raw) == "焦點關注 雙方就加快戰略性新興產業集群融合發展"
    assert quote_in("戰(zhàn)略性新興產(chǎn)業(yè)", "雙方就加快戰略性新興產業集群融合發展")
    assert quote_in("战略性 新兴产业", "雙方就加快戰略性新興產業集群")  # simplified vs traditional, spaces
    assert not quote_in("人工智能", "雙方就加快戰略性新興產業集群")


def test_key_facts_need_every_group():
    answer = "北控集团、Huawei and Xiaomi will join. [1]"
    assert facts_found(answer, (("Beijing Enterprises Group", "北控集团"), ("Huawei",), ("Alibaba",))) == [True, True, False]
    assert has_spelling("數字安全", "数字安全")
    assert not has_spelling("the ruins", "He Rui")


def test_overlap_needs_a_real_shared_run():
    assert overlaps("The zone is centered on the Pingyuan Campus of BIT.", "centered on the Pingyuan Campus")
    assert not overlaps("The zone is centered on the campus.", "Huawei, Xiaomi, and Alibaba")


# ------------------------------------------------------------------ the real eval


@pytest.fixture(scope="session")
def eval_questions():
    return load_questions(DEFAULT_QUESTIONS)


@pytest.fixture(scope="session")
def eval_report(seeds_assistant, seeds_copy, eval_questions):
    from eval.runner import run_eval

    return run_eval(seeds_copy, DEFAULT_QUESTIONS, eval_questions, with_peer=False, assistant=seeds_assistant)


@pytest.mark.slow
def test_quality_does_not_regress_against_the_baseline(eval_report):
    failures = compare_to_baseline(eval_report, load_baseline(), TOLERANCE)
    assert not failures, "quality regressed (see eval/README.md):\n" + "\n".join(failures)


@pytest.mark.slow
def test_the_gate_catches_deliberately_broken_retrieval(seeds_assistant, seeds_copy, eval_questions):
    """One candidate per retriever and one passage: a real, badly degraded configuration."""
    from rag import Assistant

    from eval.runner import run_eval

    broken = Assistant(config=seeds_assistant.config.with_(candidates=1, top_k=1))
    report = run_eval(seeds_copy, DEFAULT_QUESTIONS, eval_questions, with_peer=False, assistant=broken, top_k=1)
    failed = {line.split(":")[0] for line in compare_to_baseline(report, load_baseline(), TOLERANCE)}
    # Measured: hit@5 0.99 -> 0.90 and quote recall 0.78 -> 0.40. Accuracy barely moves
    # (0.61 -> 0.59): the answerer reads whole files, so one retrieved passage is often enough.
    assert {"hit_at_5", "quote_recall_at_5"} <= failed, failed


# ------------------------------------------------------------------ the development suites


@pytest.mark.slow
@pytest.mark.parametrize("suite", ["cmrc", "drcd", "xquad-en-zh", "xquad-zh-en"])
def test_suite_quality_does_not_regress(suite, tmp_path_factory):
    """Each public suite's fixed 120-question sample, on a fresh index, against eval/suite_baseline.json."""
    from rag import Assistant, Config

    from eval.runner import run_eval
    from eval.suite_run import gate_failures
    from eval.suites import load_suite

    built = load_suite(suite, tmp_path_factory.mktemp("suites"))
    questions = built.sample("gate")
    assert len(questions) == 120 and sum(not q.answerable for q in questions) >= 24
    config = Config.from_env(llm="extractive").with_(docs_dir=built.docs_dir, index_dir=tmp_path_factory.mktemp("index"))
    assistant = Assistant(config=config)
    assistant.ingest()
    report = run_eval(built.docs_dir, built.docs_dir.parent / "questions.jsonl", questions, with_peer=False, assistant=assistant)
    failures = gate_failures({suite: report})
    assert not failures, "suite quality regressed (see eval/README.md):\n" + "\n".join(failures)
