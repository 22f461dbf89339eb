"""HTML for answers and source cards.

Documents are data: every string that comes from a document (titles, quotes, passages,
file names, dates) goes through `html.escape` before it is put into HTML, so no markup or
script from a document can run in the browser. Answer text for the Chatbot is also
Markdown-escaped, so a document cannot inject links, images or formatting either.
"""
from __future__ import annotations

import html
import re
from typing import Callable, Sequence

ABSTAIN_TEXT = "The documents do not say / 文档中没有找到答案"
CONTEXT_CHARS = 200  # of surrounding text on each side of a quote in a card
FULL_DOC_CHARS = 60_000  # a larger document is shown as a window around the quote
# Sources whose citations can be shown as a page (rag.ingest's image formats, and PDFs).
PAGE_VIEW_SUFFIXES = (".pdf", ".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")

# < > & are left to html.escape: a backslash before an entity would show it raw.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$=:])")


def esc(value) -> str:
    """HTML-escape anything (None becomes "")."""
    return html.escape("" if value is None else str(value), quote=True)


def md_escape(text: str) -> str:
    """Text that Markdown shows literally and that carries no HTML."""
    return html.escape(_MD_SPECIAL.sub(r"\\\1", text), quote=False)


def cite_anchor_id(turn: int, n: int) -> str:
    return f"rag-src-{turn}-{n}"


def answer_markdown(text: str, valid_ns: Sequence[int], turn: int) -> str:
    """The answer for the Chatbot: escaped, with each valid [n] a link to its source card."""
    escaped = md_escape(text)
    valid = {int(n) for n in valid_ns}

    def link(m: re.Match) -> str:
        n = int(m.group(1))
        if n not in valid:
            return m.group(0)
        return f'<a class="rag-cite" href="#{cite_anchor_id(turn, n)}" title="source {n}">[{n}]</a>'

    return re.sub(r"\\\[(\d{1,3})\\\]", link, escaped)


def _snap_left(text: str, pos: int) -> int:
    """Move a cut forward to the next space if one is near (so words stay whole)."""
    if pos <= 0:
        return 0
    window = text[pos : pos + 25]
    for i, ch in enumerate(window):
        if ch.isspace():
            return pos + i + 1
    return pos


def _snap_right(text: str, pos: int) -> int:
    if pos >= len(text):
        return len(text)
    window = text[max(pos - 25, 0) : pos]
    for i in range(len(window) - 1, -1, -1):
        if window[i].isspace():
            return pos - (len(window) - i)
    return pos


def locate(citation, text: str | None) -> tuple[int, int] | None:
    """Offsets of the quote in the cleaned text (start/end, or a search if they disagree)."""
    if not text:
        return None
    start, end = int(citation.start), int(citation.end)
    if 0 <= start <= end <= len(text) and text[start:end] == citation.quote:
        return start, end
    found = text.find(citation.quote) if citation.quote else -1
    if found >= 0:
        return found, found + len(citation.quote)
    return None


def passage_html(text: str | None, span: tuple[int, int] | None, quote: str, context: int = CONTEXT_CHARS) -> str:
    """The quote, marked, inside ~`context` chars of its surrounding text."""
    if not text or span is None:
        return f"<mark>{esc(quote)}</mark>"
    start, end = span
    left = _snap_left(text, max(start - context, 0))
    right = _snap_right(text, min(end + context, len(text)))
    left = min(left, start)
    right = max(right, end)
    before = ("…" if left > 0 else "") + _squash(text[left:start])
    after = _squash(text[end:right]) + ("…" if right < len(text) else "")
    return f"{esc(before)}<mark>{esc(_squash(text[start:end]))}</mark>{esc(after)}"


def _squash(text: str) -> str:
    """Runs of whitespace (blank lines between paragraphs) as one space, for snippets."""
    return re.sub(r"\s+", " ", text)


def full_document_html(text: str | None, span: tuple[int, int] | None, mark_id: str) -> str:
    """The whole cleaned document (or a large window of it) with the quote marked."""
    if not text:
        return '<p class="rag-muted">The document text is not available (it may have been removed).</p>'
    if span is None:
        shown = text[:FULL_DOC_CHARS]
        more = "…" if len(text) > FULL_DOC_CHARS else ""
        return f'<div class="rag-doc-text">{esc(shown)}{more}</div>'
    start, end = span
    lo, hi = 0, len(text)
    if len(text) > FULL_DOC_CHARS:
        half = FULL_DOC_CHARS // 2
        lo = max(0, start - half)
        hi = min(len(text), end + half)
    head = ("…" if lo > 0 else "") + text[lo:start]
    tail = text[end:hi] + ("…" if hi < len(text) else "")
    return (
        f'<div class="rag-doc-text">{esc(head)}<mark id="{esc(mark_id)}" class="rag-doc-mark">'
        f"{esc(text[start:end])}</mark>{esc(tail)}</div>"
    )


