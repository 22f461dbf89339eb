"""Hybrid retrieval: dense (Chroma) and sparse (BM25) ranked lists fused by reciprocal rank."""
from __future__ import annotations

from .index import ChunkIndex
from .text import normalize, query_tokens
from .types import Candidate, Chunk

# k=60 is the constant from Cormack et al. (2009): it damps the head of each list so a
# chunk ranked well by both retrievers beats one ranked first by only one.
RRF_K = 60


def fuse_rrf(rankings: dict[str, list[str]], k: int = RRF_K) -> dict[str, float]:
    """Reciprocal rank fusion of several ranked id lists."""
    scores: dict[str, float] = {}
    for ranked in rankings.values():
        for rank, cid in enumerate(ranked):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (k + rank + 1)
    return scores


def char_ngrams(text: str, n: int = 3) -> set[str]:
    text = normalize(text).replace(" ", "")
    return {text[i : i + n] for i in range(max(1, len(text) - n + 1))}


def near_duplicate(a: str, b: str, threshold: float = 0.8) -> bool:
    """True when two texts share most of their character trigrams (after normalisation)."""
    ga, gb = char_ngrams(a), char_ngrams(b)
    if not ga or not gb:
        return False
    return len(ga & gb) / min(len(ga), len(gb)) >= threshold


def collapse_duplicates(candidates: list[Candidate]) -> list[Candidate]:
    """Keep the best of each group of near-identical chunks (same text under two names)."""
    kept: list[Candidate] = []
    for cand in candidates:
        if not any(near_duplicate(cand.chunk.text, other.chunk.text) for other in kept):
            kept.append(cand)
    return kept


class Retriever:
    """Embeds the question, asks both indexes, fuses, and keeps chunks that exist now."""

    def __init__(self, index: ChunkIndex, embedder):
        self.index = index
        self.embedder = embedder

    def retrieve(self, question: str, top_k: int, candidates: int = 20, query_vector=None) -> list[Candidate]:
        """The top_k fused candidates for `question`."""
        if query_vector is None:
            query_vector = self.embedder.embed_queries([question])[0]
        dense = self.index.dense_search(query_vector, candidates)
        sparse = self.index.sparse_search(query_tokens(normalize(question)), candidates)
        rankings = {"dense": [c.id for c, _ in dense], "sparse": [cid for cid, _ in sparse]}
        fused = fuse_rrf(rankings)
        order = sorted(fused, key=lambda cid: -fused[cid])[: top_k * 3]
        chunks: dict[str, Chunk] = {c.id: c for c, _ in dense}
        missing = [cid for cid in order if cid not in chunks]
        chunks.update(self.index.get_chunks(missing))  # a stale BM25 id is dropped here
        similarity = {c.id: s for c, s in dense}
        dense_rank = {cid: r for r, cid in enumerate(rankings["dense"])}
        sparse_rank = {cid: r for r, cid in enumerate(rankings["sparse"])}
        ranked = [
            Candidate(
                chunk=chunks[cid],
                score=fused[cid],
                dense_rank=dense_rank.get(cid),
                sparse_rank=sparse_rank.get(cid),
                dense_similarity=similarity.get(cid),
            )
            for cid in order
            if cid in chunks
        ]
        return collapse_duplicates(ranked)[:top_k]
