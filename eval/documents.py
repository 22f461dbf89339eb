"""Documents built with real tools, for the PDF/OCR benchmark (eval/pdf_bench.py) and tests.

Text PDFs are printed by Debian's Chromium (fonts-noto-cjk), exactly as a user's "Save as
PDF" makes them: their CJK text layer holds radical code points (⻘ for 青, ⾯ for 面).
Scans are those pages rasterised by PDFium and put back into a PDF as bare images; a photo
is a rendered page turned slightly, blurred and saved as a JPEG.
"""
from __future__ import annotations

import html as html_module
import struct
import subprocess
import zlib
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_PDF_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-pdf-header-footer",
]

PAGE_CSS = """
@page { size: A4; margin: 18mm; }
body { font-family: "Noto Serif CJK SC", "Noto Sans CJK SC", serif; font-size: 13pt; line-height: 1.6; }
.page { page-break-after: always; }
.running { font-size: 8pt; color: #444; border-bottom: 1px solid #999; margin-bottom: 8mm; }
.cols { column-count: 2; column-gap: 10mm; text-align: justify; font-size: 10.5pt; }
"""


def pages_html(pages: list[tuple[str, str]], running_title: str = "") -> str:
    """A page per (heading, paragraph), each under an optional running title (text is escaped)."""
    pages = [(html_module.escape(heading), html_module.escape(text)) for heading, text in pages]
    running_title = html_module.escape(running_title)
    body = "".join(
        f'<div class="page"><div class="running">{running_title}</div><h2>{heading}</h2><p>{text}</p></div>'
        if running_title else f'<div class="page"><h2>{heading}</h2><p>{text}</p></div>'
        for heading, text in pages
    )
    return f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><style>{PAGE_CSS}</style></head><body>{body}</body></html>'


def chromium_pdf(html: str, out: Path) -> Path:
    """Print HTML to PDF with Chromium, as a user's "Save as PDF" does."""
    out = Path(out).resolve()
    source = out.with_suffix(".html")
    source.write_text(html, encoding="utf-8")
    subprocess.run(
        [CHROMIUM, *CHROMIUM_PDF_ARGS, f"--print-to-pdf={out}", source.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    source.unlink()
    assert out.exists() and out.stat().st_size > 1000, "Chromium printed no PDF"
    return out


def render_pages(pdf: Path, dpi: int = 150) -> list:
    """Every page of a PDF as a PIL image, rasterised by PDFium."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(pdf))
    try:
        return [page.render(scale=dpi / 72).to_pil().convert("RGB") for page in document]
    finally:
        document.close()


def image_only_pdf(pdf: Path, out: Path, dpi: int = 150) -> Path:
    """The PDF's pages as bare images in a new PDF: a scan, with no text layer at all."""
    images = render_pages(pdf, dpi)
    images[0].save(out, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return out


def photo_of_page(pdf: Path, out: Path) -> Path:
    """The PDF's first page as a phone photo would give it: turned a little, soft, JPEG."""
    from PIL import ImageFilter

    page = render_pages(pdf, dpi=130)[0]
    photo = page.rotate(1.5, expand=True, fillcolor=(235, 232, 225)).filter(ImageFilter.GaussianBlur(0.6))
    photo.save(out, "JPEG", quality=80)
    return out


def encrypted_pdf(pdf: Path, out: Path, user_password: str = "secret") -> Path:
    """A copy that needs a password to open (user_password="" gives an owner-only lock)."""
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=str(pdf))
    writer.encrypt(user_password=user_password, owner_password="owner")
    with open(out, "wb") as handle:
        writer.write(handle)
    return out


def blank_pdf(out: Path, pages: int) -> Path:
    """A PDF of blank pages (0 pages is a valid, page-less file)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(612, 792)
    with open(out, "wb") as handle:
        writer.write(handle)
    return out


def image_bomb_png(out: Path, side: int = 40_000) -> Path:
    """A tiny PNG whose header declares side x side pixels (1.6 G pixels for 40,000)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    pixels = zlib.compress(b"\x00" * (side + 1) * 4)  # a few rows; decoding would need them all
    out.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return out
