"""Per-question results and the metrics aggregated from them (product and peer alike)."""
from __future__ import annotations

import math
import resource
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from .matching import base_language, facts_found, has_spelling, overlaps, quote_in, text_language
from .questions import Question

RETRIEVE_K = 5  # retrieval metrics look at the top 5 passages

# Quality metrics: higher is better, except the false refusal rate.
QUALITY_METRICS = (
    "hit_at_1",
    "hit_at_5",
    "mrr",
    "quote_recall_at_5",
    "key_fact_accuracy",
    "negative_rejection",
    "false_refusal_rate",
    "citation_precision",
    "citation_recall",
    "groundedness",
    "language_match",
)
LOWER_IS_BETTER = frozenset({"false_refusal_rate"})


@dataclass(frozen=True)
class Cited:
    """The part of a citation the metrics need."""

    source: str
    quote: str


@dataclass
class QuestionResult:
    """What one system did with one question."""

    id: str
    kind: str
    language: str
    answerable: bool
    retrieved: list[str]  # sources of the top-5 passages, best first
    rank: int | None  # 1-based rank of the first passage from a supporting doc
    quotes_total: int
    quotes_found: int
    answer: str
    abstained: bool
    facts: list[bool]  # per key-fact group
    citations: list[Cited]
    citations_correct: int
    cites_support: bool
    grounded: float | None
    language_match: bool | None  # None when the system abstained
    retrieve_ms: float
    answer_ms: float

    @property
    def correct(self) -> bool:
        """Answerable: every key fact present; unanswerable: abstained."""
        return (not self.abstained and all(self.facts)) if self.answerable else self.abstained

    def to_json(self) -> dict:
        return {**asdict(self), "correct": self.correct}


@dataclass
class Passage:
    """A retrieved passage, whatever the system."""

    source: str
    text: str


@dataclass
class SystemAnswer:
    """An answer, whatever the system."""

    text: str
    abstained: bool
    citations: list[Cited] = field(default_factory=list)
    grounded: float | None = None


def first_supporting_rank(passages: list[Passage], supporting: Iterable[str]) -> int | None:
    """1-based rank of the first passage from a supporting doc."""
    wanted = set(supporting)
    return next((i for i, p in enumerate(passages, start=1) if p.source in wanted), None)


def quotes_found(passages: list[Passage], quotes: Iterable[str]) -> int:
    """How many supporting quotes lie inside one retrieved passage."""
    return sum(any(quote_in(q, p.text) for p in passages) for q in quotes)


def citation_is_correct(cited: Cited, q: Question) -> bool:
    """From a supporting doc, and holding a key fact or overlapping a supporting quote."""
    if cited.source not in q.supporting_docs:
        return False
    if any(has_spelling(cited.quote, s) for group in q.key_facts for s in group):
        return True
    return any(overlaps(cited.quote, quote) for quote in q.supporting_quotes)


def score_question(
    q: Question, passages: list[Passage], answer: SystemAnswer, retrieve_ms: float, answer_ms: float
) -> QuestionResult:
    """Compare one system's passages and answer with the question's gold data."""
    passages = passages[:RETRIEVE_K]
    correct_citations = sum(citation_is_correct(c, q) for c in answer.citations) if q.answerable else 0
    return QuestionResult(
        id=q.id,
        kind=q.kind,
        language=q.language,
        answerable=q.answerable,
        retrieved=[p.source for p in passages],
        rank=first_supporting_rank(passages, q.supporting_docs),
        quotes_total=len(q.supporting_quotes),
        quotes_found=quotes_found(passages, q.supporting_quotes),
        answer=answer.text,
        abstained=answer.abstained,
        facts=facts_found(answer.text, q.key_facts) if q.answerable else [],
        citations=answer.citations,
        citations_correct=correct_citations,
        cites_support=any(c.source in q.supporting_docs for c in answer.citations),
        grounded=None if answer.abstained else answer.grounded,
        language_match=None if answer.abstained else text_language(answer.text) == base_language(q.language),
        retrieve_ms=retrieve_ms,
        answer_ms=answer_ms,
    )


# ------------------------------------------------------------------ aggregation


def mean(values: Iterable[float]) -> float | None:
    """Arithmetic mean, None for no values."""
    values = list(values)
    return sum(values) / len(values) if values else None


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (p50 of [1, 2, 3, 4] is 2)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def latency(values: list[float]) -> dict:
    """p50/p95/mean of a list of milliseconds."""
    return {"p50_ms": percentile(values, 50), "p95_ms": percentile(values, 95), "mean_ms": mean(values), "n": len(values)}


def quality(results: list[QuestionResult]) -> dict[str, float | None]:
    """The quality metrics over a set of results (None where a metric has no items)."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    answered = [r for r in results if not r.abstained]
    cited = [c for r in answerable for c in r.citations]
    return {
        "hit_at_1": mean(r.rank == 1 for r in answerable),
        "hit_at_5": mean(r.rank is not None for r in answerable),
        "mrr": mean(1 / r.rank if r.rank else 0.0 for r in answerable),
        "quote_recall_at_5": ratio(sum(r.quotes_found for r in answerable), sum(r.quotes_total for r in answerable)),
        "key_fact_accuracy": mean(r.correct for r in answerable),
        "negative_rejection": mean(r.abstained for r in unanswerable),
        "false_refusal_rate": mean(r.abstained for r in answerable),
        "citation_precision": ratio(sum(r.citations_correct for r in answerable), len(cited)),
        "citation_recall": mean(r.cites_support for r in answerable),
        "groundedness": mean(r.grounded for r in answered if r.grounded is not None),
        "language_match": mean(r.language_match for r in answered if r.language_match is not None),
    }


def breakdown(results: list[QuestionResult], key: Callable[[QuestionResult], str]) -> dict[str, dict]:
    """n, accuracy (correct answers), hit@1 and hit@5 per group."""
    groups: dict[str, list[QuestionResult]] = {}
    for r in results:
        groups.setdefault(key(r), []).append(r)
    table = {}
    for name in sorted(groups):
        rows = groups[name]
        answerable = [r for r in rows if r.answerable]
        table[name] = {
            "n": len(rows),
            "accuracy": mean(r.correct for r in rows),
            "hit_at_1": mean(r.rank == 1 for r in answerable),
            "hit_at_5": mean(r.rank is not None for r in answerable),
        }
    return table


def summarize(results: list[QuestionResult]) -> dict:
    """Metrics, breakdowns, latencies and answer length for one system's results."""
    answered = [r for r in results if not r.abstained]
    return {
        "metrics": quality(results),
        "by_kind": breakdown(results, lambda r: r.kind),
        "by_language": breakdown(results, lambda r: r.language),
        "latency": {
            "retrieve": latency([r.retrieve_ms for r in results]),
            "answer": latency([r.answer_ms for r in results]),
        },
        "mean_answer_chars": mean(len(r.answer) for r in answered),
        "questions": len(results),
    }


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    Linux's VmHWM when there is one: ru_maxrss (getrusage) survives fork+exec, so a
    subprocess would report its parent's peak if the parent was bigger.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
