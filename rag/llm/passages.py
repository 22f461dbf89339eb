"""The prompt's evidence: the extractive answer's sentences with a sentence of context each side."""
from __future__ import annotations

from ..guard import looks_like_injection, looks_like_instruction, restates
from ..text import split_sentences
from ..types import Answer, Candidate
from ..verify import Passage
from .prompt import estimate_tokens

MAX_CONTEXT_SENTENCE_TOKENS = 60  # a longer neighbour (a list of attendees) costs more than it explains


class _Segment:
    """A stretch of a source's cleaned text (the whole text, or a retrieved chunk) split into sentences."""

    def __init__(self, source: str, base: int, text: str, title: str, date: str):
        self.source, self.base, self.text, self.title, self.date = source, base, text, title, date
        self.spans = [(base + a, base + b) for a, b in split_sentences(text)]
        self.payload = looks_like_injection(text)

    def sentence(self, i: int) -> str:
        a, b = self.spans[i]
        return self.text[a - self.base : b - self.base]

    def overlapping(self, start: int, end: int) -> list[int]:
        return [i for i, (a, b) in enumerate(self.spans) if a < end and b > start]


class _Segments:
    """The stretches of source text the passages are cut from, made on demand: a file's
    whole text when it is given, else the retrieved chunk that holds the span."""

    def __init__(self, candidates: list[Candidate], texts: dict[str, str], question: str):
        self.candidates, self.texts, self.question = candidates, texts, question
        self.meta: dict[str, Candidate] = {}
        for cand in candidates:
            self.meta.setdefault(cand.chunk.source, cand)
        self.items: list[_Segment] = []

    def __getitem__(self, k: int) -> _Segment:
        return self.items[k]

    def __len__(self) -> int:
        return len(self.items)

    def holding(self, source: str, start: int, end: int) -> int | None:
        """The index of the segment holding source[start:end], made if need be; None if no text has it."""
        for k, seg in enumerate(self.items):
            if seg.source == source and seg.base <= start and end <= seg.base + len(seg.text):
                return k
        cand = self.meta.get(source)
        title, date = (cand.chunk.title, cand.chunk.date) if cand else ("", "")
        if source in self.texts:
            return self._add(_Segment(source, 0, self.texts[source], title, date))
        for c in self.candidates:
            ch = c.chunk
            if ch.source == source and ch.start <= start and end <= ch.end:
                return self._add(_Segment(source, ch.start, ch.text, ch.title, ch.date))
        return None

    def _add(self, segment: _Segment) -> int:
        self.items.append(segment)
        return len(self.items) - 1

    def is_evidence(self, k: int, i: int) -> bool:
        """Documents are data: no payload file, no order to an assistant, no echo of the question."""
        sentence = self.items[k].sentence(i)
        return not (self.items[k].payload or looks_like_instruction(sentence) or restates(sentence, self.question))

    def seeds_in(self, k: int, start: int, end: int, seeds: list[tuple[int, int]]) -> None:
        """Add the evidence sentences of segment k overlapping [start, end) to `seeds`."""
        seeds.extend((k, i) for i in self.items[k].overlapping(start, end) if (k, i) not in seeds and self.is_evidence(k, i))


def build_passages(
    candidates: list[Candidate],
    extractive: Answer,
    texts: dict[str, str] | None = None,
    budget: int = 350,
    count=estimate_tokens,
) -> list[Passage]:
    """The prompt's evidence: cited sentences first, then a sentence of context each side.

    Seeds are the extractive answer's citations (best score first), or, when it cited
    nothing usable, the sentences of the top retrieved chunks. Documents are data: files
    that are mostly orders to an assistant (rag.guard.looks_like_injection), such orders
    anywhere, and sentences that only ask the question again are never seeds or context.
    Each passage is an exact span of the cleaned source text (`texts[source]`, or the
    chunk's text when the file's text is not given), so the verifier can quote it.
    """
    segments = _Segments(candidates, texts or {}, extractive.question)
    seeds = _seeds(segments, candidates, extractive)
    chosen = _within_budget(segments, seeds, budget, count)
    return _as_passages(segments, chosen)


def _seeds(segments: _Segments, candidates: list[Candidate], extractive: Answer) -> list[tuple[int, int]]:
    """(segment, sentence) pairs, best first: the cited sentences, else the top three chunks'."""
    seeds: list[tuple[int, int]] = []
    cited = sorted(extractive.citations, key=lambda c: -c.score) if not extractive.abstained else []
    for c in cited:
        k = segments.holding(c.source, c.start, c.end)
        if k is not None:
            segments.seeds_in(k, c.start, c.end, seeds)
    if seeds:
        return seeds
    taken = 0  # the top three retrieved chunks that are not prompt injections
    for cand in candidates:
        ch = cand.chunk
        k = segments.holding(ch.source, ch.start, ch.end)
        if k is None or segments[k].payload:
            continue
        segments.seeds_in(k, ch.start, ch.end, seeds)
        taken += 1
        if taken == 3:
            break
    return seeds


def _within_budget(segments: _Segments, seeds: list[tuple[int, int]], budget: int, count) -> dict[tuple[int, int], int]:
    """(segment, sentence) -> priority: the seeds that fit the budget, then one neighbour each side."""
    chosen: dict[tuple[int, int], int] = {}
    used = 0
    for rank, (k, i) in enumerate(seeds):
        cost = count(segments[k].sentence(i))
        if chosen and used + cost > budget:
            continue
        chosen[(k, i)] = rank
        used += cost
    for k, i in [key for key in seeds if key in chosen]:  # then the neighbours, best seed first
        for j in (i - 1, i + 1):
            if 0 <= j < len(segments[k].spans) and (k, j) not in chosen and segments.is_evidence(k, j):
                cost = count(segments[k].sentence(j))
                if cost <= MAX_CONTEXT_SENTENCE_TOKENS and used + cost <= budget:
                    chosen[(k, j)] = chosen[(k, i)]
                    used += cost
    return chosen


def _as_passages(segments: _Segments, chosen: dict[tuple[int, int], int]) -> list[Passage]:
    """Runs of consecutive chosen sentences as numbered passages, in their seeds' order."""
    runs: list[tuple[int, int, int, int]] = []  # (priority, segment, first, last sentence)
    for k in range(len(segments)):
        idx = sorted(i for kk, i in chosen if kk == k)
        while idx:
            first = last = idx.pop(0)
            while idx and idx[0] == last + 1:
                last = idx.pop(0)
            priority = min(chosen[(k, i)] for i in range(first, last + 1))
            runs.append((priority, k, first, last))
    runs.sort()
    passages = []
    for n, (_p, k, first, last) in enumerate(runs, start=1):
        seg = segments[k]
        start, end = seg.spans[first][0], seg.spans[last][1]
        text = seg.text[start - seg.base : end - seg.base]
        passages.append(Passage(n, seg.source, seg.title, seg.date, start, end, text, tuple(seg.spans[first : last + 1])))
    return passages
