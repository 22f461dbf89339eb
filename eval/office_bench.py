"""Office files and the watched folder: how fast tables ingest, how soon a watch picks up a file.

    python -m eval.office_bench [--rows 2000]

Writes a workbook of ROWS 7-column order rows, a 20-slide deck and a Word table of 200 rows
into a fresh folder, ingests it into a fresh index (rows/s, engine tokens/s), then starts
`rag.watch.FolderWatcher` on it and times, three times each, how long a new text file takes
to be answerable and a deleted one to be gone (median). Measure alone: `/work/heavy --all`.
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path

CITIES = ["Oslo", "Lyon", "Porto", "Graz", "Turku", "Cork", "Gent", "Brno"]
PRODUCTS = ["kettle", "lamp", "chair", "desk", "rug", "vase", "clock", "mirror"]


def write_folder(docs: Path, rows: int) -> int:
    """The three files; returns how many table rows and slide lines they hold."""
    import docx
    import openpyxl
    import pptx

    rng = random.Random(7)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Orders"
    ws.append(["Order", "Customer", "City", "Product", "Units", "Price", "Date"])
    for i in range(rows):
        ws.append([f"A{i:05}", f"Customer {i % 311}", rng.choice(CITIES), rng.choice(PRODUCTS),
                   rng.randint(1, 40), round(rng.uniform(5, 300), 2), dt.date(2024, 1, 1) + dt.timedelta(days=i % 365)])
    wb.save(docs / "orders.xlsx")
    deck = pptx.Presentation()
    for s in range(20):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Quarter review part {s + 1}"
        slide.placeholders[1].text = "\n".join(
            f"Point {k} of part {s + 1}: the {rng.choice(PRODUCTS)} line grew by {rng.randint(1, 30)} percent" for k in range(5)
        )
    deck.save(docs / "review.pptx")
    document = docx.Document()
    document.add_heading("Stock list", 1)
    table = document.add_table(rows=201, cols=4)
    for r, values in enumerate([["Item", "Warehouse", "Count", "Checked by"]] + [
        [f"Item {r}", rng.choice(CITIES), str(rng.randint(0, 900)), f"Clerk {r % 17}"] for r in range(1, 201)
    ]):
        for c, value in enumerate(values):
            table.cell(r, c).text = value
    document.save(docs / "stock.docx")
    return rows + 20 * 6 + 200


def time_watch(assistant, docs: Path, rounds: int = 3) -> tuple[float, float]:
    """Median seconds from writing a file to its 'added' line, and from deleting it to 'removed'."""
    from rag.watch import FolderWatcher

    lines: list[str] = []
    watcher = FolderWatcher(assistant, echo=lines.append)
    watcher.start()
    added, removed = [], []
    try:
        _until(lambda: watcher.syncs >= 1)
        for n in range(rounds):
            path = docs / f"note_{n}.txt"
            began = time.perf_counter()
            path.write_text(f"Note {n}: the Brno depot counted {n + 40} kettles.\n", encoding="utf-8")
            _until(lambda: f"added {path.name}" in lines)
            added.append(time.perf_counter() - began)
            began = time.perf_counter()
            path.unlink()
            _until(lambda: f"removed {path.name}" in lines)
            removed.append(time.perf_counter() - began)
    finally:
        watcher.stop()
    return statistics.median(added), statistics.median(removed)


def _until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the watcher did not pick the change up")
        time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="order rows in the workbook")
    args = parser.parse_args(argv)
    from rag import Assistant, Config

    root = Path(tempfile.mkdtemp(prefix="office-bench-"))
    docs = root / "docs"
    docs.mkdir()
    rows = write_folder(docs, args.rows)
    assistant = Assistant(config=Config.from_env(docs_dir=docs, index_dir=root / "index", llm="extractive"))
    assistant.embedder.embed_passages(["warm-up"])  # model load is not ingest
    began = time.perf_counter()
    report = assistant.ingest()
    took = time.perf_counter() - began
    print(report.summary())
    print(f"{rows} table rows and slide lines in {took:.1f} s: {rows / took:.1f} rows/s; "
          f"{report.embedded_tokens / took:.0f} engine tokens/s ({report.embedded_tokens} tokens, "
          f"{report.embedded_tokens / rows:.0f} a row)")
    added, removed = time_watch(assistant, docs)
    print(f"watch: a new file answerable after {added:.2f} s, a deleted one gone after {removed:.2f} s (median of 3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
