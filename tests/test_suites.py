"""The development suites are built deterministically and their unanswerable questions are honest."""
from __future__ import annotations

import hashlib

import pytest

from eval.suites import SUITES, load_suite
from rag.text import normalize


def _digest(folder) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("name", [s for s in SUITES if s != "seeds"])
def test_suite_is_rebuilt_identically_and_unanswerables_are_absent(name, tmp_path):
    first = load_suite(name, tmp_path / "a")
    second = load_suite(name, tmp_path / "b")
    assert _digest(first.docs_dir.parent) == _digest(second.docs_dir.parent)
    assert (first.docs_dir.parent / "ATTRIBUTION").read_text().startswith("Derived from")

    questions = first.questions
    unanswerable = [q for q in questions if not q.answerable]
    assert len(unanswerable) >= 0.2 * len(questions)
    texts = [normalize(p.read_text(encoding="utf-8")).replace(" ", "") for p in first.docs_dir.iterdir()]
    files = {p.name for p in first.docs_dir.iterdir()}
    for q in questions:
        if q.answerable:
            assert set(q.supporting_docs) <= files and q.key_facts
    # Every gold answer of an unanswerable question is in no file of the folder.
    from eval.suites import _source

    answers = {item[0]: item[2] for p in _source(name)[0] for item in p.questions}
    for q in unanswerable:
        assert not any(normalize(a).replace(" ", "") in t for a in answers[q.id] for t in texts), q.id

    gate = first.sample("gate")
    assert len(gate) == 120 and sum(not q.answerable for q in gate) == 30
    assert {q.split for q in questions} == {"calib", "check"}
