"""Tests for rag.ingest: formats, encodings, failures, cleaning and the five real seeds.

Fixture files are written to tmp_path at test time; nothing binary is committed.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from rag.errors import ConfigError, IngestError
from rag.ingest import (
    SUPPORTED_SUFFIXES,
    boilerplate_kind,
    clean_text,
    clean_text_with_log,
    decode_text,
    derive_title,
    file_sha256,
    find_text_date,
    is_toned_pinyin_syllable,
    iter_documents,
    list_corpus_files,
    load_document,
    load_documents,
    normalise_date,
    split_front_matter,
    strip_pinyin_annotations,
)
from rag.text import detect_language
from rag.types import Document

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

ZH_SIMPLIFIED = "北京工业大学与朝阳区签订战略合作协议。\n双方将共建创新区，推动科技成果转化。\n"
ZH_TRADITIONAL = "北京資訊科技大學拜訪朝陽區。\n雙方就科技產業園區共建深入交流。\n"


# --------------------------------------------------------------------------------------
# Helpers that build real files
# --------------------------------------------------------------------------------------


def write(path: Path, data: bytes | str) -> Path:
    """Write bytes or UTF-8 text, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def minimal_pdf(pages: list[list[str]], title: str = "") -> bytes:
    """A valid PDF with one Helvetica text object per page (ASCII text only)."""
    font = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "", font]  # the page tree is filled in below
    kids = []
    for lines in pages:
        shown = " ".join(f"({line}) Tj T*" for line in lines)
        content = f"BT /F1 12 Tf 72 720 Td 14 TL {shown} ET"
        objects.append(f"<< /Length {len(content)} >>\nstream\n{content}\nendstream")
        content_number = len(objects)
        objects.append(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content_number} 0 R >>"
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    objects.append(f"<< /Title ({title}) /CreationDate (D:20240122133400+08'00') >>")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("ascii")
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode("ascii")
    trailer = f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n"
    out += f"{trailer}startxref\n{xref_at}\n%%EOF\n".encode("ascii")
    return out


def encrypted_pdf(user_password: str, owner_password: str) -> bytes:
    """minimal_pdf encrypted with RC4 (no optional crypto packages needed)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(minimal_pdf([["Secret report text."]]))))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def docx_bytes() -> bytes:
    """A .docx with a heading, two paragraphs and a table."""
    document = docx.Document()
    document.add_heading("Quarterly innovation zone report", level=1)
    document.add_paragraph("The innovation zone opened in Chaoyang District.")
    document.add_paragraph("北京工业大学负责核心区建设。")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Partner"
    table.cell(0, 1).text = "Role"
    table.cell(1, 0).text = "Huawei"
    table.cell(1, 1).text = "Industry park"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def load(path: Path) -> Document:
    """load_document with the file's folder as corpus root."""
    return load_document(path, path.parent)


# --------------------------------------------------------------------------------------
# The five real seeds
# --------------------------------------------------------------------------------------


def seed(prefix: str) -> Path:
    """The seed file whose name starts with prefix."""
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path


def seed_doc(prefix: str) -> Document:
    """The loaded seed document."""
    return load_document(seed(prefix), SEEDS)


def raw_lines(prefix: str, first: int, last: int) -> list[str]:
    """Stripped, non-blank lines first..last (1-based, inclusive) of a seed file."""
    lines = seed(prefix).read_text(encoding="utf-8").splitlines()[first - 1 : last]
    return [line.strip() for line in lines if line.strip()]


SEED_EXPECTATIONS = {
    "000": ("北京昌平区政府签约信息科技大学，5G助建科创平台", "2021-09-06", "zh"),
    "001": ("中关村科技园区朝阳园管理委员会、北京工业大学、北京控股集团有限公司签订战略合作协议", "2023-12-22", "zh"),
    "002": (
        "Beijing’s first district-school cooperation innovation zone is settled in Chaoyang "
        "Beigong Dashan Hewangu Innovation Zone and construction begins",
        "",  # the page carries no date at all
        "en",
    ),
    "003": ("解江凌、郭福帶隊拜訪朝陽區", "", "zh"),  # "4月19日" has no year
    "004": ("深化校企协同,北京高校科协联盟成立", "2024-01-22", "zh"),
}


