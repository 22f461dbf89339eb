"""`python -m eval verifier`: precision and recall of rag.verify on claims built from the suites.

For each answerable question two one-sentence answers are checked against its gold
passage, as an LLM's answer would be:
- a true claim: the question restated with its gold answer;
- a near miss: the same with another span of the same passage in place of the answer (a
  number for a number, another name or word for the rest), taken from a sentence that
  does not hold the answer, so the name or number is in the passage but in another role.
Precision: of the claims the verifier keeps, the share that are true. Recall: of the true
claims, the share it keeps. Run with and without the relation check (RELATION_MIN = 0).
"""
from __future__ import annotations

import hashlib
import re

from rag import verify
from rag.text import detect_language, normalize, split_sentences, words

from .product import open_assistant
from .suites import SUITES, load_suite

_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")
_NAME_RE = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)*\b")


def claim(question: str, answer: str) -> str:
    body = re.sub(r"[？?。.\s]+$", "", question)
    if detect_language(question) == "zh":
        return f"{body}，答案是{answer}。"
    return f"{body}? The answer is {answer}."


def distractor(answer: str, text: str, question: str, key: str) -> str | None:
    """Another span of the passage like the answer, from a sentence that does not hold it."""
    spans = [text[a:b] for a, b in split_sentences(text)]
    others = [s for s in spans if normalize(answer) not in normalize(s)]
    if _NUMBER_RE.search(answer):
        pool = {m for s in others for m in _NUMBER_RE.findall(s) if m not in answer}
    elif detect_language(answer) == "en":
        pool = {m for s in others for m in _NAME_RE.findall(s) if m.lower() not in question.lower() and m not in answer}
    else:
        size = len(answer)
        pool = {
            w for s in others for w in words(normalize(s))
            if abs(len(w) - size) <= 1 and len(w) >= 2 and w not in normalize(question) and w not in normalize(answer)
        }
    if not pool:
        return None
    return min(pool, key=lambda w: hashlib.sha256(f"{key}:{w}".encode()).hexdigest())


def cases(suite_name: str, limit: int) -> tuple[list[tuple[str, str, bool, str]], object]:
    """(question, claim, is_true, gold source) for up to `limit` answerable questions."""
    suite = load_suite(suite_name)
    assistant, _ = open_assistant(suite.docs_dir)
    out = []
    for q in [q for q in suite.sample("check") if q.answerable][:limit]:
        text = assistant.document_text(q.supporting_docs[0]) or ""
        answer = next((a for a in q.key_facts[0] if normalize(a) in normalize(text)), None)
        if not answer:
            continue
        out.append((q.question, claim(q.question, answer), True, q.supporting_docs[0]))
        wrong = distractor(answer, text, q.question, q.id)
        if wrong:
            out.append((q.question, claim(q.question, wrong), False, q.supporting_docs[0]))
    return out, assistant


def score(items, assistant, relation_min: float) -> dict:
    saved = verify.RELATION_MIN
    verify.RELATION_MIN = relation_min
    try:
        kept = []
        for question, text, truth, source in items:
            doc = assistant.document_text(source) or ""
            passage = verify.Passage(1, source, "", "", 0, len(doc), doc)
            result = verify.verify(text + "[1]", [passage], assistant.embedder, question)
            kept.append((truth, result.supported > 0))
    finally:
        verify.RELATION_MIN = saved
    true_kept = sum(t and k for t, k in kept)
    return {
        "claims": len(kept),
        "precision": round(true_kept / max(1, sum(k for _, k in kept)), 3),
        "recall": round(true_kept / max(1, sum(t for t, _ in kept)), 3),
        "near_misses_kept": sum(k and not t for t, k in kept),
    }


def main(spec: str, limit: int) -> int:
    names = [n for n in (SUITES if spec == "all" else spec.split(",")) if n != "seeds"]
    print("| suite | claims | precision / recall (relation check) | precision / recall (without) | near misses kept (with / without) |")
    print("|---|---|---|---|---|")
    for name in names:
        items, assistant = cases(name, limit)
        with_check, without = score(items, assistant, verify.RELATION_MIN), score(items, assistant, 0.0)
        print(
            f"| {name} | {with_check['claims']} | {with_check['precision']} / {with_check['recall']} "
            f"| {without['precision']} / {without['recall']} | {with_check['near_misses_kept']} / {without['near_misses_kept']} |",
            flush=True,
        )
    return 0
