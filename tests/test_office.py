"""Tables and Office files: sheets, slides and Word tables built with the real libraries
(openpyxl, xlwt for BIFF .xls, python-pptx, python-docx, msoffcrypto-tool for a password),
read by the real readers and asked about through `Assistant` with the real model."""
from __future__ import annotations

import datetime as dt
import io
import logging
from pathlib import Path

import pytest

from rag.errors import IngestError
from rag.ingest import load_document
from rag.ingest.tables import cell_text, table_lines
from rag.text import split_sentences

# ---- rows with their column names (pure) ---------------------------------------------------


def test_a_row_keeps_its_column_names_and_reads_as_people_write_numbers():
    rows = [
        ["Regional sales (units)", None, None, None],
        [None, None, None, None],
        ["Region", "Sales 2023", None, "Opened"],
        ["East", 120.0, None, dt.datetime(2019, 4, 1)],
        ["West", 95.5, None, dt.datetime(2020, 6, 30, 14, 5)],
    ]
    assert table_lines(rows).lines == [
        "Regional sales (units)",
        "Region: East | Sales 2023: 120 | Opened: 2019-04-01",
        "Region: West | Sales 2023: 95.5 | Opened: 2020-06-30 14:05",
    ]
    assert [cell_text(v) for v in (0.1 + 0.2, 3, True, None, dt.date(2024, 2, 29), "  two\nlines ")] == [
        "0.3", "3", "TRUE", "", "2024-02-29", "two lines",
    ]


def test_a_merged_group_title_over_a_second_header_row_names_each_column():
    filled = [["Region", "Sales", "Sales"], ["Region", 2023, 2024], ["East", 120, 135]]  # merges filled in
    unfilled = [["Region", "Sales", None], [None, 2023, 2024], ["East", 120, 135]]  # read without merge info
    for rows in (filled, unfilled):
        assert table_lines(rows).lines == ["Region: East | Sales 2023: 120 | Sales 2024: 135"]


def test_a_table_without_a_header_keeps_its_values():
    assert table_lines([[1, 2], [3, 4]]).lines == ["1 | 2", "3 | 4"]
    assert table_lines([["2023", "120"], ["2024", "135"]]).lines == ["2023 | 120", "2024 | 135"]


def test_each_row_is_one_sentence_whatever_its_cells_end_with():
    lines = table_lines([["公司", "备注"], ["Acme Inc.", "已完成。"], ["Dr. Lin", "Done! Shipped?"]]).lines
    assert lines == ["公司: Acme Inc | 备注: 已完成", "公司: Dr. Lin | 备注: Done! Shipped"]
    text = "\n".join(lines)
    assert [text[a:b] for a, b in split_sentences(text)][:1] == [lines[0]]


def test_big_tables_are_capped_with_a_note():
    table = table_lines([["n", "square"]] + [[i, i * i] for i in range(50)], max_rows=21)
    assert len(table.lines) == 20 and table.lines[-1] == "n: 19 | square: 361"
    assert "only its first 21 rows" in table.note


# ---- real files ---------------------------------------------------------------------------------

SALES_ROWS = [("East", 120, 135, dt.date(2019, 4, 1)), ("West", 95, 101, dt.date(2020, 6, 30)), ("North", 77, 64, dt.date(2021, 9, 15))]


def make_xlsx(path: Path, *, hidden_only: bool = False) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sales"
    ws.append(["Regional sales of the Verdant Kettle line (units)"])
    ws.append([])
    ws.append(["Region", "Sales", None, "Opened"])
    ws.merge_cells("B3:C3")
    ws.append([None, 2023, 2024, None])
    for row in SALES_ROWS:
        ws.append(list(row))
    ws.append(["Total", "=SUM(B5:B7)"])  # never calculated: openpyxl saves no result
    zh = wb.create_sheet("华东明细")
    zh.append(["城市", "2024年销量", "负责人", "增长率"])
    zh.append(["杭州", 58, "沈青禾", 0.125])
    zh.append(["宁波", 41, "陆远舟", 0.07])
    for cell in ("D2", "D3"):
        zh[cell].number_format = "0.0%"
    lookup = wb.create_sheet("Lookup")
    lookup.append(["secret code", "Marigold-7"])
    lookup.sheet_state = "hidden"
    if hidden_only:
        wb.remove(ws)
        wb.remove(zh)
        wb.create_sheet("Blank")
    wb.save(path)
    return path