@pytest.mark.parametrize("prefix", sorted(SEED_EXPECTATIONS))
def test_seed_metadata(prefix: str) -> None:
    doc = seed_doc(prefix)
    title, date, lang = SEED_EXPECTATIONS[prefix]
    assert doc.title == title
    assert doc.date == date
    assert doc.lang == lang
    assert doc.source == seed(prefix).name
    assert doc.sha256 == hashlib.sha256(seed(prefix).read_bytes()).hexdigest()
    assert doc.sha256 == file_sha256(seed(prefix))
    assert 0 < len(doc.text) < len(seed(prefix).read_text(encoding="utf-8"))


FURNITURE_SNIPPETS = (
    "分享", "微信好友", "朋友圈", "ICP", "公网安备", "首页>", "正在阅读", "责编", "责任编辑", "编辑:",
    "審核", "审核", "相关阅读", "相关新闻", "推荐阅读", "排行", "读取内容中", "阅读剩余全文", "加载更多",
    "/ HEADLINES", "Breaking news", "Share so", "Tags:", "PREV ", "NEXT ", "Editors:", "海量资讯",
    "新浪财经APP", "appendQr", "<p", "<div", "-->", "{", "2025-06-13",
)


@pytest.mark.parametrize("prefix", sorted(SEED_EXPECTATIONS))
def test_seed_text_has_no_furniture(prefix: str) -> None:
    text = seed_doc(prefix).text
    for snippet in FURNITURE_SNIPPETS:
        assert snippet not in text, snippet
    for line in text.splitlines():
        assert boilerplate_kind(line) is None, line
    assert "\n\n\n" not in text
    assert not text.startswith(("\u3000", " ")) and "\n\u3000" not in text


def test_seed_000_front_matter_and_html_body() -> None:
    doc = seed_doc("000")
    assert doc.text.startswith("原标题：北京昌平区政府签约信息科技大学，5G助建科创平台\n\n记者9月6日获悉")
    assert "共建学生实习实践基地，实现校企协同创新，资源共建共享，助推昌平区的高质量发展。" in doc.text
    assert "title:" not in doc.text and "headimg" not in doc.text
    assert doc.text.count("\n\n") == 5  # six <p> paragraphs


def test_seed_001_every_paragraph_survives() -> None:
    doc = seed_doc("001")
    for line in raw_lines("001", 9, 23):
        assert line in doc.text
    assert "北控集团下属焦奥中心" in doc.text
    assert "来源:新闻中心 时间:2023-12-22" in doc.text
    assert doc.text.endswith("1/3即将注册公司进行市场化运营。")


def test_seed_002_machine_translation() -> None:
    doc = seed_doc("002")
    assert "Beijing Enterprises Group, Huawei, Xiaomi, and Alibaba" in doc.text
    for line in raw_lines("002", 8, 20):
        assert line in doc.text
    # The title was scraped three times; one copy is enough.
    assert doc.text.count("is settled in Chaoyang Beigong Dashan") == 1
    assert doc.text.endswith("A “golden business card”.")


def test_seed_003_pinyin_artefacts_removed_text_stays_traditional() -> None:
    doc = seed_doc("003")
    assert "關注" in doc.text
    assert "(guān)" not in doc.text
    assert not re.search(r"\([a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ]+\)", doc.text)
    assert "學校" in doc.text and "学校" not in doc.text  # never converted to simplified
    assert "會上,雙方參會人員圍繞區校合作進行交流對接。" in doc.text
    for line in raw_lines("003", 5, 13):
        assert strip_pinyin_annotations(line) in doc.text
    # The trailing "(供稿/編輯:... 審核:...)" credit is cut, the sentence before it stays.
    assert doc.text.endswith("相關負責同志參加會議。")


