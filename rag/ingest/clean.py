"""Cleaning: the same furniture removal (share prompts, ICP lines, sidebars, pinyin
artefacts) for every format, applied to the text a reader returned."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

import opencc

_TONE_MARKS = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹḿ"
CJK_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# A CJK character followed by "(guān)" or "（guān）": the candidate; the syllable check is below.
_PINYIN_ANNOTATION_RE = re.compile(
    rf"(?<=[{CJK_CLASS}])[(（]\s*([A-Za-zü{_TONE_MARKS}]{{1,7}})\s*[)）]"
)
# Initial + final, or one of the syllabic nasals (ń, ň, ḿ). ü is compared as u.
_PINYIN_SYLLABLE_RE = re.compile(
    r"(zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?"
    r"(iang|iong|uang|ang|eng|ing|ong|ian|iao|uai|uan|ai|ao|an|ei|en|er|ia|ie|in|iu|ou|"
    r"ua|ue|ui|un|uo|a|e|i|o|u)"
    r"|hng|hm|ng|n|m"
)
_SENTENCE_END_RE = re.compile(r"[。！？；]|[.!?](?:\s|$)")
TIMESTAMP_LINE_RE = re.compile(r"\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?")
_BULLETS = "•·▪◦●○■□-*–—"
_MIN_PROSE_CHARS = 30

# Line patterns, matched against the line converted to simplified Chinese (see `simplified`).
# _UI_RE and _RELATED_RE see the line with spaces and brackets removed, hence "backtotop".
_SHARE_RE = re.compile(
    r"分享到|分享至|分享给|一键分享|浏览器分享|分享功能|微信好友|^朋友圈$|扫一扫|"
    r"扫.{0,6}二维码|二维码.{0,6}(扫|关注|下载|分享)|^二维码$|扫码(关注|阅读|下载|分享|查看)|"
    r"^[-—|·\s]*分享[-—|·\s]*$|^(share|tweet)(\s+(this|on|via|to|with|so)\b.*)?$",
    re.I,
)
_ICP_RE = re.compile(r"icp\s*[备证]|公网安备|网安备\s*\d|增值电信业务经营许可证", re.I)
_COPYRIGHT_RE = re.compile(
    r"版权所有|copyright\s*(©|\(c\)|&copy;|\d{4})|©\s*\d{4}|all rights reserved|"
    r"未经.{0,20}(授权|许可).{0,20}(转载|使用|复制)|转载请注明",
    re.I,
)
_NAV_RE = re.compile(r"^(首页|主页|home)\s*[>›»/＞]|当前位置|您的位置|你的位置|you are here", re.I)
_READING_RE = re.compile(r"^正在阅读\s*[:：]")
_SLASH_LABEL_RE = re.compile(r"^[/|»>•·\-–—]\s*[A-Z][A-Z &'-]{2,30}$")
_KNOWN_LABELS = frozenset(("headlines", "breaking news", "top stories", "latest news"))
_UI_RE = re.compile(
    r"(返回顶部|回到顶部|返回首页|返回列表|打印本页|打印本文|打印|关闭窗口|关闭本页|关闭|收藏本页|"
    r"加载更多|查看更多|阅读剩余全文|展开全文|阅读全文|点击查看全文|读取内容中[,，]?请等待\.*|"
    r"backtotop|closewindow|printthispage|print)+",
    re.I,
)
_UI_SEPARATORS_RE = re.compile(r"[\[\]【】()（）|/·•\s:：]+")
_CREDIT_RE = re.compile(
    r"(责任编辑|责编|编辑|审核|审校|校对|监制|editors?|edited by)\s*[:：]|^\(?edited by\b", re.I
)
_INLINE_CREDIT_RE = re.compile(
    r"[(（【\[][^()（）【】\[\]]{0,60}?(责任编辑|责编|编辑|审核)\s*[:：/][^()（）【】\[\]]{0,80}[)）】\]]\s*$"
)
_TAGS_RE = re.compile(r"^(tags?|标签)\s*[:：]", re.I)
_PAGER_RE = re.compile(r"^(PREV|NEXT)\b|^(上一篇|下一篇|上一条|下一条)|^(previous|next) (article|post|story)\s*[:：]")
_RELATED_RE = re.compile(
    r"相关阅读|相关新闻|相关文章|相关报道|相关链接|相关推荐|推荐阅读|延伸阅读|热门推荐|热门文章|"
    r"热点新闻|热门新闻|猜你喜欢|精彩推荐|更多新闻|排行榜|.{0,8}(点击|阅读|浏览|热门|人气)量?(排行榜|排行|排名)|"
    r"related(news|articles|stories|posts|content|reading)?|recommended(foryou)?|"
    r"youmayalsolike|morestories|mostread|readmore",
    re.I,
)
_MAX_LEN = {"share": 40, "icp": 200, "copyright": 200, "nav": 120, "credit": 80, "ui": 40, "related": 20}
# Kinds of furniture that, once the article body has begun, start a sidebar of unrelated items.
_SIDEBAR_STARTERS = frozenset(("related", "share"))


@dataclass
class CleanedText:
    """Cleaned text plus the lines taken out, as (kind, line), e.g. ("credit", "责任编辑：X")."""

    text: str
    removed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def credits(self) -> list[str]:
        """Editor/reviewer credit lines that were removed from the text."""
        return [line for kind, line in self.removed if kind == "credit"]


def clean_text(text: str) -> str:
    """Cleaned text: tidy whitespace, no pinyin artefacts, no page furniture, no sidebars."""
    return clean_text_with_log(text).text


def clean_text_with_log(text: str) -> CleanedText:
    """`clean_text`, also reporting every line it removed and why."""
    text = _normalise_whitespace(text)
    text = strip_pinyin_annotations(text)
    lines = [line.strip() for line in text.split("\n")]
    removed: list[tuple[str, str]] = []
    lines = _drop_furniture_lines(lines, removed)
    lines = _drop_repeated_lines(lines, removed)
    joined = "\n".join(lines)
    joined = re.sub(r"\n{3,}", "\n\n", joined).strip()
    return CleanedText(joined, removed)


def _normalise_whitespace(text: str) -> str:
    """Unix newlines, no zero-width characters or BOMs, no-break spaces as spaces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n\n").replace("\f", "\n\n")
    text = re.sub("[\u200b\u200c\u200d\u2060\ufeff]", "", text)
    text = text.replace("\xa0", " ")
    # Trailing spaces and tabs go; leading ones are handled per line by the caller.
    return re.sub(r"[ \t\u3000]+\n", "\n", text)


