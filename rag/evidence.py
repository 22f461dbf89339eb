"""A question analysed once, and the evidence gathered for it once: what every answerer reads.

`Query` is the question's analysis: its prose (links, markup and code removed), language,
search terms, words, and the kind of answer it asks for. `Evidence` is what retrieval
gathered for it from the index. Retrieval, the extractive answerer and the answerability
model read these; none of them analyses the question again.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .text import detect_language, normalize, prose, query_tokens, words
from .types import Candidate, Page

# Answer types: what kind of phrase the question asks for, and how a sentence that
# holds one looks. Bilingual on both sides, so an English question about a Chinese
# sentence still recognises its answer.
ANSWER_TYPES = {
    "organization": (
        r"哪些?(家)?(企业|企業|公司|单位|單位|机构|機構|高校|大学|大學)|which (companies|enterprises|firms|organi[sz]ations|universities)",
        r"企业|企業|公司|集团|集團|Group|Compan|Enterprise|Corporation|Inc\b|Ltd\b",
    ),
    "number": (
        r"多少|几[个家项位人]|幾[個家項位人]|how many|how much|what (percentage|share|number)",
        r"\d",
    ),
    "date": (
        r"何时|何時|什么时候|什麼時候|哪一?天|哪一?年|几月|幾月|\bwhen\b|what date|which (day|year|month)",
        r"\d{4}\s*年|\d{1,2}\s*月\s*\d{1,2}\s*日|\d{4}-\d{2}|\b(19|20)\d{2}\b|January|February|March|April|May|June|July|August|September|October|November|December",
    ),
    "person": (
        r"谁|誰|\bwho\b|\bwhom\b|哪位|什么人|什麼人",
        r"书记|書記|校长|校長|主任|院士|主席|区长|區長|总经理|總經理|教授|秘书长|秘書長|理事长|理事長|记者|記者|President|Secretary|Mayor|[Dd]irector|Professor|[Rr]eporter|[Cc]hairman",
    ),
}
_ANSWER_TYPES = {name: (re.compile(q, re.I), re.compile(s)) for name, (q, s) in ANSWER_TYPES.items()}
_LIST_RE = re.compile(
    r"哪些|哪幾|哪几|有哪|包括哪|列出|列舉|列举|分别|分別|几大|幾大|四大|三大|"
    r"\bwhich\b.*\b(companies|enterprises|actions|parties|universities|areas|fields)\b|\blist\b|\bwhat are\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Query:
    """A question as every step reads it; make one with `Query.of(question)`."""

    text: str
    language: str  # "zh" or "en", of the whole text
    prose: str  # the text without links, markup, template placeholders and code
    terms: tuple[str, ...]  # BM25 terms of the normalised prose: words, pinyin pairs
    words: tuple[str, ...]  # words of the normalised prose, stopwords and punctuation aside
    answer_types: tuple[re.Pattern, ...]  # how a sentence holding the asked-for phrase looks
    is_list: bool  # asks for several items ("哪些企业", "which companies")

    @classmethod
    def of(cls, question: str) -> "Query":
        text = prose(question)
        normalized = normalize(text)
        return cls(
            text=question,
            language=detect_language(question),
            prose=text,
            terms=tuple(query_tokens(normalized)),
            words=tuple(words(normalized)),
            answer_types=tuple(sentence for asked, sentence in _ANSWER_TYPES.values() if asked.search(question)),
            is_list=bool(_LIST_RE.search(question)),
        )

    @cached_property
    def prose_language(self) -> str:
        """The language of the prose alone (a question of code and links has none of its own)."""
        return detect_language(self.prose)


@dataclass
class Evidence:
    """What one question gathered from the index, once: every answerer reads it.

    `sentences` are (source, start, end, vector) of every sentence of the retrieved files;
    `texts` the cleaned text of those files; `idf` the BM25 idf of every indexed term;
    `pages` the page marks of those files (empty for unpaged ones).
    """

    query: Query
    query_vector: np.ndarray
    candidates: list[Candidate]
    sentences: list[tuple[str, int, int, np.ndarray]]
    texts: dict[str, str]
    idf: dict[str, float]
    languages: frozenset[str] = frozenset({"zh", "en"})  # the languages of the indexed chunks
    pages: dict[str, tuple[Page, ...]] = field(default_factory=dict)

    @property
    def question(self) -> str:
        return self.query.text