def test_seed_004_article_body_without_sidebar() -> None:
    doc = seed_doc("004")
    for line in raw_lines("004", 14, 26):
        assert line in doc.text
    assert doc.text.startswith("深化校企协同,北京高校科协联盟成立\n\n来源:光明网2024-01-22 13:34")
    assert doc.text.endswith("服务首都高质量发展。(宋雅娟)")
    assert "子午工程" not in doc.text  # a sidebar teaser


def test_seed_corpus_loads_without_skips() -> None:
    documents, skipped = load_documents(SEEDS)
    assert skipped == []
    assert [doc.source for doc in documents] == sorted(path.name for path in SEEDS.glob("*.txt"))


# --------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------


def test_plain_txt(tmp_path: Path) -> None:
    text = "Budget review\n\nThe committee met on Monday. It approved the plan.\n"
    path = write(tmp_path / "note.txt", text)
    doc = load(path)
    assert doc.text == "Budget review\n\nThe committee met on Monday. It approved the plan."
    assert doc.title == "Budget review"
    assert doc.lang == "en"
    assert doc.source == "note.txt"


def test_markdown_front_matter(tmp_path: Path) -> None:
    text = (
        "---\n"
        "title: 'Innovation zone opens'\n"
        "date: 2023-12-22\n"
        "source: https://example.org/news/1\n"
        "---\n"
        "# Ignored heading\n\n"
        "The zone opened in Chaoyang district this week, officials said.\n"
    )
    doc = load(write(tmp_path / "post.md", text))
    assert doc.title == "Innovation zone opens"
    assert doc.date == "2023-12-22"
    assert doc.url == "https://example.org/news/1"
    assert "title:" not in doc.text
    assert doc.text.startswith("# Ignored heading")


def test_markdown_heading_is_title_without_front_matter(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "readme.markdown", "Intro line\n\n# Real heading\n\nSome body text here.\n"))
    assert doc.title == "Real heading"


def test_front_matter_rfc2822_date_and_bad_yaml(tmp_path: Path) -> None:
    good = "---\ntitle: T\ndate: Mon, 06 Sep 2021 07:00:15 GMT\nurl: https://e.org/a\n---\nBody text.\n"
    doc = load(write(tmp_path / "a.txt", good))
    assert (doc.title, doc.date, doc.url) == ("T", "2021-09-06", "https://e.org/a")
    bad = "---\ntitle: [unclosed\ndate: : :\n---\nBody survives the broken header.\n"
    doc = load(write(tmp_path / "b.txt", bad))
    assert doc.text == "Body survives the broken header."
    assert doc.date == ""


def test_plain_text_mentioning_a_tag_is_not_html(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "tip.txt", "Use the <p> tag for paragraphs.\n\nThat is all there is to it."))
    assert doc.text == "Use the <p> tag for paragraphs.\n\nThat is all there is to it."


def test_markdown_rules_are_not_front_matter() -> None:
    text = "---\nJust a sentence between rules.\n---\nMore text."
    assert split_front_matter(text) == ({}, text)


HTML_PAGE = """<!DOCTYPE html>
<html><head>
<meta charset="utf-8">
<title>Zone opens - Example News</title>
<meta property="og:title" content="Innovation zone opens in Chaoyang">
<meta property="article:published_time" content="2024-01-22T13:34:00+08:00">
<link rel="canonical" href="https://example.org/zone">
<style>.x { color: red }</style>
<script>var tracking = "分享到微信";</script>
</head><body>
<header><a href="/">Home</a> | <a href="/news">News</a></header>
<nav>首页 &gt; 新闻 &gt; 正文</nav>
<div class="breadcrumb">Home &gt; News</div>
<div id="content">
  <h1>Innovation zone opens in Chaoyang</h1>
  <p>The zone opened this week.
     Officials attended the ceremony.</p>
  <!-- an HTML comment that must not leak -->
  <p>Huawei and Xiaomi will move in.<br>More firms follow next year.</p>
  <div class="bdsharebuttonbox"><a>分享到：</a><a>微信</a></div>
  <div class="qr-code">扫一扫 关注我们</div>
  <ul class="related-news"><li>Unrelated headline one</li><li>Unrelated headline two</li></ul>
  <table><tr><td>Partner</td><td>Huawei</td></tr></table>
</div>
<aside>Most read: something else</aside>
<form><input value="search"></form>
<iframe src="https://ads.example"></iframe>
<div class="comments">Great article!</div>
<footer>Copyright © 2024 Example. All rights reserved.</footer>
</body></html>
"""


