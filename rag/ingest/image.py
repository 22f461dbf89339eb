"""Images (.png, .jpg, .jpeg, .webp, .tif, .tiff): photos and scans of pages, read by OCR.

One image is one unpaged text; a multi-page TIFF (a fax, a scanner's output) has a page
per frame. Sizes are checked from the header before any pixel is decoded.
"""
from __future__ import annotations

import io
import re
import warnings

from ..errors import IngestError
from .ocr import MAX_IMAGE_PIXELS, check_image_size, ocr_paragraphs
from .parsed import ParsedFile

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
# A multi-page TIFF longer than this is refused (each page costs ~1-2 s of OCR).
MAX_IMAGE_FRAMES = 200


def read_image(raw: bytes, source: str) -> ParsedFile:
    """The text OCR reads in the image (one page per frame of a multi-page TIFF)."""
    frames = [("\n".join(ocr_paragraphs(frame)), number) for number, frame in enumerate(_frames(raw, source), 1)]
    if not any(text.strip() for text, _ in frames):
        raise IngestError(f"{source}: no text found in the image by OCR; is it a picture of a page?")
    if len(frames) == 1:
        return ParsedFile(frames[0][0])
    return ParsedFile("", pages=tuple((f"p. {number}", text) for text, number in frames))


def open_image(raw: bytes, source: str):
    """The image, upright (EXIF rotation applied), checked and decoded; IngestError otherwise."""
    from PIL import ImageOps

    image = _open(raw, source)
    try:
        image.load()
        return ImageOps.exif_transpose(image)
    except (OSError, ValueError) as exc:
        raise IngestError(f"{source}: damaged or truncated image ({exc}); re-save it") from None


def _open(raw: bytes, source: str):
    """The image with its header read and its size checked, not yet decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # the size is checked below, against a lower limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
    except Image.DecompressionBombError as exc:  # Pillow's own cap (178 MP) refused the header
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(declared.group(1)) / 1e6:.0f} MP" if declared else "too large"
        raise IngestError(
            f"{source}: image is {size}, over the limit of {MAX_IMAGE_PIXELS / 1e6:.0f} MP; scale it down to index it"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise IngestError(f"{source}: not a readable image ({type(exc).__name__}); re-save it as PNG or JPEG") from None
    check_image_size(image.width, image.height, f"{source}: image")
    return image


def _frames(raw: bytes, source: str):
    """Each frame of the image, upright and decoded."""
    from PIL import ImageSequence

    first = _open(raw, source)
    count = getattr(first, "n_frames", 1)
    if count > MAX_IMAGE_FRAMES:
        raise IngestError(f"{source}: image has {count} pages, over the limit of {MAX_IMAGE_FRAMES}; split it to index it")
    if count == 1:
        yield open_image(raw, source)
        return
    for frame in ImageSequence.Iterator(first):
        check_image_size(frame.width, frame.height, f"{source}: a page of the image")
        try:
            yield frame.convert("RGB")
        except (OSError, ValueError) as exc:
            raise IngestError(f"{source}: damaged or truncated image ({exc}); re-save it") from None
