"""A realistic folder for the ingest bench: many small files in mixed formats and encodings.

The text is public reading-comprehension passages from /work/shared/datasets (CMRC 2018,
simplified Chinese; DRCD, traditional Chinese; XQuAD, English and Chinese; CC BY-SA, see
that folder's README), one passage a file, taken from the four sets in turn. Each file is
written as UTF-8, GB18030 or Big5 text, HTML with page furniture around the passage, or
(one in fifty) .docx, chosen by its number, so the same count always gives the same files.
The folder is built once under the cache dir and reused.
"""
from __future__ import annotations

import html
import io
import itertools
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

DATASETS = Path(os.environ.get("RAG_DATASETS_DIR", "/work/shared/datasets"))
FOLDER_VERSION = 2  # bump when the files written change (2: XQuAD titles with spaces)
DOCX_EVERY = 50  # one file in fifty is a .docx ("a few")


def passages(datasets: Path = DATASETS) -> Iterator[tuple[str, str, str, str]]:
    """(set, lang, title, text) from the four sets in turn, each in its own order."""
    return _round_robin(
        _cmrc(datasets / "cmrc2018_dev.json"),
        _squad(datasets / "DRCD_dev.json", "drcd", "zh-Hant"),
        _squad(datasets / "xquad_dev.en.json", "xquad-en", "en"),
        _squad(datasets / "xquad_dev.zh.json", "xquad-zh", "zh"),
    )


def _cmrc(path: Path) -> Iterator[tuple[str, str, str, str]]:
    for row in json.loads(path.read_text(encoding="utf-8")):
        yield "cmrc", "zh", row["title"], row["context_text"]


def _squad(path: Path, name: str, lang: str) -> Iterator[tuple[str, str, str, str]]:
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            yield name, lang, article["title"].replace("_", " "), paragraph["context"]  # XQuAD's are "Super_Bowl_50"


def _round_robin(*sources: Iterator) -> Iterator:
    sentinel = object()
    for row in itertools.chain.from_iterable(itertools.zip_longest(*sources, fillvalue=sentinel)):
        if row is not sentinel:
            yield row


def mixed_folder(cache_dir: Path, files: int = 2000, datasets: Path = DATASETS) -> Path:
    """The folder of `files` files, built on first use (atomically: a killed build is redone)."""
    if files < 1:
        raise ValueError(f"a folder of {files} files makes no sense; ask for 1 or more")
    target = Path(cache_dir) / "bench" / f"mixed-{files}-v{FOLDER_VERSION}"
    if target.is_dir():
        return target
    rows = list(itertools.islice(passages(datasets), files))
    if len(rows) < files:
        raise ValueError(f"the datasets in {datasets} hold {len(rows)} passages, fewer than {files}")
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    for number, row in enumerate(rows):
        name, data = render_file(number, *row)
        path = tmp / row[0] / f"{number // 100:02d}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    tmp.rename(target)
    return target


def render_file(number: int, dataset: str, lang: str, title: str, text: str) -> tuple[str, bytes]:
    """File name and bytes for passage `number`; the format follows from the number."""
    stem = f"{number:04d}_{dataset}"
    if number % DOCX_EVERY == DOCX_EVERY - 1:
        return f"{stem}.docx", _docx(title, text)
    kind = number % 5
    if kind in (0, 1):
        return f"{stem}.html", _html(title, text)
    if kind == 2 and lang != "en":  # the legacy codepage of the script, when it can hold the text
        codec = "cp950" if lang == "zh-Hant" else "gb18030"
        try:
            return f"{stem}.txt", f"{title}\n\n{text}\n".encode(codec)
        except UnicodeEncodeError:
            pass
    return f"{stem}.txt", f"{title}\n\n{text}\n".encode("utf-8")


def _html(title: str, text: str) -> bytes:
    """A news-like page: navigation, the passage as paragraphs, a share bar and a footer."""
    body = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line.strip())
    page = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head><body>'
        '<nav><a href="/">Home</a> &gt; <a href="/wiki">Wiki</a></nav>'
        f"<article><h1>{html.escape(title)}</h1>{body}</article>"
        '<div class="share">Share: WeChat Weibo Twitter</div><footer>Copyright 2024</footer></body></html>'
    )
    return page.encode("utf-8")


def _docx(title: str, text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(title, level=1)
    for line in text.splitlines():
        if line.strip():
            document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
