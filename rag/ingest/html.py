"""HTML pages: visible text with paragraph breaks, minus navigation and other furniture."""
from __future__ import annotations

import re

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

from .decode import decode_text
from .meta import normalise_date, tidy_title
from .parsed import ParsedFile

_HTML_TAG_RE = re.compile(
    r"<(p|div|br|span|table|h[1-6]|ul|ol|li|article|section|html|body|img)\b[^>]*>", re.I
)
_DROP_TAGS = (
    "head", "title", "script", "style", "noscript", "template", "nav", "header", "footer", "aside",
    "form", "iframe", "button", "select", "textarea", "svg", "canvas", "object", "embed",
)
_BLOCK_TAGS = frozenset(
    "p div section article main h1 h2 h3 h4 h5 h6 ul ol li dl dt dd table thead tbody tfoot tr "
    "blockquote pre figure figcaption address hr center details summary caption".split()
)
_CELL_TAGS = frozenset(("td", "th"))
_NEVER_DROP = frozenset(("html", "body", "main", "article"))
# Matched against class and id, lower-cased, with camelCase split ("appendQr" -> "append-qr").
# Short tokens need boundaries so that e.g. "canvas" or "menuitem-text" don't match.
_FURNITURE_ATTR_RE = re.compile(
    r"share|fenxiang|qrcode|erweima|(?<![a-z])qr(?![a-z])|related|recommend|crumb|sidebar|"
    r"side-bar|footer|copyright|comment(?!ary)|(?<![a-z])nav(?![a-z])|(?<![a-z])menu(?![a-z])"
)
# A class match on an element holding most of the page is a wrapper ("has-sidebar"), not furniture.
_MAX_FURNITURE_SHARE = 0.5
_DATE_META_NAMES = (
    "article:published_time", "og:published_time", "datepublished", "pubdate", "publishdate",
    "publish_date", "publication_date", "date", "dc.date", "dc.date.issued", "dcterms.date",
    "dcterms.created", "sailthru.date", "parsely-pub-date",
)


def read_html(raw: bytes, source: str) -> ParsedFile:
    """An .html file, decoded with the charset its <meta> tag declares when that fits."""
    return parse_html(decode_text(raw, source, declared=_declared_html_charset(raw)))


def looks_like_html(text: str) -> bool:
    """True for a body that is markup (starts with a tag and has several), not prose with a tag."""
    stripped = text.lstrip()
    return stripped.startswith("<") and len(_HTML_TAG_RE.findall(stripped[:20000])) >= 2


def parse_html(html: str) -> ParsedFile:
    """Text with paragraph breaks and metadata (title, date, url) from an HTML page."""
    soup = BeautifulSoup(html, "lxml")
    title, date, url = _html_metadata(soup)
    _drop_furniture_elements(soup)
    return ParsedFile(html_to_text(soup), title, date, url)


