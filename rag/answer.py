"""The extractive answerer: picks, orders and cites the source sentences that answer a question.

Deterministic and always available. Each sentence is scored by its embedding similarity
to the question (cross-lingual) plus the share of the question's key terms it contains
(names, numbers, pinyin spellings), so a sentence must be both on topic and specific.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .text import detect_language, document_tokens, normalize, query_tokens
from .types import Answer, Candidate, Citation

ABSTAIN_MESSAGE = "文档中没有找到答案。The documents do not say."

_LIST_RE = re.compile(
    r"哪些|哪幾|哪几|有哪|包括哪|列出|列舉|列举|分别|分別|几大|幾大|四大|三大|"
    r"\bwhich\b.*\b(companies|enterprises|actions|parties|universities|areas|fields)\b|\blist\b|\bwhat are\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AbstainRule:
    """Answer only when the best sentence is similar enough and shares enough key terms.

    e5 cosines crowd into 0.7-0.95, so similarity alone cannot tell an answer from a
    near miss; the thresholds were calibrated on eval/questions.jsonl (see eval/).
    """

    min_similarity: float = 0.80
    min_score: float = 0.95


@dataclass
class ScoredSentence:
    candidate_rank: int
    candidate: Candidate
    start: int  # offsets in the cleaned source text
    end: int
    text: str
    similarity: float
    coverage: float
    score: float
    vector: np.ndarray


def is_list_question(question: str) -> bool:
    return bool(_LIST_RE.search(question))


def term_weights(tokens: list[str], idf: dict[str, float]) -> dict[str, float]:
    """Question terms with their idf; pinyin pair tokens count half (they come in runs)."""
    weights = {}
    for tok in tokens:
        weight = idf.get(tok, 0.0)
        weights[tok] = weight * (0.5 if tok.startswith("py:") else 1.0)
    return weights


def coverage(weights: dict[str, float], sentence_tokens: set[str]) -> float:
    """The idf-weighted share of question terms that occur in the sentence."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(w for t, w in weights.items() if t in sentence_tokens) / total


def score_sentences(
    question: str,
    query_vector: np.ndarray,
    candidates: list[Candidate],
    sentences: list[tuple[str, int, int, np.ndarray]],
    idf: dict[str, float],
) -> list[ScoredSentence]:
    """Score every sentence that lies inside a candidate chunk."""
    weights = term_weights(query_tokens(normalize(question)), idf)
    question_lang = detect_language(question)
    scored: dict[tuple[str, int, int], ScoredSentence] = {}
    for rank, cand in enumerate(candidates):
        chunk = cand.chunk
        for source, start, end, vector in sentences:
            if source != chunk.source or start < chunk.start or end > chunk.end:
                continue
            if (source, start, end) in scored:
                continue
            text = chunk.text[start - chunk.start : end - chunk.start]
            if len(normalize(text)) < 6:
                continue  # labels and crumbs, not answers
            similarity = float(np.dot(query_vector, vector))
            cover = coverage(weights, set(document_tokens(normalize(text))))
            # Similarity is rescaled from e5's 0.75-0.95 band to about 0-1 so the two
            # signals weigh alike; a sentence in the question's language wins a tie.
            score = (similarity - 0.75) * 5 + cover
            score += 0.05 if detect_language(text) == question_lang else 0.0
            score -= 0.02 * rank
            scored[(source, start, end)] = ScoredSentence(
                rank, cand, start, end, text, similarity, cover, score, vector
            )
    return sorted(scored.values(), key=lambda s: -s.score)


def select_sentences(scored: list[ScoredSentence], list_question: bool) -> list[ScoredSentence]:
    """The best sentence and those close to it, without repeats across languages."""
    if not scored:
        return []
    limit, margin = (5, 0.45) if list_question else (3, 0.25)
    best = scored[0].score
    chosen: list[ScoredSentence] = []
    for sent in scored:
        if len(chosen) >= limit or sent.score < best - margin:
            break
        if any(float(np.dot(sent.vector, c.vector)) > 0.95 for c in chosen):
            continue  # the same statement again (a translation, a repeated line)
        chosen.append(sent)
    return chosen


def should_abstain(scored: list[ScoredSentence], rule: AbstainRule) -> bool:
    if not scored:
        return True
    top = scored[0]
    return top.similarity < rule.min_similarity or top.score < rule.min_score


def extractive_answer(
    question: str,
    query_vector: np.ndarray,
    candidates: list[Candidate],
    sentences: list[tuple[str, int, int, np.ndarray]],
    idf: dict[str, float],
    rule: AbstainRule = AbstainRule(),
) -> Answer:
    """Answer by quoting the best source sentences, each cited as [n]."""
    scored = score_sentences(question, query_vector, candidates, sentences, idf)
    if should_abstain(scored, rule):
        return Answer(question=question, text=ABSTAIN_MESSAGE, abstained=True)
    chosen = select_sentences(scored, is_list_question(question))
    # Read in source order: documents by their best sentence, then by position.
    first_seen: dict[str, int] = {}
    for i, sent in enumerate(chosen):
        first_seen.setdefault(sent.candidate.chunk.source, i)
    chosen.sort(key=lambda s: (first_seen[s.candidate.chunk.source], s.start))
    citations = [_citation(n, sent) for n, sent in enumerate(chosen, start=1)]
    text = _join(question, [(sent.text, n) for n, sent in enumerate(chosen, start=1)])
    return Answer(question=question, text=text, citations=citations)


def _citation(n: int, sent: ScoredSentence) -> Citation:
    chunk = sent.candidate.chunk
    return Citation(
        n=n,
        source=chunk.source,
        title=chunk.title,
        quote=sent.text,
        start=sent.start,
        end=sent.end,
        score=round(sent.score, 4),
        date=chunk.date,
    )


def _join(question: str, parts: list[tuple[str, int]]) -> str:
    separator = "" if detect_language(question) == "zh" else " "
    return separator.join(f"{text} [{n}]" for text, n in parts)
