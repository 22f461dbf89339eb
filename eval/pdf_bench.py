"""PDF and OCR speed and accuracy on pages rendered from known text.

    /work/heavy --all .venv/bin/python -m eval.pdf_bench [--ocr-pages 4] [--folder-pages 200]

Known text: the seeds' cleaned Chinese text and the READMEs' English prose, cut into
pages. Chromium prints them to PDF (text PDFs); PDFium rasterises those at 150 dpi into
image-only PDFs (scans). Measured:

- text PDF pages/s: `load_document` on a printed PDF (PDFium, layout, normalising, cleaning);
- layout: two-column pages under a running title with page numbers: how many paragraphs
  come out whole (on one line), in order, and how many running lines are left;
- OCR pages/s and character accuracy, Chinese and English: `load_document` on the scans,
  each page's text compared with the text it was printed from (1 - edit distance / length,
  whitespace ignored; "letters only" also ignores punctuation, which OCR often gives in the
  other width: "," for "，");
- ingest of a mixed folder (~200 pages: text PDFs, scans, photos) with the real embedding
  model: pages/s, files/s and chunks/s of `Assistant.ingest`.
"""
from __future__ import annotations

import argparse
import html
import json
import re
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

from rag import Assistant
from rag.ingest import load_document

from .documents import chromium_pdf, image_only_pdf, pages_html, photo_of_page

ROOT = Path(__file__).resolve().parent.parent
ZH_PAGE_CHARS = 420  # of Chinese per printed page (13 pt, A4: well inside one page)
EN_PAGE_CHARS = 1100
ENGLISH_SOURCES = ("README.md", "eval/README.md", "eval/README_questions.md")


def known_pages() -> tuple[list[str], list[str]]:
    """(Chinese pages, English pages) of known text."""
    docs = [load_document(path, ROOT / "seeds") for path in sorted((ROOT / "seeds").glob("*.txt"))]
    zh = " ".join(" ".join(doc.text.split()) for doc in docs if doc.lang == "zh")
    en = " ".join(_english_prose(ROOT / name) for name in ENGLISH_SOURCES)
    return _cut(zh, ZH_PAGE_CHARS), _cut(en, EN_PAGE_CHARS)


def _english_prose(path: Path) -> str:
    """A markdown file's prose paragraphs and list items, without code, tables or markup."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    blocks = [re.sub(r"^- ", "", " ".join(block.split())) for block in re.split(r"\n\s*\n|\n(?=- )", text)]
    prose = [block for block in blocks if len(block) > 150 and not re.match(r"[|#<]", block) and "|" not in block]
    return re.sub(r"[`*_\[\]()#]", "", " ".join(prose))


def _cut(text: str, size: int) -> list[str]:
    """Pages of about `size` characters, cut after a sentence end (or a space)."""
    pages = []
    while len(text) > size // 2:
        cut = max(text.rfind(mark, size // 2, size) for mark in ("。", ". ", " "))
        cut = cut + 1 if cut > 0 else size
        pages.append(text[:cut].strip())
        text = text[cut:]
    return pages


def char_accuracy(found: str, truth: str, letters_only: bool = False) -> float:
    """1 - edit distance / len(truth), whitespace (and with letters_only, punctuation) ignored."""
    found, truth = _comparable(found, letters_only), _comparable(truth, letters_only)
    return max(0.0, 1 - _edit_distance(found, truth) / max(len(truth), 1))


def _comparable(text: str, letters_only: bool) -> str:
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    if letters_only:
        text = "".join(char for char in text if unicodedata.category(char)[0] in "LN")
    return text


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def page_texts(doc) -> list[str]:
    """A loaded document's text, page by page."""
    starts = [page.start for page in doc.pages] + [len(doc.text)]
    return [doc.text[starts[i]:starts[i + 1]] for i in range(len(doc.pages))]


def text_pdf_speed(work: Path, zh: list[str], en: list[str], repeat: int = 3) -> dict:
    pages = [(f"第{i + 1}页", text) for i, text in enumerate(zh)] + [(f"Page {i + 1}", text) for i, text in enumerate(en)]
    pdf = chromium_pdf(pages_html(pages), work / "text.pdf")
    began = time.perf_counter()
    for _ in range(repeat):
        doc = load_document(pdf, work)
    seconds = (time.perf_counter() - began) / repeat
    return {"pages": len(doc.pages), "seconds": round(seconds, 3), "pages_per_s": round(len(doc.pages) / seconds, 1)}


