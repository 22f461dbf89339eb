"""Glyph normalisation: extracted text is searched as what it says, not as how it was drawn.

PDF fonts often map a hanzi's glyph to a radical code point: Chromium's and many other
PDFs' text layer reads "⻘松湖" (U+2ED8, a CJK radical-supplement form) and "⾯积" (U+2FAF,
a Kangxi radical) where the page shows 青松湖 and 面积, so neither BM25 nor the embedder
matches a question typed with the ordinary characters. Compatibility ideographs (U+F900..,
U+2F800..), Latin ligatures (ﬁ, ﬂ), soft hyphens and words hyphenated across a line break
have the same effect. `normalise_text` maps each to what a reader would type. It runs
before cleaning, so citation quotes remain exact spans of the cleaned text.

Radicals are mapped with Unicode's EquivalentUnifiedIdeograph.txt (vendored in data/, with
its licence): NFKC maps the 214 Kangxi radicals but leaves most of the radical supplement
alone. Only these code points change; NFKC as a whole would also turn full-width Chinese
punctuation into ASCII and "m²" into "m2".
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

_DATA = Path(__file__).with_name("data") / "EquivalentUnifiedIdeograph.txt"
_RADICAL_BLOCKS = ((0x2E80, 0x2EFF), (0x2F00, 0x2FDF))  # CJK radicals supplement, Kangxi radicals
_COMPATIBILITY_BLOCKS = ((0xF900, 0xFAFF), (0x2F800, 0x2FA1F), (0xFB00, 0xFB06))  # ideographs, ligatures
_SOFT_HYPHEN = "\u00ad"
# "exam-\nple": a word broken over a line with a hyphen. The second part starts lower-case,
# which a new sentence or a list item after a dash would not.
_LINE_BREAK_HYPHEN_RE = re.compile(r"([A-Za-z]+)-[ \t]*\n[ \t]*([a-z]+)(-?)")
_WORD_RE = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")


def normalise_text(text: str) -> str:
    """Radicals and compatibility ideographs as unified ideographs, ligatures spelled out,
    soft hyphens dropped and English words hyphenated across a line break rejoined."""
    text = normalise_glyphs(text)
    text = text.replace(_SOFT_HYPHEN + "\n", "").replace(_SOFT_HYPHEN, "")
    if "-" in text:
        text = join_hyphenated_words(text)
    return text


def normalise_glyphs(text: str) -> str:
    """Only the code point mapping of `normalise_text` (radicals, compatibility ideographs, ligatures)."""
    return text.translate(_glyph_table())


def join_hyphenated_words(text: str) -> str:
    """'exam-\\nple' -> 'example'; 'well-\\nknown' stays 'well-known' when the document
    writes 'well-known' elsewhere on one line (and does not write 'wellknown'), and so
    does 'fonts-\\nnoto-cjk'. Without such evidence the break is taken for hyphenation."""
    matches = list(_LINE_BREAK_HYPHEN_RE.finditer(text))
    if not matches:
        return text
    vocabulary = {word.lower() for word in _WORD_RE.findall(text)}

    def rejoin(match: re.Match[str]) -> str:
        left, right, more = match.groups()
        compound = f"{left}-{right}".lower()
        # "fonts-\nnoto-cjk": a word that goes on with another hyphen is a compound.
        if more or (compound in vocabulary and (left + right).lower() not in vocabulary):
            return f"{left}-{right}{more}"
        return left + right

    return _LINE_BREAK_HYPHEN_RE.sub(rejoin, text)


@lru_cache(maxsize=1)
def _glyph_table() -> dict[int, str]:
    """str.translate table: radicals from Unicode's equivalence file, then NFKC for the
    compatibility ideographs, ligatures and any radical the file leaves out."""
    table = _equivalent_unified_ideographs()
    for first, last in (*_RADICAL_BLOCKS, *_COMPATIBILITY_BLOCKS):
        for code in range(first, last + 1):
            if code in table:
                continue
            char = chr(code)
            mapped = unicodedata.normalize("NFKC", char)
            if mapped != char:
                table[code] = mapped
    return table


def _equivalent_unified_ideographs() -> dict[int, str]:
    """Radical (and stroke) code point -> unified ideograph, from EquivalentUnifiedIdeograph.txt,
    radical blocks only: CJK strokes (U+31C0..) are pen strokes, not words."""
    table: dict[int, str] = {}
    for line in _DATA.read_text(encoding="utf-8").splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) != 2:
            continue
        span, target = fields[0].strip(), chr(int(fields[1].strip(), 16))
        first, _, last = span.partition("..")
        for code in range(int(first, 16), int(last or first, 16) + 1):
            if any(low <= code <= high for low, high in _RADICAL_BLOCKS):
                table[code] = target
    return table
