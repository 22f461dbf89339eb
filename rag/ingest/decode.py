"""Bytes -> text: byte-order marks, UTF-16 without one, legacy Chinese codecs, detection."""
from __future__ import annotations

import codecs
import logging
import re
import unicodedata
from functools import lru_cache

import charset_normalizer

from ..errors import IngestError

log = logging.getLogger(__name__)

# UTF-32 BOMs come first because the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# cp950 is Big5 as Windows writes it (a superset of plain Big5).
_LEGACY_CJK_CODECS = ("gb18030", "cp950")
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "big5": "cp950"}
_BINARY_CONTROL_SHARE = 0.05
_NON_ASCII_RUN_ANY_RE = re.compile(r"[^\x00-\x7f]+")
# A right legacy codec yields ~100% common hanzi; the wrong one ~20-50% (measured on the seeds).
_MIN_COMMON_CJK_SHARE = 0.7
_MIN_UTF16_SHARE_WITH_NULS = 0.8
_MIN_UTF16_SHARE_WITHOUT_NULS = 0.9


def decode_text(raw: bytes, source: str = "<bytes>", declared: str = "") -> str:
    """Decode a text file's bytes, or raise IngestError when they look binary or undecodable."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            return _decode_with_bom(raw[len(bom):], codec, source)
    if b"\x00" in raw:
        return _decode_nul_bytes(raw, source)
    binary_message = f"{source}: looks binary (many control bytes); is it really a text file?"
    # Strict UTF-8 first: legacy-encoded bytes almost never form valid UTF-8.
    text = _try_decode(raw, "utf-8")
    if text is not None:
        if _looks_binary_text(text):
            raise IngestError(binary_message)
        return text
    # All-hanzi UTF-16 has no NULs at all; other encodings read as UTF-16 give rare characters.
    text = _best_utf16(raw, _MIN_UTF16_SHARE_WITHOUT_NULS)
    if text is not None:
        return text
    if _control_share(raw) > _BINARY_CONTROL_SHARE:
        raise IngestError(binary_message)
    for attempt in (_try_declared, _try_legacy_cjk, _try_charset_normalizer, _try_cp1252):
        text = attempt(raw, declared)
        if text is not None:
            return text
    raise IngestError(f"{source}: undecodable text (unknown encoding); re-save it as UTF-8")


def _decode_with_bom(body: bytes, codec: str, source: str) -> str:
    """Decode the bytes after a byte-order mark strictly."""
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        raise IngestError(f"{source}: undecodable {codec} text ({exc.reason}); re-save it as UTF-8") from None
    if _looks_binary_text(text):
        raise IngestError(f"{source}: looks binary despite its {codec} byte-order mark")
    return text


def _decode_nul_bytes(raw: bytes, source: str) -> str:
    """NUL bytes mean UTF-16 without a BOM (if one byte order reads as text), else binary."""
    text = _best_utf16(raw, _MIN_UTF16_SHARE_WITH_NULS)
    if text is None:
        raise IngestError(f"{source}: looks binary (contains NUL bytes); is it really a text file?")
    return text


def _best_utf16(raw: bytes, min_share: float) -> str | None:
    """The UTF-16 byte order whose text is mostly ordinary characters, or None.

    ASCII in UTF-16 puts a NUL in every high byte (b"A" + NUL little-endian), but hanzi such as
    一 (U+4E00) put NULs on the other side, so the decoded text decides the byte order.
    """
    if len(raw) % 2:
        return None
    best_text = None
    best_share = 0.0
    for codec in ("utf-16-le", "utf-16-be"):
        text = _try_decode(raw, codec)
        if text is None or _looks_binary_text(text):
            continue
        share = _ordinary_share(text)
        if share > best_share:
            best_text, best_share = text, share
    if best_share >= min_share:
        return best_text
    return None


def _ordinary_share(text: str) -> float:
    """Share of characters that are printable ASCII, Latin letters, punctuation or common hanzi."""
    if not text:
        return 0.0
    ordinary = sum(1 for char in text if _is_ordinary_char(char))
    return ordinary / len(text)


def _is_ordinary_char(char: str) -> bool:
    """What real Chinese or English text is made of (the wrong byte order gives rare ideographs)."""
    code = ord(char)
    if code < 0x80:
        return char.isprintable() or char in "\t\n\r\f"
    if code < 0x250:  # Latin-1 and Latin Extended letters
        return True
    return _is_cjk_punctuation(char) or _is_common_hanzi(char)


def _control_share(raw: bytes) -> float:
    """Share of C0 control bytes other than tab, newlines and form feed."""
    sample = raw[: 1 << 16]
    controls = 0
    for byte in sample:
        if (byte < 0x20 and byte not in b"\t\n\r\f") or byte == 0x7F:
            controls += 1
    return controls / max(len(sample), 1)


def _looks_binary_text(text: str) -> bool:
    """Decoded text with many control, unassigned or private-use characters is binary."""
    sample = text[: 1 << 15]
    odd = 0
    for char in sample:
        if char in "\t\n\r\f":
            continue
        if unicodedata.category(char) in ("Cc", "Cn", "Co", "Cs"):
            odd += 1
    return odd > _BINARY_CONTROL_SHARE * max(len(sample), 1)


def _try_decode(raw: bytes, codec: str) -> str | None:
    """Strict decode, or None."""
    try:
        return raw.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _try_declared(raw: bytes, declared: str) -> str | None:
    """The charset an HTML page declares, when it decodes cleanly."""
    if not declared:
        return None
    codec = _CHARSET_ALIASES.get(declared.lower(), declared)
    return _try_decode(raw, codec)


def _try_legacy_cjk(raw: bytes, declared: str) -> str | None:
    """GB18030 or Big5, whichever decodes cleanly and yields more common hanzi."""
    best_text = None
    best_share = 0.0
    for codec in _LEGACY_CJK_CODECS:
        text = _try_decode(raw, codec)
        if text is None:
            continue
        share = _common_cjk_share(text)
        if share > best_share:
            best_text, best_share = text, share
    if best_share >= _MIN_COMMON_CJK_SHARE:
        return best_text
    return None


def _try_charset_normalizer(raw: bytes, declared: str) -> str | None:
    """charset-normalizer's best plausible guess; tried after the CJK codecs because it is a guess."""
    try:
        results = list(charset_normalizer.from_bytes(raw))  # best first
    except Exception:  # a detector bug must not hide the file's real problem
        log.debug("charset-normalizer failed", exc_info=True)
        return None
    # On short Western text it happily proposes cp932/gb18030, which turn each accented
    # letter into a stray ideograph; those guesses were already refused by _try_legacy_cjk.
    plausible = [match for match in results if not _mostly_stray_wide_chars(str(match))]
    if not plausible:
        return None
    best = plausible[0]
    # It often ranks cp1250 and cp1252 equal on Western text; cp1252 is far more common.
    for match in plausible:
        if match.encoding == "cp1252" and match.chaos <= best.chaos:
            best = match
            break
    text = str(best)
    if _looks_binary_text(text):
        return None
    return text


