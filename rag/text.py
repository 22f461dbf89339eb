"""Script normalisation, language detection, sentence splitting and BM25 tokens.

Pure functions over strings. jieba, opencc and pypinyin load their dictionaries on first
use (jieba's takes ~0.5 s), so nothing heavy happens at import time.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_RE = re.compile(f"[{CJK}]")  # one CJK ideograph: the only definition in rag/
_LATIN_RE = re.compile(r"[A-Za-z]")
_CJK_RUN_RE = re.compile(f"[{CJK}]+")
_WORD_RE = re.compile(r"[a-z0-9]+(?:[.'’-][a-z0-9]+)*")

EN_STOPWORDS = frozenset(
    """a an the of to in on at by for from with and or but is are was were be been being
    will would shall should can could may might do does did has have had this that these
    those it its as into about which what who whom whose when where why how than then
    there their they them he she his her we our you your i me my not no yes so if also
    any all some such other more most much many very just only own same s t""".split()
)
ZH_STOPWORDS = frozenset(
    """的 了 是 在 和 与 及 将 把 被 对 为 以 于 等 也 都 而 并 或 之 其 这 那 有 中 上 下
    个 们 着 就 要 会 从 向 到 让 由 各 该 此 吗 呢 吧 啊 哪些 哪个 哪 什么 怎么 如何 多少
    谁 何 几 是否 请问 一下 一个 这个 那个 以及 还 又 但 所 可以 可 能 已 已经 进行 通过""".split()
)


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _jieba():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def to_simplified(text: str) -> str:
    """Traditional -> simplified Chinese (opencc t2s); other scripts pass through."""
    if not CJK_RE.search(text):
        return text
    return _t2s().convert(text)


def fold_width(text: str) -> str:
    """Full-width ASCII and ideographic space -> half-width."""
    out = []
    for ch in text:
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:
            out.append(chr(code - 0xFEE0))
        elif code == 0x3000:
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def normalize(text: str) -> str:
    """The indexed form: simplified script, half-width, lower case, folded whitespace."""
    text = unicodedata.normalize("NFC", text)
    text = fold_width(to_simplified(text)).lower()
    return re.sub(r"\s+", " ", text).strip()


def char_ngrams(text: str, n: int = 3) -> set[str]:
    """Character n-grams of the normalised text without spaces (near-duplicate and echo tests)."""
    text = normalize(text).replace(" ", "")
    return {text[i : i + n] for i in range(max(1, len(text) - n + 1))}


def detect_language(text: str) -> str:
    """'zh' when CJK characters outnumber a fifth of the Latin letters, else 'en'."""
    cjk = len(CJK_RE.findall(text))
    latin = len(_LATIN_RE.findall(text))
    if cjk == 0 and latin == 0:
        return "en"
    # A CJK character carries about as much as a 4-5 letter word.
    return "zh" if cjk * 5 >= latin else "en"


# A sentence ends at CJK terminal punctuation (closing quotes stay with it), at .!?;
# followed by whitespace, or at a line break. "3.5" and "U.S." do not end sentences.
_SENTENCE_END_RE = re.compile(
    r"[。！？；!?;]+[”」』\"'）)]*"
    r"|(?<![A-Z])(?<!\b[A-Z][a-z])\.(?=\s)[”\"')]*"
    r"|\n+"
)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) over `text`, trimmed of surrounding whitespace."""
    spans = []
    start = 0
    for match in _SENTENCE_END_RE.finditer(text):
        end = match.end() if match.group(0)[0] != "\n" else match.start()
        spans.append((start, end))
        start = match.end()
    spans.append((start, len(text)))
    return [trimmed for span in spans if (trimmed := _trim(text, *span))]


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end - start == 0 or not re.search(rf"[\w{CJK}]", text[start:end]):
        return None
    return start, end


def words(normalized: str) -> list[str]:
    """jieba words over CJK runs, lower-case word tokens elsewhere; no stopwords or punctuation."""
    tokens = []
    for piece in re.split(f"([{CJK}]+)", normalized):
        if not piece:
            continue
        if CJK_RE.match(piece):
            tokens.extend(w for w in _jieba().cut_for_search(piece) if w not in ZH_STOPWORDS)
        else:
            tokens.extend(w for w in _WORD_RE.findall(piece) if w not in EN_STOPWORDS)
    return tokens


