"""How answers, quotes and chunks are compared: normalised, artefact-free substrings.

Supporting quotes are exact substrings of the RAW seed files, while chunks, answers and
citations hold CLEANED text (pinyin artefacts such as 區(qū) removed, whitespace tidied).
So everything is compared after `rag.text.normalize` (simplified script, half width,
lower case) and, for quotes, also with the artefacts removed and spaces dropped.
"""
from __future__ import annotations

import html
import re
from difflib import SequenceMatcher

from rag.text import detect_language, normalize

_TONES = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹḿ"
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# "關(guān)" -> "關": a parenthesised toned pinyin syllable right after a CJK character.
_ARTEFACT_RE = re.compile(rf"(?<=[{_CJK}])[(（]\s*[a-zü{_TONES}]*[{_TONES}][a-zü{_TONES}]*\s*[)）]")
_CJK_RE = re.compile(f"[{_CJK}]")
MIN_OVERLAP_CHARS = 12  # a citation "overlaps" a supporting quote when they share this much


def strip_artefacts(text: str) -> str:
    """Remove pinyin annotations like (guān) after CJK characters."""
    return _ARTEFACT_RE.sub("", text)


def norm(text: str) -> str:
    """rag.text.normalize, after unescaping HTML entities."""
    return normalize(html.unescape(text))


def compact(text: str) -> str:
    """Normalised, artefact-free, without any spaces: for substring tests across cleaning."""
    return norm(strip_artefacts(text)).replace(" ", "")


def has_spelling(answer: str, spelling: str) -> bool:
    """Does the answer contain this spelling of a key fact (normalised both sides)?

    Chinese spellings are also tried without spaces (cleaning may join or split lines).
    A spelling that starts or ends with a Latin letter or digit must start or end a word
    there, so "He Rui" does not match "the ruins" and "41%" does not match "141%".
    """
    if _CJK_RE.search(spelling) and compact(spelling) in compact(answer):
        return True
    return _word_pattern(norm(spelling)).search(norm(answer)) is not None


def _word_pattern(spelling: str) -> re.Pattern:
    """The spelling as a regex, with word boundaries at its alphanumeric ends."""
    head = r"(?<![a-z0-9])" if spelling[:1].isascii() and spelling[:1].isalnum() else ""
    tail = r"(?![a-z0-9])" if spelling[-1:].isascii() and spelling[-1:].isalnum() else ""
    return re.compile(head + re.escape(spelling) + tail)


def facts_found(answer: str, key_facts: tuple[tuple[str, ...], ...]) -> list[bool]:
    """For each key-fact group: does the answer contain at least one of its spellings?"""
    return [any(has_spelling(answer, s) for s in group) for group in key_facts]


def quote_in(quote: str, text: str) -> bool:
    """Is a raw-file quote contained in a cleaned text (chunk, document)?"""
    haystack = norm(text).replace(" ", "")
    forms = {norm(quote).replace(" ", ""), compact(quote)}
    return any(form and form in haystack for form in forms)


def overlaps(a: str, b: str, min_chars: int = MIN_OVERLAP_CHARS) -> bool:
    """Do two passages share a run of min_chars characters (or all of the shorter one)?"""
    x, y = compact(a), compact(b)
    if not x or not y:
        return False
    match = SequenceMatcher(None, x, y, autojunk=False).find_longest_match(0, len(x), 0, len(y))
    return match.size >= min(min_chars, len(x), len(y))


def base_language(language: str) -> str:
    """zh-Hant counts as zh."""
    return "zh" if language.startswith("zh") else "en"


def text_language(text: str) -> str:
    """'zh' or 'en' for an answer text, with citation markers removed."""
    return detect_language(re.sub(r"\[\d+\]", "", text))