def _try_cp1252(raw: bytes, declared: str) -> str | None:
    """Windows-1252, the usual legacy Western encoding, for samples too short to detect."""
    return _try_decode(raw, "cp1252")


def _mostly_stray_wide_chars(text: str) -> bool:
    """True when most non-ASCII characters are lone wide (CJK) characters between ASCII."""
    non_ascii_count = sum(1 for char in text if ord(char) > 0x7F)
    stray = 0
    for run in _NON_ASCII_RUN_ANY_RE.findall(text):
        if len(run) == 1 and unicodedata.east_asian_width(run) in ("W", "F"):
            stray += 1
    return stray > 0.5 * non_ascii_count


def _common_cjk_share(text: str) -> float:
    """Share of non-ASCII characters that are CJK punctuation or common hanzi used like hanzi."""
    non_ascii = 0
    common = 0
    for index, char in enumerate(text):
        if ord(char) <= 0x7F:
            continue
        non_ascii += 1
        if _is_cjk_punctuation(char):
            common += 1
        elif _is_common_hanzi(char) and not _is_glued_into_latin_word(text, index):
            common += 1
    if not non_ascii:
        return 0.0
    return common / non_ascii


def _is_glued_into_latin_word(text: str, index: int) -> bool:
    """A lone non-ASCII character touching a lower-case Latin letter ("na?ve", "?af").

    That is what Western legacy bytes (é, curly quotes) look like when read as GB18030:
    each becomes one stray ideograph, sometimes a common one, inside an English word.
    Real Chinese glues hanzi to capitals and digits ("京ICP备", "5G"), rarely to lower case.
    """
    before = text[index - 1] if index > 0 else " "
    after = text[index + 1] if index + 1 < len(text) else " "
    lone = before.isascii() and after.isascii()
    touches_lower = (before.isascii() and before.islower()) or (after.isascii() and after.islower())
    return lone and touches_lower


def _is_cjk_punctuation(char: str) -> bool:
    """CJK symbols, full-width forms and the curly quotes/dashes Chinese text uses."""
    code = ord(char)
    return 0x3000 <= code <= 0x303F or 0xFF00 <= code <= 0xFFEF or 0x2010 <= code <= 0x2027 or char == "·"


@lru_cache(maxsize=65536)
def _is_common_hanzi(char: str) -> bool:
    """GB2312 level-1 hanzi (3,755) or Big5 frequently-used hanzi (5,401)."""
    try:
        gb = char.encode("gb2312")
        if len(gb) == 2 and 0xB0 <= gb[0] <= 0xD7:
            return True
    except UnicodeEncodeError:
        pass
    try:
        big5 = char.encode("big5")
        if len(big5) == 2 and 0xA440 <= int.from_bytes(big5, "big") <= 0xC67E:
            return True
    except UnicodeEncodeError:
        pass
    return False