def strip_pinyin_annotations(text: str) -> str:
    """'區(qū)' -> '區', '關(guān)注' -> '關注'; real parentheticals like '(BIT)' stay."""
    return _PINYIN_ANNOTATION_RE.sub(_drop_if_pinyin, text)


def _drop_if_pinyin(match: re.Match[str]) -> str:
    """Replacement for one candidate: "" if it holds exactly one toned pinyin syllable."""
    if is_toned_pinyin_syllable(match.group(1)):
        return ""
    return match.group(0)


def is_toned_pinyin_syllable(word: str) -> bool:
    """True for one pinyin syllable with exactly one tone mark ('guān', 'xué'; not 'café')."""
    tone_marks = sum(1 for char in word if char in _TONE_MARKS)
    if tone_marks != 1:
        return False
    # NFD splits "ǜ" into "u" plus combining marks; dropping the marks leaves plain letters.
    base = unicodedata.normalize("NFD", word.lower())
    base = "".join(char for char in base if not unicodedata.combining(char))
    return _PINYIN_SYLLABLE_RE.fullmatch(base) is not None


def boilerplate_kind(line: str) -> str | None:
    """Why a whole (stripped) line is page furniture: 'share', 'icp', 'credit', ...; None for content."""
    if not line:
        return None
    simple = simplified(line)
    compact = _UI_SEPARATORS_RE.sub("", simple)
    checks = (
        ("share", _SHARE_RE.search(simple)),
        ("icp", _ICP_RE.search(simple)),
        ("copyright", _COPYRIGHT_RE.search(simple)),
        ("nav", _NAV_RE.search(simple)),
        ("reading", _READING_RE.search(simple)),
        ("credit", _is_credit_line(simple)),
        ("ui", compact and _UI_RE.fullmatch(compact)),
        ("related", compact and _RELATED_RE.fullmatch(compact)),
        ("tags", _TAGS_RE.search(simple)),
        ("pager", _PAGER_RE.search(line)),
        ("label", _SLASH_LABEL_RE.match(line) or line.lower() in _KNOWN_LABELS),
    )
    for kind, matched in checks:
        if matched and len(line) <= _MAX_LEN.get(kind, 1000):
            return kind
    return None


