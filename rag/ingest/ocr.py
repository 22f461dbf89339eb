"""OCR for scanned PDF pages and photos of pages: RapidOCR (PP-OCRv4 Chinese+English models,
shipped inside the rapidocr-onnxruntime wheel) on onnxruntime, on the CPU.

The engine is loaded on first use and shared; calls are serialised because one call
already uses every core. Its text lines come back with boxes and go through the same
layout as a PDF's text layer (columns, wrapped lines, running heads).
"""
from __future__ import annotations

import threading
from functools import lru_cache

from ..errors import IngestError
from .layout import Line, page_text

# RapidOCR shrinks anything longer than 2,000 px before detection, so pages are rendered
# to that size (A4 at ~170 dpi, never above 300 dpi) and images scaled to it.
OCR_LONG_SIDE_PX = 2000
MAX_RENDER_DPI = 300
# Larger images are refused before they are decoded: a small PNG can declare 40,000 x
# 40,000 pixels (4.8 GB once decoded). A 600-dpi A4 scan is 35 MP, a phone photo ~12 MP.
MAX_IMAGE_PIXELS = 50_000_000
# Recognised lines scoring below this are noise (RapidOCR's own default).
MIN_LINE_SCORE = 0.5
_ENGINE_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _engine():
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        raise IngestError(
            "OCR needs rapidocr-onnxruntime: pip install rapidocr-onnxruntime==1.4.4"
        ) from None
    return RapidOCR()


def ocr_lines(image) -> list[Line]:
    """Text lines of a PIL image, with boxes in its pixels (top-left origin).

    The image is read at OCR_LONG_SIDE_PX on its long side, enlarged if need be: on a
    1,500 px photo of an A4 page the recogniser ran English words together and missed a
    line, at 2,000 px it read them all, with their spaces.
    """
    from PIL import Image

    engine = _engine()
    factor = OCR_LONG_SIDE_PX / max(image.width, image.height, 1)
    sized = image.convert("RGB")
    if abs(factor - 1) > 0.05:
        sized = sized.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.LANCZOS)
    with _ENGINE_LOCK:
        result, _ = engine(sized)
    lines = []
    for box, text, score in result or []:
        if float(score) < MIN_LINE_SCORE or not text.strip():
            continue
        xs = [point[0] / factor for point in box]
        ys = [point[1] / factor for point in box]
        lines.append(Line(text.strip(), min(xs), min(ys), max(xs), max(ys)))
    return lines


def ocr_paragraphs(image) -> list[str]:
    """A PIL image's text as paragraphs in reading order."""
    return page_text(ocr_lines(image), image.width)


def check_image_size(width: int, height: int, what: str) -> None:
    """Refuse an image too large to decode safely (an image bomb), with a one-line reason."""
    if width * height > MAX_IMAGE_PIXELS:
        megapixels = width * height / 1e6
        raise IngestError(
            f"{what} is {width}x{height} pixels ({megapixels:.0f} MP), over the limit of "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} MP; scale it down to index it"
        )


def render_scale(width_pt: float, height_pt: float) -> float:
    """PDFium scale (pixels per point) for OCR of a page of this size."""
    return min(OCR_LONG_SIDE_PX / max(width_pt, height_pt, 1.0), MAX_RENDER_DPI / 72)


def ocr_pdf_pages(raw: bytes, numbers: list[int], source: str) -> dict[int, list[str]]:
    """Paragraphs of the given (1-based) pages of a PDF, rendered and read by OCR, with a
    progress bar on a terminal when there are several."""
    from tqdm.auto import tqdm

    result: dict[int, list[str]] = {}
    bar = tqdm(total=len(numbers), desc=f"OCR {source}", unit="page", leave=False, disable=None if len(numbers) > 1 else True)
    try:
        for number in numbers:
            image = render_pdf_page(raw, number, source)
            result[number] = ocr_paragraphs(image)
            bar.update(1)
    finally:
        bar.close()
    return result


def render_pdf_page(raw: bytes, number: int, source: str, scale: float | None = None):
    """A PIL image of one (1-based) PDF page, at the OCR scale unless `scale` is given."""
    from .pdf import PDFIUM_LOCK, open_pdf

    with PDFIUM_LOCK:
        document = open_pdf(raw, source)
        try:
            page = document[number - 1]
            _check_page_images(page, number, source)
            width, height = page.get_size()
            scale = scale or render_scale(width, height)
            check_image_size(round(width * scale), round(height * scale), f"{source}: page {number} rendered")
            image = page.render(scale=scale).to_pil()
            page.close()
        finally:
            document.close()
    return image


def _check_page_images(page, number: int, source: str) -> None:
    """Refuse a page whose embedded image would take gigabytes to decode."""
    import pypdfium2.raw as pdfium_c

    for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        try:
            width, height = image.get_px_size()
        except Exception:  # an image PDFium cannot measure is left to the renderer
            continue
        check_image_size(width, height, f"{source}: an image on page {number}")