def test_html_page(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "page.html", HTML_PAGE))
    assert doc.title == "Innovation zone opens in Chaoyang"
    assert doc.date == "2024-01-22"
    assert doc.url == "https://example.org/zone"
    assert "The zone opened this week. Officials attended the ceremony." in doc.text
    assert "Huawei and Xiaomi will move in.\nMore firms follow next year." in doc.text
    assert "Innovation zone opens in Chaoyang\n\nThe zone opened" in doc.text
    assert "Partner Huawei" in doc.text
    for junk in ("color", "tracking", "Home", "首页", "分享", "扫一扫", "Unrelated", "comment",
                 "Most read", "search", "Great article", "Copyright", "<"):
        assert junk not in doc.text, junk


def test_html_wrapper_with_furniture_class_is_kept(tmp_path: Path) -> None:
    page = (
        "<html><body><div class='page has-sidebar'>"
        "<p>The whole article lives inside a wrapper whose class mentions a sidebar.</p>"
        "<p>It must not be thrown away with the real sidebar.</p>"
        "<div class='sidebar'>Other stories</div></div></body></html>"
    )
    doc = load(write(tmp_path / "wrapped.htm", page))
    assert "The whole article lives inside" in doc.text
    assert "Other stories" not in doc.text


def test_html_in_gbk_with_declared_charset(tmp_path: Path) -> None:
    page = (
        '<html><head><meta charset="gb2312"><title>新闻</title></head>'
        "<body><p>北京工业大学签约。</p><p>双方合作。</p></body></html>"
    )
    doc = load(write(tmp_path / "gbk.html", page.encode("gbk")))
    assert doc.text == "北京工业大学签约。\n\n双方合作。"
    assert doc.title == "新闻"


def test_pdf(tmp_path: Path) -> None:
    pages = [["Innovation zone report.", "Huawei joins the park."], ["Page two text."]]
    data = minimal_pdf(pages, title="Zone report")
    doc = load(write(tmp_path / "report.pdf", data))
    assert "Innovation zone report.\nHuawei joins the park." in doc.text
    assert doc.text.endswith("\n\nPage two text.")
    assert doc.title == "Zone report"
    assert doc.date == "2024-01-22"
    assert doc.lang == "en"


def test_encrypted_pdf_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "locked.pdf", encrypted_pdf("secret", "owner"))
    with pytest.raises(IngestError, match=r"locked\.pdf: encrypted PDF: decrypt it first"):
        load(path)


def test_pdf_with_only_an_owner_password_is_read(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "owner.pdf", encrypted_pdf("", "owner")))
    assert doc.text == "Secret report text."