def make_xls(path: Path) -> Path:
    import xlwt  # writes BIFF8, the .xls format; xlrd only reads it

    book = xlwt.Workbook()
    sheet = book.add_sheet("Staff")
    day = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for col, name in enumerate(["Name", "Team", "Joined"]):
        sheet.write(0, col, name)
    sheet.write(1, 0, "Ansel Brightwater")
    sheet.write(1, 1, "Kiln")
    sheet.write(1, 2, dt.date(2018, 2, 3), day)
    sheet.write_merge(2, 3, 1, 1, "Forge")  # one team over two people
    sheet.write(2, 0, "Bodil Marsh")
    sheet.write(2, 2, dt.date(2021, 1, 11), day)
    sheet.write(3, 0, "Cyrus Oakhollow")
    sheet.write(3, 2, dt.date(2022, 5, 20), day)
    hidden = book.add_sheet("Scratch")
    hidden.write(0, 0, "draft")
    hidden.visibility = 1  # BOUNDSHEET hidden flag
    book.save(str(path))
    return path


def make_pptx(path: Path) -> Path:
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    deck.core_properties.title = "Harbour renewal"
    first = deck.slides.add_slide(deck.slide_layouts[1])
    first.shapes.title.text = "Harbour renewal plan"
    first.placeholders[1].text = "Phase one of the Saltmere pier opens in May 2027\nThe budget is 4 million euros"
    first.notes_slide.notes_text_frame.text = "Mention that the ferry keeps running."
    second = deck.slides.add_slide(deck.slide_layouts[5])
    second.shapes.title.text = "Costs"
    table = second.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for r, row in enumerate([["Item", "Cost"], ["Saltmere pier", "2 million euros"], ["Dredging the channel", "1.5 million euros"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    deck.slides.add_slide(deck.slide_layouts[6])  # an empty slide still counts as slide 3
    fourth = deck.slides.add_slide(deck.slide_layouts[5])
    fourth.shapes.title.text = "Timeline"
    box = fourth.shapes.add_textbox(Inches(1), Inches(2), Inches(6), Inches(1))
    box.text_frame.text = "Dredging the channel starts in March 2026"
    deck.save(path)
    return path


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Kiln trials", 1)
    document.add_paragraph("Three kilns were fired in the spring trials.")
    table = document.add_table(rows=4, cols=3)
    for r, row in enumerate([["Kiln", "Peak temperature (°C)", "Operator"], ["K1", "1280", "Ansel"], ["K2", "1310", "Bodil"], ["K3", "1195", "Cyrus"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.save(path)
    return path


def encrypted(path: Path, plain: Path) -> Path:
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    with open(plain, "rb") as handle:
        OOXMLFile(handle).encrypt("s3cret", out)
    path.write_bytes(out.getvalue())
    return path


def test_sheets_slides_and_word_tables_read_as_rows_with_their_names(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="rag.ingest"):
        xlsx = load_document(make_xlsx(tmp_path / "sales.xlsx"), tmp_path)
    assert [p.label for p in xlsx.pages] == ["sheet Sales", "sheet 华东明细"]  # the hidden sheet is left out
    assert "Region: East | Sales 2023: 120 | Sales 2024: 135 | Opened: 2019-04-01" in xlsx.text.splitlines()
    assert "城市: 杭州 | 2024年销量: 58 | 负责人: 沈青禾 | 增长率: 12.5%" in xlsx.text.splitlines()
    assert "Marigold" not in xlsx.text and "=SUM" not in xlsx.text
    assert "1 formula cells have no saved result" in caplog.text

    xls = load_document(make_xls(tmp_path / "staff.xls"), tmp_path)
    assert [p.label for p in xls.pages] == ["sheet Staff"]
    assert xls.text.splitlines() == [
        "Name: Ansel Brightwater | Team: Kiln | Joined: 2018-02-03",
        "Name: Bodil Marsh | Team: Forge | Joined: 2021-01-11",
        "Name: Cyrus Oakhollow | Team: Forge | Joined: 2022-05-20",  # the merged cell reaches both rows
    ]

    deck = load_document(make_pptx(tmp_path / "plan.pptx"), tmp_path)
    assert deck.title == "Harbour renewal"
    assert [p.label for p in deck.pages] == ["slide 1", "slide 2", "slide 3", "slide 4"]
    slides = {p.label: deck.text[p.start:] for p in deck.pages}
    assert slides["slide 1"].startswith("Harbour renewal plan\n\nPhase one of the Saltmere pier opens in May 2027")
    assert "Mention that the ferry keeps running." in slides["slide 1"].split("Costs")[0]
    assert slides["slide 2"].startswith("Costs\n\nItem: Saltmere pier | Cost: 2 million euros")
    assert deck.page_at(deck.text.index("Dredging the channel starts")) == 4

    word = load_document(make_docx(tmp_path / "kiln.docx"), tmp_path)
    assert "Kiln: K2 | Peak temperature (°C): 1310 | Operator: Bodil" in word.text.splitlines()

    (tmp_path / "prices.csv").write_bytes("水果;价格;产地\n苹果;1.20;烟台\n梨;2;砀山\n".encode("gb18030"))
    prices = load_document(tmp_path / "prices.csv", tmp_path)
    assert prices.text.splitlines() == ["水果: 苹果 | 价格: 1.20 | 产地: 烟台", "水果: 梨 | 价格: 2 | 产地: 砀山"]


def test_big_sheets_stream_and_stop_at_the_cap_with_a_note(tmp_path, monkeypatch, caplog):
    import openpyxl

    import rag.ingest.sheets as sheets

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Region", "Sales", None])
    ws.merge_cells("B1:C1")
    ws.append([None, 2023, 2024])
    for i in range(60):
        ws.append([f"Zone {i}", i, i * 2])
    wb.save(tmp_path / "big.xlsx")
    monkeypatch.setattr(sheets, "FULL_MODE_MAX_BYTES", 0)  # read-only mode, as for a large workbook
    monkeypatch.setattr(sheets, "MAX_TABLE_ROWS", 25)
    with caplog.at_level(logging.WARNING, logger="rag.ingest"):
        doc = load_document(tmp_path / "big.xlsx", tmp_path)
    lines = doc.text.splitlines()
    assert lines[0] == "Region: Zone 0 | Sales 2023: 0 | Sales 2024: 0"  # merged title read without merge info
    assert len(lines) == 23 and "only its first 25 rows are indexed" in caplog.text


def test_bad_office_files_get_a_one_line_reason(tmp_path):
    good = make_xlsx(tmp_path / "good.xlsx")
    cases = {
        "locked.xlsx": encrypted(tmp_path / "locked.xlsx", good),
        "locked.docx": encrypted(tmp_path / "locked.docx", make_docx(tmp_path / "plain.docx")),
        "cut.pptx": tmp_path / "cut.pptx",
        "cut.xls": tmp_path / "cut.xls",
        "hidden.xlsx": make_xlsx(tmp_path / "hidden.xlsx", hidden_only=True),
    }
    (tmp_path / "cut.pptx").write_bytes(make_pptx(tmp_path / "p.pptx").read_bytes()[:6000])
    (tmp_path / "cut.xls").write_bytes(make_xls(tmp_path / "s.xls").read_bytes()[:2000])
    expected = {
        "locked.xlsx": "password-protected Excel file: open it, remove the password",
        "locked.docx": "password-protected Word file",
        "cut.pptx": "not a readable .pptx",
        "cut.xls": "corrupt .xls",
        "hidden.xlsx": "no values in its visible sheets",
    }
    for name, path in cases.items():
        with pytest.raises(IngestError) as caught:
            load_document(path, tmp_path)
        message = str(caught.value)
        assert message.startswith(f"{name}: ") and expected[name] in message and "\n" not in message, message


# ---- asked through the Assistant, with the real model ---------------------------------------


@pytest.fixture(scope="module")
def office_assistant(tmp_path_factory):
    from rag import Assistant

    docs = tmp_path_factory.mktemp("office")
    make_xlsx(docs / "sales.xlsx")
    make_xls(docs / "staff.xls")
    make_pptx(docs / "plan.pptx")
    make_docx(docs / "kiln.docx")
    encrypted(docs / "locked.xlsx", docs / "sales.xlsx")
    (docs / "notes.txt").write_text("The Saltmere harbour office opens at nine on weekdays.\n", encoding="utf-8")
    assistant = Assistant(docs, tmp_path_factory.mktemp("office-index"))
    report = assistant.ingest()
    assert [source for source, _ in report.skipped] == ["locked.xlsx"]
    return assistant


@pytest.mark.slow
@pytest.mark.parametrize(
    "question, source, label, quoted",
    [
        ("How many units did the North region sell in 2024?", "sales.xlsx", "sheet Sales", "Region: North | Sales 2023: 77 | Sales 2024: 64"),
        ("杭州2024年销量是多少？", "sales.xlsx", "sheet 华东明细", "城市: 杭州 | 2024年销量: 58"),
        ("Which team is Cyrus Oakhollow in?", "staff.xls", "sheet Staff", "Name: Cyrus Oakhollow | Team: Forge"),
        ("How much does dredging the channel cost?", "plan.pptx", "slide 2", "Item: Dredging the channel | Cost: 1.5 million euros"),
        ("When does phase one of the Saltmere pier open?", "plan.pptx", "slide 1", "Phase one of the Saltmere pier opens in May 2027"),
        ("What peak temperature did kiln K2 reach?", "kiln.docx", "", "Kiln: K2 | Peak temperature (°C): 1310"),
    ],
)
def test_a_cell_is_answered_from_its_row_and_cited_to_its_sheet_or_slide(office_assistant, question, source, label, quoted):
    answer = office_assistant.ask(question)
    assert not answer.abstained, answer
    top = answer.citations[0]
    assert top.source == source and quoted in top.quote, answer
    assert top.page_label == label and (top.page is None) == (label == ""), top
    assert office_assistant.document_text(source)[top.start:top.end] == top.quote
