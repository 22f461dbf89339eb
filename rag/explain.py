"""Why a question retrieved what it did: the ranked passages with each retriever's say.

For the web app's retrieval test view and `POST /v1/kb/NAME/retrieve`: the passages the
answerers read, in order, each with its fused (RRF) score, its dense similarity and rank,
its BM25 rank and score, and where it comes from.
"""
from __future__ import annotations

from dataclasses import dataclass

from .evidence import Query
from .types import Chunk


@dataclass(frozen=True)
class RankedPassage:
    """One retrieved passage; ranks are 1-based, None where that retriever did not list it."""

    rank: int
    chunk: Chunk
    fused_score: float
    dense_rank: int | None
    dense_similarity: float | None
    bm25_rank: int | None
    bm25_score: float | None
    # Why it is here: "fused" (ranked by dense and/or BM25) or "other language" (the slot
    # kept for the best passage in the question's other language, rag.retrieve).
    reason: str

    @property
    def page(self) -> int | None:
        return self.chunk.page

    def as_dict(self) -> dict:
        c = self.chunk
        return {
            "rank": self.rank,
            "source": c.source,
            "title": c.title,
            "page": self.page,
            "lang": c.lang,
            "start": c.start,
            "end": c.end,
            "text": c.text,
            "fused_score": self.fused_score,
            "dense_rank": self.dense_rank,
            "dense_similarity": self.dense_similarity,
            "bm25_rank": self.bm25_rank,
            "bm25_score": self.bm25_score,
            "reason": self.reason,
        }


def explain_retrieval(assistant, question: str, top_k: int | None = None) -> list[RankedPassage]:
    """The passages `assistant` retrieves for `question`, best first, with every score."""
    from .conversation import clean_question

    question = clean_question(question)
    candidates = assistant.retrieve(question, top_k)
    # BM25 scores are not kept on the candidates; the same search again is a few ms.
    bm25 = dict(assistant.index.sparse_search(list(Query.of(question).terms), assistant.config.candidates))
    return [
        RankedPassage(
            rank=i,
            chunk=c.chunk,
            fused_score=c.score,
            dense_rank=_one_based(c.dense_rank),
            dense_similarity=c.dense_similarity,
            bm25_rank=_one_based(c.sparse_rank),
            bm25_score=bm25.get(c.chunk.id),
            reason="fused" if c.dense_rank is not None or c.sparse_rank is not None else "other language",
        )
        for i, c in enumerate(candidates, 1)
    ]


def _one_based(rank: int | None) -> int | None:
    return None if rank is None else rank + 1