def test_truncated_and_fake_pdf(tmp_path: Path) -> None:
    data = minimal_pdf([["Some text here."]])
    with pytest.raises(IngestError, match=r"cut\.pdf: corrupt or truncated PDF"):
        load(write(tmp_path / "cut.pdf", data[: len(data) // 2]))
    with pytest.raises(IngestError, match=r"fake\.pdf: not a PDF"):
        load(write(tmp_path / "fake.pdf", "just text"))


def test_docx(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "report.docx", docx_bytes()))
    assert doc.title == "Quarterly innovation zone report"
    assert "The innovation zone opened in Chaoyang District." in doc.text
    assert "北京工业大学负责核心区建设。" in doc.text
    assert "Partner: Huawei | Role: Industry park" in doc.text.splitlines()  # a row keeps its header names


def test_corrupt_docx(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"broken\.docx: not a readable \.docx"):
        load(write(tmp_path / "broken.docx", b"PK\x03\x04 not really a zip"))


# --------------------------------------------------------------------------------------
# Encodings and bad files
# --------------------------------------------------------------------------------------

WESTERN = "The report — “naïve” — was read at the café. "
ENCODINGS = [
    ("gb18030", ZH_SIMPLIFIED, ZH_SIMPLIFIED.encode("gb18030")),
    ("gbk", ZH_SIMPLIFIED, ZH_SIMPLIFIED.encode("gbk")),
    ("big5", ZH_TRADITIONAL, ZH_TRADITIONAL.encode("big5")),
    ("traditional-in-gbk", ZH_TRADITIONAL, ZH_TRADITIONAL.encode("gbk")),
    ("utf-8-bom", ZH_SIMPLIFIED, ZH_SIMPLIFIED.encode("utf-8-sig")),
    ("utf-16-bom", ZH_SIMPLIFIED, ZH_SIMPLIFIED.encode("utf-16")),
    ("utf-16-be-bom", ZH_TRADITIONAL, b"\xfe\xff" + ZH_TRADITIONAL.encode("utf-16-be")),
    ("utf-16-le-no-bom", ZH_SIMPLIFIED, ZH_SIMPLIFIED.encode("utf-16-le")),
    ("utf-16-be-no-bom", ZH_TRADITIONAL, ZH_TRADITIONAL.encode("utf-16-be")),
    ("utf-16-le-english", "Plain English text.\n", "Plain English text.\n".encode("utf-16-le")),
    ("cp1252", "He said “café” twice.", "He said “café” twice.".encode("cp1252")),
    ("cp1252-long", WESTERN * 5, (WESTERN * 5).encode("cp1252")),
    ("gbk-english-quotes", "Beijing’s first zone opens.", "Beijing’s first zone opens.".encode("gbk")),
    ("gbk-short-mixed", "京ICP备:14043795号-2", "京ICP备:14043795号-2".encode("gbk")),
    ("utf-16-le-all-hanzi", "北京工业大学", "北京工业大学".encode("utf-16-le")),
]


@pytest.mark.parametrize(("name", "expected", "data"), ENCODINGS, ids=[e[0] for e in ENCODINGS])
def test_decode_text(name: str, expected: str, data: bytes) -> None:
    assert decode_text(data) == expected


@pytest.mark.parametrize("prefix", ["001", "004"])
def test_real_seed_in_gb18030_and_utf16(tmp_path: Path, prefix: str) -> None:
    text = seed(prefix).read_text(encoding="utf-8")
    expected = seed_doc(prefix)
    for codec in ("gb18030", "utf-16", "utf-16-le", "utf-16-be"):
        path = write(tmp_path / codec / seed(prefix).name, text.encode(codec))
        doc = load(path)
        assert (doc.text, doc.title, doc.date) == (expected.text, expected.title, expected.date), codec


def test_empty_files(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"empty\.txt: empty file"):
        load(write(tmp_path / "empty.txt", b""))
    with pytest.raises(IngestError, match=r"blank\.md: empty file"):
        load(write(tmp_path / "blank.md", "  \n\t\n"))
    with pytest.raises(IngestError, match=r"bom\.txt: empty file"):
        load(write(tmp_path / "bom.txt", b"\xff\xfe"))


def test_binary_renamed_txt(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    with pytest.raises(IngestError, match=r"image\.txt: looks binary"):
        load(write(tmp_path / "image.txt", png))
    controls = bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 65, 66]) * 50
    with pytest.raises(IngestError, match=r"ctl\.txt: looks binary"):
        load(write(tmp_path / "ctl.txt", controls))


def test_undecodable_bytes(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"junk\.txt: undecodable"):
        load(write(tmp_path / "junk.txt", bytes(range(0x80, 0x100)) * 8))


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = write(tmp_path / "data.odt", "a,b\n1,2\n")
    with pytest.raises(IngestError, match=r"data\.odt: unsupported file type '\.odt'"):
        load(path)
    assert list_corpus_files(tmp_path) == []
    assert load_documents(tmp_path) == ([], [])


# --------------------------------------------------------------------------------------
# Walking a corpus
# --------------------------------------------------------------------------------------


def test_walk_sorted_hidden_and_nested(tmp_path: Path) -> None:
    write(tmp_path / "b.txt", "Second file text.")
    write(tmp_path / "a" / "z.md", "Nested file text.")
    write(tmp_path / "a.txt", "First file text.")
    write(tmp_path / ".hidden.txt", "Hidden text.")
    write(tmp_path / ".git" / "notes.txt", "Hidden folder.")
    write(tmp_path / "~$lock.docx", b"\x00lock")
    write(tmp_path / "archive.zip", b"PK\x03\x04")  # not a document format
    files = list_corpus_files(tmp_path)
    assert [path.relative_to(tmp_path).as_posix() for path in files] == ["a.txt", "a/z.md", "b.txt"]
    documents, skipped = load_documents(tmp_path)
    assert [doc.source for doc in documents] == ["a.txt", "a/z.md", "b.txt"]
    assert skipped == []


def test_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    outside = write(tmp_path / "outside" / "secret.txt", "Outside text.")
    inside = write(root / "real.txt", "Inside text.")
    os.symlink(outside, root / "escape.txt")
    os.symlink(tmp_path / "outside", root / "escape_dir")
    os.symlink(inside, root / "alias.txt")
    assert [path.name for path in list_corpus_files(root)] == ["alias.txt", "real.txt"]
    documents, skipped = load_documents(root)
    assert [doc.source for doc in documents] == ["alias.txt", "real.txt"]
    assert [source for source, _ in skipped] == ["escape.txt", "escape_dir"]
    assert all("outside the corpus" in reason for _, reason in skipped)


def test_one_bad_file_does_not_stop_the_rest(tmp_path: Path) -> None:
    write(tmp_path / "1.txt", "Good text one.")
    write(tmp_path / "2.txt", b"")
    write(tmp_path / "3.pdf", b"%PDF-1.4 truncated")
    write(tmp_path / "4.txt", "Good text four.")
    items = list(iter_documents(tmp_path))
    assert [type(item).__name__ for item in items] == ["Document", "tuple", "tuple", "Document"]
    documents, skipped = load_documents(tmp_path)
    assert [doc.source for doc in documents] == ["1.txt", "4.txt"]
    assert [source for source, _ in skipped] == ["2.txt", "3.pdf"]
    assert "2.txt: empty file" in skipped[0][1]


def test_parser_bug_becomes_ingest_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_parser(html: str) -> None:
        raise ValueError("boom")

    monkeypatch.setattr("rag.ingest.html.parse_html", broken_parser)
    write(tmp_path / "a.html", "<p>one</p><p>two</p>")
    write(tmp_path / "b.txt", "Still read.")
    documents, skipped = load_documents(tmp_path)
    assert [doc.source for doc in documents] == ["b.txt"]
    assert skipped[0][0] == "a.html"
    assert "unexpected error while reading (ValueError: boom)" in skipped[0][1]


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        list_corpus_files(tmp_path / "nope")


def test_supported_suffixes() -> None:
    assert sorted(SUPPORTED_SUFFIXES) == sorted((
        ".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".pptx", ".xlsx", ".xls", ".csv",
        ".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff",
    ))


# --------------------------------------------------------------------------------------
# clean_text on literal strings
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("朝陽區(qū)", "朝陽區"),
        ("焦點關(guān)注", "焦點關注"),
        ("大學(xué)", "大學"),
        ("區（qū）政府", "區政府"),
        ("綠(lǜ)色", "綠色"),
        ("戰(zhàn)略性新興產(chǎn)業(yè)", "戰略性新興產業"),
        ("北京工业大学(BIT)", "北京工业大学(BIT)"),
        ("北京工业大学（简称北工大）", "北京工业大学（简称北工大）"),
        ("巴黎咖啡(café)", "巴黎咖啡(café)"),
        ("的(de)", "的(de)"),
        ("(2023年9月)", "(2023年9月)"),
        ("Beijing (guān) is not after a hanzi", "Beijing (guān) is not after a hanzi"),
    ],
)
def test_pinyin_annotations(before: str, after: str) -> None:
    assert strip_pinyin_annotations(before) == after
    assert clean_text(before) == after