def _is_credit_line(simple: str) -> bool:
    """An editor/reviewer credit with no sentence before it (those are cut by _strip_inline_credit)."""
    match = _CREDIT_RE.search(simple)
    return match is not None and not _SENTENCE_END_RE.search(simple[: match.start()])


def _drop_furniture_lines(lines: list[str], removed: list[tuple[str, str]]) -> list[str]:
    """Remove furniture lines, and the sidebar list that follows a marker once the body began."""
    following = _next_nonblank_lines(lines)
    kept: list[str] = []
    body_started = False
    in_sidebar = False
    for line, next_line in zip(lines, following):
        if in_sidebar and _is_sidebar_item(line, next_line):
            if line:
                removed.append(("sidebar", line))
            continue
        in_sidebar = False
        kind = boilerplate_kind(line)
        if kind:
            removed.append((kind, line))
            # Before the body, "相关新闻" or share buttons are just a line of site chrome;
            # after it, they head a list of unrelated headlines.
            in_sidebar = body_started and kind in _SIDEBAR_STARTERS
            continue
        line = _strip_inline_credit(line, removed)
        kept.append(line)
        if is_prose(line):
            body_started = True
    return kept


def _next_nonblank_lines(lines: list[str]) -> list[str]:
    """For each line, the next non-blank line after it ("" at the end)."""
    following = [""] * len(lines)
    upcoming = ""
    for index in range(len(lines) - 1, -1, -1):
        following[index] = upcoming
        if lines[index]:
            upcoming = lines[index]
    return following


def _is_sidebar_item(line: str, next_line: str) -> bool:
    """Inside a sidebar: blanks, headlines, bullets, counters, timestamps and dated teasers."""
    if not line or line.isdigit() or TIMESTAMP_LINE_RE.fullmatch(line):
        return True
    if boilerplate_kind(line):
        return True
    # A teaser, however sentence-like, is followed by its publication time.
    if TIMESTAMP_LINE_RE.fullmatch(next_line):
        return True
    if line[0] in _BULLETS and len(line) <= 100:
        return True
    return not is_prose(line)


def is_prose(line: str) -> bool:
    """A line punctuated like running text (not a headline, label or link)."""
    if len(line) >= 200:
        return True
    return len(line) >= _MIN_PROSE_CHARS and _SENTENCE_END_RE.search(line) is not None


def _strip_inline_credit(line: str, removed: list[tuple[str, str]]) -> str:
    """Cut a trailing '(供稿/编辑:X 审核:Y)' credit off the end of a content paragraph."""
    simple = simplified(line)
    match = _INLINE_CREDIT_RE.search(simple)
    # Offsets from the simplified copy are only valid when conversion kept the length.
    if not match or len(simple) != len(line):
        return line
    removed.append(("credit", line[match.start():].strip()))
    return line[: match.start()].rstrip()


def _drop_repeated_lines(lines: list[str], removed: list[tuple[str, str]]) -> list[str]:
    """Drop a line identical to the previous non-blank line (scraped titles often repeat)."""
    kept: list[str] = []
    previous = ""
    for line in lines:
        if line and line == previous:
            removed.append(("duplicate", line))
            continue
        kept.append(line)
        if line:
            previous = line
    return kept


@lru_cache(maxsize=1)
def _t2s_converter() -> opencc.OpenCC:
    """The OpenCC traditional->simplified converter, built once."""
    return opencc.OpenCC("t2s")


@lru_cache(maxsize=8192)
def simplified(line: str) -> str:
    """The line in simplified Chinese, for pattern matching only (text itself is never converted)."""
    return _t2s_converter().convert(line)