def layout_check(work: Path, name: str, paragraphs: list[str], per_page: int = 6) -> dict:
    """Two-column pages with a running title and page numbers: are the paragraphs read
    whole, in order, and is the furniture gone?"""
    from .documents import PAGE_CSS

    running = "Quarterly Review of Operations" if name == "en" else "运行情况季度报告"
    pages = [paragraphs[i:i + per_page] for i in range(0, len(paragraphs), per_page)]
    body = "".join(
        f'<div class="page"><div class="running">{running}</div><div class="cols">'
        + "".join(f"<p>{html.escape(text)}</p>" for text in page)
        + f'</div><p style="text-align:center;font-size:8pt">- {number} -</p></div>'
        for number, page in enumerate(pages, start=1)
    )
    source = f"<!doctype html><html><head><meta charset=utf-8><style>{PAGE_CSS}</style></head><body>{body}</body></html>"
    doc = load_document(chromium_pdf(source, work / f"layout-{name}.pdf"), work)
    lines = doc.text.split("\n")
    bare = "".join(doc.text.split())  # whitespace aside: a hanzi's neighbours have none
    found = [bare.find("".join(text.split())) for text in paragraphs]
    bare_lines = ["".join(line.split()) for line in lines]
    whole = sum(1 for text in paragraphs if any("".join(text.split()) in line for line in bare_lines))
    ordered = [position for position in found if position >= 0]
    return {
        "pages": len(pages),
        "paragraphs": len(paragraphs),
        "found": sum(1 for position in found if position >= 0),
        "one_line_each": whole,
        "in_order": ordered == sorted(ordered),
        "running_titles_left": doc.text.count(running),
        "page_numbers_left": sum(1 for line in lines if re.fullmatch(r"-\s*\d+\s*-", line.strip())),
    }


def ocr_accuracy(work: Path, name: str, pages: list[str]) -> dict:
    """OCR of a scan of these pages: speed and character accuracy."""
    source = chromium_pdf(pages_html([("", text) for text in pages]), work / f"{name}-source.pdf")
    scan = image_only_pdf(source, work / f"{name}-scan.pdf", dpi=150)
    began = time.perf_counter()
    doc = load_document(scan, work)
    seconds = time.perf_counter() - began
    texts = page_texts(doc)
    return {
        "pages": len(pages),
        "seconds": round(seconds, 2),
        "pages_per_s": round(len(pages) / seconds, 3),
        "char_accuracy": round(sum(char_accuracy(t, p) for t, p in zip(texts, pages)) / len(pages), 4),
        "letter_accuracy": round(sum(char_accuracy(t, p, True) for t, p in zip(texts, pages)) / len(pages), 4),
    }


def mixed_folder(work: Path, zh: list[str], en: list[str], total_pages: int) -> tuple[Path, dict]:
    """~total_pages pages: 85% in text PDFs of 20 pages, 10% in scans of 5, 5% as photos."""
    folder = work / "mixed"
    folder.mkdir()
    texts = zh + en
    pick = iter(texts * (total_pages // len(texts) + 2))
    counts = {"text_pdf_pages": 0, "scan_pages": 0, "photos": 0}
    n = 0
    while counts["text_pdf_pages"] < total_pages * 0.85:
        pages = [(f"{n}-{i}", next(pick)) for i in range(20)]
        chromium_pdf(pages_html(pages), folder / f"report-{n}.pdf")
        counts["text_pdf_pages"] += len(pages)
        n += 1
    while counts["scan_pages"] < total_pages * 0.10:
        source = chromium_pdf(pages_html([(f"{n}-{i}", next(pick)) for i in range(5)]), work / f"scan-{n}.pdf")
        image_only_pdf(source, folder / f"scan-{n}.pdf")
        counts["scan_pages"] += 5
        n += 1
    while counts["photos"] < total_pages * 0.05:
        source = chromium_pdf(pages_html([(f"{n}", next(pick))]), work / f"photo-{n}.pdf")
        photo_of_page(source, folder / f"photo-{n}.jpg")
        counts["photos"] += 1
        n += 1
    return folder, counts


def ingest_rate(work: Path, folder: Path, counts: dict) -> dict:
    assistant = Assistant(folder, work / "index")
    assistant.embedder.model  # load the model before timing
    began = time.perf_counter()
    report = assistant.ingest()
    seconds = time.perf_counter() - began
    pages = sum(counts.values())
    files = len(report.added)
    return {
        **counts, "pages": pages, "files": files, "skipped": report.skipped, "chunks": report.chunks,
        "seconds": round(seconds, 1), "pages_per_s": round(pages / seconds, 2),
        "files_per_s": round(files / seconds, 2), "chunks_per_s": round(report.chunks / seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ocr-pages", type=int, default=4, help="scanned pages per language")
    parser.add_argument("--folder-pages", type=int, default=200, help="pages in the mixed folder (0: skip)")
    args = parser.parse_args(argv)
    zh, en = known_pages()
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="pdf-bench-") as tmp:
        work = Path(tmp)
        results["text_pdf"] = text_pdf_speed(work, zh[:30], en[:10])
        results["layout_zh"] = layout_check(work, "zh", _cut(" ".join(zh), 200)[:18])
        results["layout_en"] = layout_check(work, "en", _cut(" ".join(en), 400)[:12])
        results["ocr_zh"] = ocr_accuracy(work, "zh", zh[: args.ocr_pages])
        results["ocr_en"] = ocr_accuracy(work, "en", en[: args.ocr_pages])
        if args.folder_pages:
            folder, counts = mixed_folder(work, zh, en, args.folder_pages)
            results["mixed_folder"] = ingest_rate(work, folder, counts)
    json.dump(results, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