def test_pinyin_syllable_check() -> None:
    assert is_toned_pinyin_syllable("guān")
    assert is_toned_pinyin_syllable("zhuǎn")
    assert is_toned_pinyin_syllable("lǜ")
    assert is_toned_pinyin_syllable("ń")
    assert not is_toned_pinyin_syllable("guan")  # no tone mark
    assert not is_toned_pinyin_syllable("café")
    assert not is_toned_pinyin_syllable("zhōngguó")  # two syllables


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("分享到：微信 微博 QQ空间", "share"),
        ("点击右上角微信好友", "share"),
        ("朋友圈", "share"),
        ("请使用浏览器分享功能进行分享", "share"),
        ("扫一扫在手机打开当前页", "share"),
        ("微信扫一扫 关注公众号", "share"),
        ("- 分享 -", "share"),
        ("Share", "share"),
        ("Tweet", "share"),
        ("Share this article", "share"),
        ("京ICP备14043795号-2", "icp"),
        ("京公网安备 11010502030143号", "icp"),
        ("版权所有 © 2024 光明网", "copyright"),
        ("Copyright © 2024 Example Inc. All rights reserved.", "copyright"),
        ("首页> 光明科普云> 科普资讯 > 正文", "nav"),
        ("首页 > 新闻", "nav"),
        ("当前位置：首页 > 要闻", "nav"),
        ("正在阅读:深化校企协同", "reading"),
        ("/ HEADLINES", "label"),
        ("返回顶部", "ui"),
        ("【打印】【关闭窗口】", "ui"),
        ("[ 打印 ] [ 关闭 ]", "ui"),
        ("责任编辑：张亚楠", "credit"),
        ("编辑:刘潇", "credit"),
        ("审核：余乙兵", "credit"),
        ("[ 责编:肖春芳 ]", "credit"),
        ("責任編輯：張三", "credit"),
        ("(Editors: Meng Zhu, Bao Congying)", "credit"),
        ("相关阅读", "related"),
        ("相關新聞", "related"),
        ("Related news", "related"),
        ("推荐阅读", "related"),
        ("單周單篇點擊量排名", "related"),
        ("Tags: innovation zone", "tags"),
        ("PREV Another story", "pager"),
    ],
)
def test_boilerplate_lines(line: str, kind: str) -> None:
    assert boilerplate_kind(line) == kind
    body = "The article body is a real sentence."
    assert clean_text(f"{body}\n{line}") == body


