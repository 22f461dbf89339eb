"""Real documents for the PDF, OCR and bad-file tests, built with real tools (the
builders live in eval/documents.py, shared with the benchmark), and one folder of them
indexed once per session.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from eval.documents import (
    CHROMIUM,
    blank_pdf,
    chromium_pdf,
    encrypted_pdf,
    image_bomb_png,
    image_only_pdf,
    pages_html,
    photo_of_page,
)

# A three-page Chinese report; the fact asked about is on page 3 only.
REPORT_PAGES = [
    ("青松湖生态园年度报告", "本报告介绍青松湖生态园二〇二三年的建设与运营情况。园区由市林业局管理，全年接待游客十二万人次，"
     "游客满意度调查共回收问卷三千二百份。"),
    ("第二章 水质监测", "全年共开展水质监测四十八次，主要指标均达到二类标准。湖区水位较上年保持稳定，未发生蓝藻水华。"),
    ("第三章 用地情况", "青松湖生态园占地面积为一千二百八十公顷，其中水面约三百公顷。园区东侧新建了一座青少年自然教育中心，"
     "面向中小学生开放。"),
]
REPORT_QUESTION = "青松湖生态园的占地面积是多少？"
REPORT_ANSWER = "一千二百八十公顷"

# A scanned notice (image-only PDF); the fact is on page 2.
SCAN_PAGES = [
    ("白鹭洲水厂运行简报", "本简报汇总白鹭洲水厂第一季度的运行情况。水厂共有员工八十六人，实行四班三运转。"),
    ("供水能力", "白鹭洲水厂日处理能力为四十五万吨，第一季度累计供水三千九百万吨，出厂水合格率百分之百。"),
    ("设备维护", "第一季度共完成设备检修一百二十项，更换加药泵两台，未发生停水事故。"),
]
SCAN_QUESTION = "白鹭洲水厂的日处理能力是多少？"
SCAN_ANSWER = "四十五万吨"

# An English page, photographed.
PHOTO_PAGE = (
    "Harbor Lighthouse",
    "The Harbor Lighthouse was rebuilt in 1931 with an iron tower twelve meters tall. "
    "Its lamp can be seen from twenty nautical miles away on a clear night.",
)
PHOTO_QUESTION = "When was the Harbor Lighthouse rebuilt?"
PHOTO_ANSWER = "1931"

# A PDF locked with an owner password only: it opens without one and must be read.
LOCKED_PAGE = ("Archive memo", "The archive room key is kept at the east gate office from Monday to Friday.")
LOCKED_QUESTION = "Where is the archive room key kept?"


# ---- shared fixtures: one folder of real documents, indexed once per session -------------

@pytest.fixture(scope="session")
def real_documents(tmp_path_factory) -> Path:
    """A folder with a printed report, a scan, a photo, an owner-locked copy and bad files."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is missing: apt-get install -y chromium fonts-noto-cjk (or make browser)")
    work = tmp_path_factory.mktemp("real-documents")
    folder, build = work / "docs", work / "build"
    folder.mkdir()
    build.mkdir()
    report = chromium_pdf(pages_html(REPORT_PAGES), folder / "report.pdf")
    image_only_pdf(chromium_pdf(pages_html(SCAN_PAGES), build / "scan-source.pdf"), folder / "scan.pdf")
    photo_of_page(chromium_pdf(pages_html([PHOTO_PAGE]), build / "photo-source.pdf"), folder / "photo.jpg")
    memo = chromium_pdf(pages_html([LOCKED_PAGE]), build / "memo.pdf")
    encrypted_pdf(memo, folder / "owner-locked.pdf", user_password="")
    encrypted_pdf(report, folder / "bad-password.pdf")
    raw = report.read_bytes()
    (folder / "bad-truncated.pdf").write_bytes(raw[: len(raw) // 2])
    blank_pdf(folder / "bad-no-pages.pdf", 0)
    blank_pdf(folder / "bad-2000-pages.pdf", 2000)
    image_bomb_png(folder / "bad-bomb.png")
    return folder


@pytest.fixture(scope="session")
def real_ingest(real_documents, embedder, tmp_path_factory):
    """(Assistant, IngestReport) over real_documents, indexed once."""
    from rag import Assistant

    assistant = Assistant(real_documents, tmp_path_factory.mktemp("real-index"))
    assistant._embedder = embedder  # the same real model, loaded once per session
    report = assistant.ingest()
    return assistant, report