def file_name(source: str) -> str:
    return source.rsplit("/", 1)[-1]


def source_cards_html(citations, document_text: Callable[[str], str | None], turn: int) -> str:
    """One card per citation: title, date, file, and the quote marked in its context.

    Each card is a <details>: clicking it opens the full cleaned document with the quote
    highlighted (no JavaScript needed; the page script only scrolls to the mark).
    """
    if not citations:
        return sources_placeholder("No sources for this answer.")
    texts: dict[str, str | None] = {}
    cards = []
    for c in citations:
        if c.source not in texts:
            try:
                texts[c.source] = document_text(c.source)
            except Exception:  # a removed document must not break the panel
                texts[c.source] = None
        text = texts[c.source]
        span = locate(c, text)
        card_id = cite_anchor_id(turn, c.n)
        meta = " · ".join(esc(x) for x in (c.page_label, c.date, file_name(c.source)) if x)
        cards.append(
            f'<details class="rag-card" id="{card_id}" data-source="{esc(c.source)}">'
            f'<summary><span class="rag-card-head"><span class="rag-n">[{int(c.n)}]</span> '
            f'<span class="rag-title">{esc(c.title or file_name(c.source))}</span></span>'
            f'<span class="rag-meta">{meta}</span>'
            f'<span class="rag-passage">{passage_html(text, span, c.quote)}</span>'
            f'<span class="rag-open">Open document · 打开文档</span>{page_button_html(c)}</summary>'
            f'<div class="rag-doc" data-source="{esc(c.source)}">'
            f"{full_document_html(text, span, card_id + '-mark')}</div>"
            "</details>"
        )
    return f'<div class="rag-cards" data-turn="{turn}">' + "".join(cards) + "</div>"


def page_button_html(citation) -> str:
    """A "View page" button for a citation of a PDF page or an image (see ui/viewer.py)."""
    page = citation.page
    if not citation.source.lower().endswith(PAGE_VIEW_SUFFIXES):
        return ""  # slides and sheets have pages too, but only their text to show
    label = citation.page_label or "image"
    return (
        f'<button type="button" class="rag-page-btn" data-source="{esc(citation.source)}" '
        f'data-page="{esc(page or "")}" data-start="{int(citation.start)}" data-end="{int(citation.end)}">'
        f"View {esc(label)} · 查看原页</button>"
    )


def sources_placeholder(message: str) -> str:
    return f'<div class="rag-cards rag-empty"><p class="rag-muted">{esc(message)}</p></div>'


def document_view_html(source: str, text: str | None) -> str:
    if text is None:
        return sources_placeholder("Select a document to view its cleaned text.")
    return (
        f'<div class="rag-viewer"><div class="rag-meta">{esc(source)} · {len(text):,} characters</div>'
        f"{full_document_html(text, None, '')}</div>"
    )


def upload_results_html(rows: Sequence[tuple[str, str, str]]) -> str:
    """rows: (file name, outcome, detail); outcome in added/unchanged/skipped/rejected/error."""
    if not rows:
        return ""
    body = "".join(
        f'<tr class="rag-outcome-{esc(outcome)}"><td>{esc(name)}</td>'
        f"<td><b>{esc(outcome)}</b></td><td>{esc(detail)}</td></tr>"
        for name, outcome, detail in rows
    )
    return (
        '<table class="rag-results"><thead><tr><th>File</th><th>Result</th><th>Details</th></tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def notice_html(message: str, kind: str = "info") -> str:
    return f'<div class="rag-notice rag-{esc(kind)}">{esc(message)}</div>'


def indexing_progress(live: dict | None) -> str:
    """" · indexed 812 of 2,555 files · 3,400 chunks · 410 tokens/s · about 4 min left", or ""."""
    if not live or not live.get("files_to_index"):
        return ""
    eta = live.get("eta_s")
    left = "" if eta is None else f" · about {eta // 60:.0f} min {eta % 60:.0f} s left" if eta >= 60 else f" · about {eta:.0f} s left"
    return (
        f"  \nIndexed **{live['files_done']:,} of {live['files_to_index']:,} files** · {live['chunks']:,} chunks · "
        f"{live['tokens_per_s']:,} tokens/s{left}. Questions are answered from the files indexed so far. · "
        f"已索引 {live['files_done']:,}/{live['files_to_index']:,} 个文件，可先就已索引的文件提问。"
    )