def html_to_text(soup: BeautifulSoup | Tag) -> str:
    """Visible text of a (cleaned) soup, one paragraph per block element."""
    parts: list[str] = []
    try:
        _collect_text(soup, parts, preformatted=False)
    except RecursionError:
        # Pathologically nested markup: give up on structure, keep the words.
        parts = [soup.get_text("\n")]
    lines = [line.strip() for line in "".join(parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _collect_text(node: Tag, parts: list[str], preformatted: bool) -> None:
    """Append node's text to parts, with blank lines around blocks and newlines for <br>."""
    for child in node.children:
        if isinstance(child, (Comment, Declaration, Doctype, ProcessingInstruction)):
            continue
        if isinstance(child, NavigableString):
            text = str(child)
            if not preformatted:
                # Source line breaks inside a paragraph are layout, not content.
                text = re.sub(r"[ \t\r\n\f\v]+", " ", text)
            parts.append(text)
            continue
        if not isinstance(child, Tag):
            continue
        if child.name == "br":
            parts.append("\n")
            continue
        is_block = child.name in _BLOCK_TAGS
        if is_block:
            parts.append("\n\n")
        if child.name in _CELL_TAGS:
            parts.append(" ")
        _collect_text(child, parts, preformatted or child.name == "pre")
        if is_block:
            parts.append("\n\n")


def _html_metadata(soup: BeautifulSoup) -> tuple[str, str, str]:
    """(title, date, url) from meta tags, <title>, <h1>, <time> and the canonical link."""
    title = _meta_content(soup, ("og:title", "twitter:title"))
    if not title and soup.title and soup.title.string:
        title = _strip_site_suffix(soup.title.string)
    if not title:
        heading = soup.find("h1")
        if heading:
            title = heading.get_text(" ", strip=True)
    date = _meta_content(soup, _DATE_META_NAMES)
    if not date:
        time_tag = soup.find("time", attrs={"datetime": True})
        if time_tag:
            date = str(time_tag["datetime"])
    url = ""
    canonical = soup.find("link", rel="canonical", href=True)
    if canonical:
        url = str(canonical["href"])
    url = url or _meta_content(soup, ("og:url",))
    if date:
        date = normalise_date(date)
    return tidy_title(title), date, url.strip()


def _meta_content(soup: BeautifulSoup, names: tuple[str, ...]) -> str:
    """Content of the first <meta> whose property/name/itemprop is in names (in names' order)."""
    found: dict[str, str] = {}
    for meta in soup.find_all("meta"):
        content = meta.get("content")
        if not content:
            continue
        for attr in ("property", "name", "itemprop"):
            key = str(meta.get(attr, "")).lower()
            if key in names and key not in found:
                found[key] = str(content).strip()
    for name in names:
        if found.get(name):
            return found[name]
    return ""


def _strip_site_suffix(title: str) -> str:
    """'Headline - Site' / 'Headline_Site' / 'Headline | Site' -> 'Headline'."""
    title = title.strip()
    parts = re.split(r"\s*[|_]\s*|\s+[-–—]\s+", title)
    if len(parts) > 1 and len(parts[0]) >= 4:
        return parts[0]
    return title


def _drop_furniture_elements(soup: BeautifulSoup) -> None:
    """Remove scripts, navigation, share/QR/related/comment blocks and the like, in place."""
    for tag in soup.find_all(list(_DROP_TAGS)):
        if _decomposed(tag):
            continue
        # An <article>'s own <header> holds its headline and byline, not site navigation.
        if tag.name == "header" and tag.find_parent("article"):
            continue
        tag.decompose()
    total = max(len(soup.get_text()), 1)
    for tag in soup.find_all(True):
        if _decomposed(tag) or tag.name in _NEVER_DROP:
            continue
        if not _FURNITURE_ATTR_RE.search(_class_and_id(tag)):
            continue
        if len(tag.get_text()) > _MAX_FURNITURE_SHARE * total:
            continue
        tag.decompose()


def _decomposed(tag: Tag) -> bool:
    """`tag.decomposed` without its cost: on a live tag, bs4 looks up the missing
    `_decomposed` attribute through Tag.__getattr__, i.e. searches the whole subtree for a
    tag of that name, which made deeply nested pages quadratic (5000 nested divs: 11 s)."""
    return bool(vars(tag).get("_decomposed", False))


def _class_and_id(tag: Tag) -> str:
    """class and id attributes as one lower-case string, camelCase split with '-'."""
    classes = tag.get("class") or []
    if isinstance(classes, str):
        classes = [classes]
    value = " ".join([*classes, str(tag.get("id") or "")])
    value = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", value)
    return value.lower()


def _declared_html_charset(raw: bytes) -> str:
    """The charset named in an HTML <meta> tag, or ""."""
    match = re.search(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", raw[:8192], re.I)
    if not match:
        return ""
    return match.group(1).decode("ascii", "ignore")