@pytest.mark.parametrize(
    "line",
    [
        "2023年中国大学排名发布",
        "本报记者在经验分享会上了解到，该技术已经成熟。",
        "二维码支付在农村普及",
        "Shares of Alibaba rose 5% on Monday.",
        "Share prices fell sharply.",
        "Next, the committee voted on the budget.",
        "北京工业大学(BIT)与朝阳区合作。",
        "Editor's note: this story was updated.",
        "工大要闻",
        "来源:新闻中心 时间:2023-12-22",
    ],
)
def test_content_lines_are_kept(line: str) -> None:
    assert boilerplate_kind(line) is None
    assert clean_text(line) == line


def test_whitespace_normalisation() -> None:
    text = "\u3000\u3000第一段。  \r\n\r\n\r\n\r\n  第二段。\t\r\n第三行\u00a0结束。\n\n\n"
    assert clean_text(text) == "第一段。\n\n第二段。\n第三行 结束。"


BODY = "北京高校科协联盟成立大会在北京大学举办，三百余人参加了会议。"


def test_related_marker_after_body_removes_headline_list() -> None:
    text = "\n".join(
        [
            BODY,
            "相关新闻",
            "• 另一条无关新闻标题",
            "系外行星大气研究对理解行星形成、演化和宜居性具有重要意义。",
            "2025-06-13 09:38",
            "加载更多",
        ]
    )
    cleaned = clean_text_with_log(text)
    assert cleaned.text == BODY
    assert ("related", "相关新闻") in cleaned.removed