def document_tokens(normalized: str) -> list[str]:
    """BM25 tokens: words, plus pinyin of adjacent syllables ("py:xihu", "py:hulong", ...).

    Pinyin pairs come from CJK runs and from Latin words that are pinyin, on both the
    passage and the question side, so a place name written in hanzi, its pinyin spelling,
    and a machine translation that splits it differently all meet on the same tokens. A
    name jieba does not know is cut into pieces, and the pairs across the pieces still
    match the whole name.
    """
    return words(normalized) + pinyin_pairs(normalized)


def query_tokens(normalized: str) -> list[str]:
    """BM25 tokens of a question; the same analysis as passages."""
    return document_tokens(normalized)


def pinyin_pairs(normalized: str) -> list[str]:
    """'py:' tokens for each pair of adjacent syllables in CJK runs and pinyin words."""
    tokens = []
    for match in re.finditer(f"[{CJK}]+|[a-z]+", normalized):
        piece = match.group(0)
        syllables = _pinyin(piece) if CJK_RE.match(piece) else split_pinyin(piece)
        if syllables and len(syllables) >= 2:
            tokens.extend("py:" + a + b for a, b in zip(syllables, syllables[1:]))
    return tokens


# Runs between punctuation repeat a great deal (overlapping chunks, recurring names and
# phrases) and pypinyin is slow: building BM25 for 100k chunks spent 192 of 468 s in it.
@lru_cache(maxsize=1 << 16)
def _pinyin(run: str) -> tuple[str, ...]:
    from pypinyin import Style, lazy_pinyin

    return tuple(lazy_pinyin(run, style=Style.NORMAL, errors="ignore", v_to_u=False))


@lru_cache(maxsize=1)
def _pinyin_syllables() -> frozenset[str]:
    from pypinyin.constants import PINYIN_DICT
    from pypinyin.style import convert

    syllables = set()
    for readings in PINYIN_DICT.values():
        for reading in readings.split(","):
            plain = convert(reading, style=0, strict=False)  # Style.NORMAL
            if plain.isascii() and plain.isalpha():
                syllables.add(plain)
    return frozenset(syllables)


@lru_cache(maxsize=4096)
def split_pinyin(word: str) -> tuple[str, ...] | None:
    """Split a Latin word into pinyin syllables ('xihulongjing' -> xi hu long jing), else None.

    Prefers the split with the fewest syllables, so 'xian' stays one syllable.
    """
    syllables = _pinyin_syllables()
    n = len(word)
    best: list[tuple[str, ...] | None] = [None] * (n + 1)
    best[0] = ()
    for end in range(1, n + 1):
        for start in range(max(0, end - 6), end):
            head = best[start]
            if head is not None and word[start:end] in syllables:
                candidate = head + (word[start:end],)
                if best[end] is None or len(candidate) < len(best[end]):
                    best[end] = candidate
    return best[n]


# What a question may carry that is not prose: links, markup, template placeholders, file paths, SQL
# and code. None of it names anything a document could state, so a "question" made only
# of it has no terms to answer and the answerer abstains instead of quoting a near miss.
_NON_PROSE_RE = re.compile(
    r"<\s*(script|style)\b.*?<\s*/\s*\1\s*>"  # a script with its body
    r"|<[^<>]*>"  # tags, and "<y>" placeholders
    r"|\b[a-z][a-z0-9+.-]*://\S*|\bwww\.\S+"  # links
    r"|\{\{.*?\}\}|\{%.*?%\}|\$\{.*?\}"  # template placeholders
    r"|(?<![\w.])(?:\.\.?/|~/|/)[\w./-]*"  # file paths ("../../etc/passwd", "/usr/bin"); "1/3" is no path
    r"|\b(select\s.*?\sfrom|drop\s+(table|database)|insert\s+into|delete\s+from|union\s+(all\s+)?select)\s+\S+",
    re.IGNORECASE | re.DOTALL,
)
# A whitespace-free Latin run with a call, an arrow, an assignment or statement
# punctuation ("fetch('/api').then(r=>r.json());", "1=1", "chunks;") is code, not words.
_CODE_RE = re.compile(r"[A-Za-z_$][\w$]*\(|=|[;{}]|&&|\|\|")


def prose(text: str) -> str:
    """The text without links, markup, template placeholders, SQL and code runs."""
    text = _NON_PROSE_RE.sub(" ", text)
    return " ".join(run for run in text.split() if not (run.isascii() and _CODE_RE.search(run)))


def unread_letters(text: str) -> bool:
    """True when the text has letters of a script that `words` does not read (Cyrillic, Arabic, accented Latin)."""
    return any(ch.isalpha() and not ch.isascii() and not CJK_RE.match(ch) for ch in text)
