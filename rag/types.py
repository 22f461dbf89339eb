"""The records that flow through the pipeline: files -> Document -> Chunk -> Candidate -> Answer."""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field, replace

ABSTAIN_MESSAGE = "文档中没有找到答案。The documents do not say."  # what an abstaining Answer says


@dataclass(frozen=True)
class Page:
    """Where one page of a paged source (PDF page, slide, sheet) begins in `Document.text`."""

    start: int  # offset in Document.text where this page begins
    label: str  # what a citation shows: "p. 3", "slide 2", "sheet Sales"


def page_at(pages: tuple[Page, ...], offset: int) -> int | None:
    """1-based number of the page holding `offset`, or None for an unpaged source.

    Pages are listed one per physical page, empty ones included (they start where the next
    one does), so the number is the page's position and an empty page is never chosen.
    """
    if not pages:
        return None
    return max(1, bisect_right([page.start for page in pages], offset))


@dataclass(frozen=True)
class Document:
    """One cleaned source file. `text` is what quotes and offsets refer to."""

    source: str  # path relative to the corpus dir, with forward slashes
    text: str
    title: str = ""
    date: str = ""
    url: str = ""
    lang: str = ""  # "zh" or "en"
    sha256: str = ""  # hash of the raw file bytes
    pages: tuple[Page, ...] = ()  # empty for unpaged sources

    def page_at(self, offset: int) -> int | None:
        """1-based number of the page holding `offset` in `text`; None if unpaged."""
        return page_at(self.pages, offset)


@dataclass(frozen=True)
class Chunk:
    """A span of a Document's cleaned text: `text == document.text[start:end]`."""

    id: str
    source: str
    text: str
    start: int
    end: int
    ordinal: int
    title: str = ""
    date: str = ""
    lang: str = ""
    page: int | None = None  # 1-based number of the page the chunk starts on


@dataclass
class Candidate:
    """A retrieved chunk with its fused score and the ranks each retriever gave it."""

    chunk: Chunk
    score: float
    dense_rank: int | None = None
    sparse_rank: int | None = None
    dense_similarity: float | None = None


@dataclass(frozen=True)
class Citation:
    """The passage behind one [n] in an answer; `quote == cleaned source text[start:end]`."""

    n: int
    source: str
    title: str
    quote: str
    start: int
    end: int
    score: float
    date: str = ""
    page: int | None = None  # 1-based page of the quote's start; None if unpaged
    page_label: str = ""  # e.g. "p. 3"


@dataclass
class Answer:
    """What `ask` returns."""

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    abstained: bool = False
    grounded: float = 1.0  # share of answer sentences supported by their cited passage
    backend: str = "extractive"
    notice: str = ""  # e.g. why an LLM backend fell back to extractive
    # Seconds and token counts: retrieve_s, first_token_s, total_s, tokens_per_s,
    # context_tokens, prompt_tokens, completion_tokens (LLM answers; see rag.llm).
    timings: dict = field(default_factory=dict)
    partial: bool = False  # an LLM answer still being written: text so far, not yet verified
    answerability: float | None = None  # P(the documents answer it), from the evidence (rag.extractive)


def with_pages(answer: Answer, pages: dict[str, tuple[Page, ...]]) -> Answer:
    """The answer, its citations given the page their quote starts on (None for unpaged files)."""
    answer.citations = [_paged(citation, pages.get(citation.source, ())) for citation in answer.citations]
    return answer


def _paged(citation: Citation, pages: tuple[Page, ...]) -> Citation:
    number = page_at(pages, citation.start)
    if number is None:
        return citation
    return replace(citation, page=number, page_label=pages[number - 1].label)