def test_sidebar_ends_at_the_next_prose_paragraph() -> None:
    text = f"{BODY}\n\n相关阅读\n\n短标题一\n短标题二\n\n会议还发布了多项成果，并组织开展了科技需求对接和项目展示推介。"
    assert clean_text(text) == f"{BODY}\n\n会议还发布了多项成果，并组织开展了科技需求对接和项目展示推介。"


def test_marker_before_body_does_not_eat_the_title() -> None:
    text = f"推荐阅读\n\n深化校企协同,北京高校科协联盟成立\n\n来源:光明网2024-01-22 13:34\n\n{BODY}"
    assert clean_text(text) == f"深化校企协同,北京高校科协联盟成立\n\n来源:光明网2024-01-22 13:34\n\n{BODY}"


def test_repeated_lines_and_inline_credit() -> None:
    text = f"Title line\n\nTitle line\nTitle line\n\n{BODY}(供稿/编辑:党委宣传部 李萌 审核:杨静)"
    cleaned = clean_text_with_log(text)
    assert cleaned.text == f"Title line\n\n{BODY}"
    assert cleaned.credits == ["(供稿/编辑:党委宣传部 李萌 审核:杨静)"]


def test_credits_are_reported() -> None:
    cleaned = clean_text_with_log(f"{BODY}\n摄影:刘晓迟 编辑:刘潇 审核:余乙兵")
    assert cleaned.text == BODY
    assert cleaned.credits == ["摄影:刘晓迟 编辑:刘潇 审核:余乙兵"]


# --------------------------------------------------------------------------------------
# Titles, dates, language
# --------------------------------------------------------------------------------------


def test_derive_title() -> None:
    assert derive_title(f"工大要闻\n\n/ HEADLINES\n\n标题在来源行之上\n\n来源:新闻中心 时间:2023-12-22\n\n{BODY}") == "标题在来源行之上"
    repeated = f"Breaking news\n\nSame title\n\nSame title\n\nOriginal title: other\n\n{BODY}"
    assert derive_title(repeated) == "Same title"
    assert derive_title(f"焦點關(guān)注\n\n解江凌帶隊拜訪朝陽區(qū)\n\n{BODY}") == "解江凌帶隊拜訪朝陽區"
    assert derive_title(BODY) == BODY


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 06 Sep 2021 07:00:15 GMT", "2021-09-06"),
        ("2021-09-06T07:00:15Z", "2021-09-06"),
        ("2021/9/6", "2021-09-06"),
        ("2021年9月6日", "2021-09-06"),
        ("September 6, 2021", "2021-09-06"),
        ("6 Sep 2021", "2021-09-06"),
        (dt.date(2021, 9, 6), "2021-09-06"),
        (dt.datetime(2021, 9, 6, 7, 0), "2021-09-06"),
        ("last spring", "last spring"),
    ],
)
def test_normalise_date(value: object, expected: str) -> None:
    assert normalise_date(value) == expected


def test_find_text_date() -> None:
    assert find_text_date(f"标题\n来源:新闻中心 时间:2023-12-22\n{BODY}") == "2023-12-22"
    assert find_text_date(f"标题\n来源:光明网2024-01-22 13:34\n{BODY}") == "2024-01-22"
    assert find_text_date(f"标题\n4月19日\n{BODY}") == ""
    assert find_text_date(f"{BODY}\n\n北京市科学技术协会\n2023年12月22日") == "2023-12-22"


def test_document_language() -> None:
    assert detect_language(BODY) == "zh"
    assert detect_language("The zone opened in Chaoyang (朝阳) this week.") == "en"
    assert detect_language("华为、小米和阿里巴巴将入驻 AI 产业园。") == "zh"
    assert detect_language("") == "en"
