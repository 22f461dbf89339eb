"""Hybrid retrieval: dense (Chroma) and sparse (BM25) ranked lists fused by reciprocal rank."""
from __future__ import annotations

import functools
from collections.abc import Set as AbstractSet

from .index import ChunkIndex
from .guard import looks_like_injection
from .evidence import Query
from .text import char_ngrams
from .types import Candidate, Chunk

# k=60 is the constant from Cormack et al. (2009): it damps the head of each list so a
# chunk ranked well by both retrievers beats one ranked first by only one.
RRF_K = 60
OTHER_LANGUAGE_REACH = 200  # dense hits searched for the other language before filtering
OTHER_LANGUAGE_CHOICES = 3


def fuse_rrf(rankings: dict[str, list[str]], k: int = RRF_K) -> dict[str, float]:
    """Reciprocal rank fusion of several ranked id lists."""
    scores: dict[str, float] = {}
    for ranked in rankings.values():
        for rank, cid in enumerate(ranked):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (k + rank + 1)
    return scores


# Orders to an assistant are no evidence; cached per chunk text like the trigrams below.


@functools.lru_cache(maxsize=4096)
def _chunk_grams(text: str) -> frozenset[str]:
    """A chunk's trigrams: normalising (opencc, width folding) is the costly part of
    collapse_duplicates, and the same chunks come back question after question."""
    return frozenset(char_ngrams(text))


NEAR_DUPLICATE = 0.8  # trigram Jaccard above which two chunks say the same thing


def near_duplicate(a: str, b: str, threshold: float = NEAR_DUPLICATE) -> bool:
    """True when two texts share most of their character trigrams (Jaccard, after normalisation)."""
    return _similar_grams(char_ngrams(a), char_ngrams(b), threshold)


def _similar_grams(ga: AbstractSet[str], gb: AbstractSet[str], threshold: float) -> bool:
    if not ga or not gb or min(len(ga), len(gb)) < threshold * max(len(ga), len(gb)):
        return False  # Jaccard can't reach the threshold when one set is that much smaller
    return len(ga & gb) / len(ga | gb) >= threshold


def collapse_duplicates(candidates: list[Candidate]) -> list[Candidate]:
    """Keep the best of each group of near-identical chunks (same text under two names).

    Neighbouring chunks of one file share their overlap and are not duplicates.
    """
    kept: list[tuple[Candidate, frozenset[str]]] = []
    for cand in candidates:
        grams = _chunk_grams(cand.chunk.text)
        if not any(
            other.chunk.source != cand.chunk.source and _similar_grams(grams, other_grams, NEAR_DUPLICATE)
            for other, other_grams in kept
        ):
            kept.append((cand, grams))
    return [cand for cand, _ in kept]


def diversify(candidates: list[Candidate], top_k: int) -> list[Candidate]:
    """The top_k best, with at most top_k - 2 from one file, so a list can gather across sources."""
    per_source = max(1, top_k - 2)
    kept, spill, counts = [], [], {}
    for cand in candidates:
        source = cand.chunk.source
        if counts.get(source, 0) < per_source:
            kept.append(cand)
            counts[source] = counts.get(source, 0) + 1
        else:
            spill.append(cand)
    return (kept + spill)[:top_k]


def with_other_language(top: list[Candidate], best_other: Candidate | None) -> list[Candidate]:
    """Make room for the best chunk in the question's other language.

    e5 scores a translation of a passage ~0.1 below the passage itself, so a Chinese
    question's English evidence (perhaps the only file that names what is asked) never
    ranks among the Chinese chunks; one reserved slot lets the answerer weigh it.
    """
    if best_other is None or not top or any(c.chunk.lang == best_other.chunk.lang for c in top):
        return top
    if any(c.chunk.id == best_other.chunk.id for c in top):
        return top
    return top[:-1] + [best_other] if len(top) > 1 else top + [best_other]


class Retriever:
    """Embeds the question, asks both indexes, fuses, and keeps chunks that exist now."""

    def __init__(self, index: ChunkIndex, embedder):
        self.index = index
        self.embedder = embedder

    def retrieve(self, query: Query, top_k: int, candidates: int = 20, query_vector=None) -> list[Candidate]:
        """The top_k fused candidates for the question."""
        if query_vector is None:
            query_vector = self.embedder.embed_queries([query.text])[0]
        dense = self.index.dense_search(query_vector, candidates)
        sparse = self.index.sparse_search(list(query.terms), candidates)
        rankings = {"dense": [cid for cid, _ in dense], "sparse": [cid for cid, _ in sparse]}
        fused = fuse_rrf(rankings)
        order = sorted(fused, key=lambda cid: -fused[cid])[: top_k * 3]
        other_lang = "en" if query.language == "zh" else "zh"
        other = self._other_language_hits(query_vector, other_lang, dense)
        # One read for the text of every chunk that can still make the answer; a stale
        # BM25 id (its file changed since) is simply not returned.
        chunks = self.index.get_chunks(order + [cid for cid, _ in other])
        similarity = dict(dense) | dict(other)
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
            if cid in chunks and not looks_like_injection(chunks[cid].text)
        ]
        best_other = _first_evidence(other, chunks)
        if best_other is None and other:
            # Every pick was a page of orders to an assistant: look further down the list.
            wider = self.index.dense_search(query_vector, OTHER_LANGUAGE_REACH)
            rest = [(cid, sim) for cid, sim in wider if self.index.chunk_language(cid) == other_lang and cid not in chunks]
            best_other = _first_evidence(rest[:10], self.index.get_chunks([cid for cid, _ in rest[:10]]))
        top = diversify(collapse_duplicates(ranked), top_k)
        return with_other_language(top, best_other)

    def _other_language_hits(self, query_vector, other: str, dense: list[tuple[str, float]]) -> list[tuple[str, float]]:
        """The best few chunks written in `other` (the question's other language), as [(id, similarity)].

        Looked for among the dense hits, then a wider unfiltered search; Chroma's language
        filter (whose cost grows with the chunks it matches) only when the other language
        is so rare that neither found it, which is also when the filter is cheap.
        """
        if not self.index.has_language(other):
            return []
        picks = self._in_language(dense, other)
        if not picks:
            picks = self._in_language(self.index.dense_search(query_vector, OTHER_LANGUAGE_REACH), other)
        return picks or self.index.dense_search(query_vector, OTHER_LANGUAGE_CHOICES, lang=other)

    def _in_language(self, hits: list[tuple[str, float]], lang: str) -> list[tuple[str, float]]:
        return [(cid, sim) for cid, sim in hits if self.index.chunk_language(cid) == lang][:OTHER_LANGUAGE_CHOICES]


def _first_evidence(hits: list[tuple[str, float]], chunks: dict[str, Chunk]) -> Candidate | None:
    """The first hit that exists and is not a page of orders to an assistant."""
    for cid, similarity in hits:
        if cid in chunks and not looks_like_injection(chunks[cid].text):
            return Candidate(chunk=chunks[cid], score=0.0, dense_similarity=similarity)
    return None
