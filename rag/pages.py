"""Showing a cited page: a PDF page (or an image) rendered, with the quote's boxes marked.

A quote is found on the page by its characters, whitespace and hyphens aside, so lines
joined or words rejoined by ingest still match what the page draws. On a page with a text
layer the boxes are the glyphs'; on a scanned page or a photo, the OCR lines'.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import IngestError
from .ingest.image import IMAGE_SUFFIXES, open_image
from .ingest.normalise import normalise_glyphs

Box = tuple[float, float, float, float]  # left, top, right, bottom in the image's pixels

# Pages are shown this many pixels on their long side (scans: at their OCR size).
VIEW_LONG_SIDE_PX = 1600
# A quote not found whole (it runs onto the next page) is marked by its longest start on
# this page, when that is at least half of it and this long: a few characters would also
# match a name repeated elsewhere on the page.
_MIN_MATCH_CHARS = 8
_IGNORED_RE = re.compile(r"[\s\-\u00ad]+")
_HIGHLIGHT = (255, 214, 10, 110)


@dataclass
class PageView:
    """A rendered page with the quote marked, and the boxes that were marked."""

    image: object  # PIL.Image.Image
    boxes: list[Box]


def show_page(path: Path, page: int | None, quote: str) -> PageView:
    """The page (1-based; None for an image file) rendered, `quote` highlighted where found."""
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = open_image(raw, path.name).convert("RGB")
        return _marked(image, _ocr_boxes(image, quote))
    if path.suffix.lower() != ".pdf":
        raise IngestError(f"{path.name}: only PDF pages and images can be shown as pages")
    if page is None:
        raise IngestError(f"{path.name}: which page? (a PDF citation carries one)")
    image, glyph_boxes = _render_pdf_page(raw, page, path.name)
    if glyph_boxes:
        return _marked(image, _boxes_of(glyph_boxes, quote))
    return _marked(image, _ocr_boxes(image, quote))  # a scanned page


def _render_pdf_page(raw: bytes, page: int, name: str) -> tuple[object, list[tuple[str, Box]]]:
    """The page image at the view (or, for a scan, the OCR) size, and its glyphs' boxes in it."""
    import pypdfium2.raw as pdfium_c

    from .ingest.ocr import check_image_size, render_scale
    from .ingest.pdf import PDFIUM_LOCK, open_pdf, page_glyphs

    with PDFIUM_LOCK:
        document = open_pdf(raw, name)
        try:
            if not 1 <= page <= len(document):
                raise IngestError(f"{name}: has no page {page}")
            pdf_page = document[page - 1]
            textpage = pdf_page.get_textpage()
            glyphs = [g for g in page_glyphs(textpage, pdfium_c) if g.char != "\n" and g.right > g.left]
            textpage.close()
            width, height = pdf_page.get_size()
            scale = VIEW_LONG_SIDE_PX / max(width, height, 1.0) if glyphs else render_scale(width, height)
            check_image_size(round(width * scale), round(height * scale), f"{name}: page {page}")
            image = pdf_page.render(scale=scale).to_pil().convert("RGB")
            pdf_page.close()
        finally:
            document.close()
    boxes = [(g.char, (g.left * scale, (height - g.top) * scale, g.right * scale, (height - g.bottom) * scale)) for g in glyphs]
    return image, boxes


def _ocr_boxes(image, quote: str) -> list[Box]:
    """Boxes of the OCR lines that hold the quote."""
    from .ingest.ocr import ocr_lines

    chars = [(char, (line.left, line.top, line.right, line.bottom)) for line in ocr_lines(image) for char in line.text]
    return _boxes_of(chars, quote)


def _boxes_of(chars: list[tuple[str, Box]], quote: str) -> list[Box]:
    """The boxes of the characters that spell the quote (or its longest start), merged per line."""
    keyed: list[tuple[str, Box]] = []
    for char, box in chars:
        for mapped in _IGNORED_RE.sub("", normalise_glyphs(char)):
            keyed.append((mapped, box))
    text = "".join(char for char, _ in keyed)
    wanted = _IGNORED_RE.sub("", normalise_glyphs(quote))
    start, length = _find(text, wanted)
    if length == 0:
        return []
    return _merge_lines([box for _, box in keyed[start:start + length]])


def _find(text: str, wanted: str) -> tuple[int, int]:
    """(start, length) of `wanted` in `text`, else of its longest start found (binary search),
    else (0, 0)."""
    found = text.find(wanted)
    if found >= 0:
        return found, len(wanted)
    low, high = max(_MIN_MATCH_CHARS, len(wanted) // 2), len(wanted) - 1
    best = (0, 0)
    while low <= high:
        middle = (low + high) // 2
        found = text.find(wanted[:middle])
        if found >= 0:
            best, low = (found, middle), middle + 1
        else:
            high = middle - 1
    return best


def _merge_lines(boxes: list[Box]) -> list[Box]:
    """Consecutive boxes on one line merged into one box."""
    merged: list[list[float]] = []
    for left, top, right, bottom in boxes:
        if merged:
            last = merged[-1]
            middle = (top + bottom) / 2
            if last[1] <= middle <= last[3] and left >= last[0] - 1:
                last[0], last[1] = min(last[0], left), min(last[1], top)
                last[2], last[3] = max(last[2], right), max(last[3], bottom)
                continue
        merged.append([left, top, right, bottom])
    return [tuple(box) for box in merged]


def _marked(image, boxes: list[Box]) -> PageView:
    """The image with a translucent highlight over each box."""
    from PIL import Image, ImageDraw

    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for left, top, right, bottom in boxes:
        draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=_HIGHLIGHT, outline=(230, 160, 0, 255), width=2)
    marked = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
    return PageView(marked, boxes)
