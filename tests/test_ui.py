"""The web UI: pure helpers first, then the real app in a real browser (no mocks).

The browser test starts `python -m ui` on a copy of seeds/ with a fresh index, drives
Debian's Chromium with Playwright and saves a screenshot per step to test-artifacts/
(02-answer.png is the one docs/screenshot.png was taken from).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from _servers import ServerProcess, answers_http, free_port
from rag.types import Citation
from ui import render
from ui.corpus import safe_filename

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'


# ---- pure helpers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("report.txt", "report.txt"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\evil.md", "evil.md"),
        ("/abs/path/notes.PDF", "notes.pdf"),
        ("..", "upload"),
        (".hidden.txt", "hidden.txt"),
        ("创新区 简介（2024）.docx", "创新区 简介（2024）.docx"),
        ("a<b>:c|d?.txt", "a_b__c_d.txt"),
        ("name\x00with\nctrl.txt", "name with ctrl.txt"),
        ("...txt", "txt"),  # no suffix left: refused as unsupported
        ("../.txt", "txt"),
    ],
)
def test_safe_filename(raw, expected):
    assert safe_filename(raw) == expected


def test_safe_filename_is_bounded():
    name = safe_filename("x" * 500 + ".txt")
    assert name.endswith(".txt") and len(name) <= 120


def _citation(**kw):
    base = dict(n=1, source="dir/a.txt", title="T", quote="Q", start=0, end=1, score=1.0, date="")
    base.update(kw)
    return Citation(**base)


def test_source_cards_escape_document_text():
    text = f"Intro {XSS} before. The quote {XSS} here. After {XSS}."
    quote = f"The quote {XSS} here."
    start = text.index(quote)
    cit = _citation(title=f"Title {XSS}", quote=quote, start=start, end=start + len(quote), date="2024<b>")
    html = render.source_cards_html([cit], lambda s: text, turn=3)
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html and "&lt;img" in html
    assert html.count("<mark") == 2  # the snippet and the full document
    assert 'id="rag-src-3-1"' in html and "a.txt" in html


def test_source_cards_tolerate_moved_offsets_and_missing_text():
    cit = _citation(quote="needle", start=999, end=1005)
    html = render.source_cards_html([cit], lambda s: "hay needle hay", turn=1)
    assert "<mark>needle</mark>" in html
    html = render.source_cards_html([cit], lambda s: None, turn=1)
    assert "<mark>needle</mark>" in html and "not available" in html


def test_slides_and_sheets_show_their_label_but_no_page_button():
    slide = _citation(source="deck/plan.pptx", page=2, page_label="slide 2")
    html = render.source_cards_html([slide], lambda s: "Q and more", turn=1)
    assert "slide 2" in html and "rag-page-btn" not in html
    scan = _citation(source="scan.pdf", page=3, page_label="p. 3")
    assert "View p. 3" in render.source_cards_html([scan], lambda s: "Q and more", turn=1)


def test_passage_context_is_about_200_chars():
    text = "a " * 400 + "QUOTE" + " b" * 400
    start = text.index("QUOTE")
    html = render.passage_html(text, (start, start + 5), "QUOTE")
    before, after = html.split("<mark>QUOTE</mark>")
    assert 150 <= len(before) <= 230 and 150 <= len(after) <= 230


def test_answer_markdown_escapes_and_links_only_real_citations():
    md = render.answer_markdown("Huawei [1] and <img src=x onerror=alert(1)> [2] [7] [link](javascript:x)", [1, 2], 5)
    assert '<a class="rag-cite" href="#rag-src-5-1"' in md and 'href="#rag-src-5-2"' in md
    assert "rag-src-5-7" not in md
    assert "<img" not in md and "&lt;img" in md
    assert "](javascript" not in md


def test_a_turn_shows_the_evidence_at_once_and_the_model_answer_above_it():
    from rag import Answer, Citation
    from ui.app import WRITING, render_turn

    def cite(n, source, start):
        return Citation(n=n, source=source, title="", quote="q", start=start, end=start + 10, score=1.0)

    evidence = Answer(question="q", text="Quoted one. [1] Quoted two. [2]", citations=[cite(1, "a.txt", 0), cite(2, "b.txt", 50)])
    first, cards = render_turn(evidence, evidence, True, 3)
    assert first.startswith(WRITING) and "Evidence" in first and "Quoted two" in first and cards == evidence.citations
    partial = Answer(question="q", text="Lumen and Quill will join", citations=evidence.citations, backend="local", partial=True)
    streaming, _ = render_turn(partial, evidence, True, 3)
    assert streaming.index("Lumen and Quill") < streaming.index("Evidence") and "Quoted one" in streaming
    final = Answer(question="q", text="Lumen and Quill will join [1].", citations=[cite(1, "b.txt", 52)], backend="local")
    done, cards = render_turn(final, evidence, True, 3)
    assert done.index("Lumen and Quill") < done.index("Answer by the local LLM") < done.index("Evidence")
    assert [(c.n, c.source) for c in cards] == [(1, "b.txt"), (2, "a.txt")]  # the evidence's b.txt quote is the answer's [1]
    assert "Quoted one" in done and 'href="#rag-src-3-2"' in done.split("Evidence")[1]
    failed = Answer(question="q", text=evidence.text, citations=evidence.citations, notice="The local model did not answer (x); To fix: y.")
    fallback, cards = render_turn(failed, evidence, True, 3)
    assert fallback.startswith("⚠ *The local model did not answer") and "Quoted one" in fallback and cards == evidence.citations
    quotes_only, _ = render_turn(evidence, evidence, False, 3)
    assert "extractive backend" in quotes_only and WRITING not in quotes_only


# ---- corpus operations on a real Assistant (small corpus, real model) -----------------


@pytest.mark.slow
def test_corpus_uploads_and_deletes(tmp_path, monkeypatch):
    from rag import Assistant

    from ui.corpus import Corpus

    docs, uploads = tmp_path / "docs", tmp_path / "uploads"
    docs.mkdir()
    uploads.mkdir()
    (docs / "base.txt").write_text("The Lumen Bridge in Chaoyang opened in 2020.\n", encoding="utf-8")
    assistant = Assistant(docs, tmp_path / "index")
    corpus = Corpus(assistant)
    assistant.ingest()

    def upload(name: str, data: bytes | str) -> Path:
        path = uploads / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    same = upload("base.txt", (docs / "base.txt").read_bytes())
    other = upload("notes.md", "# Orchard Lab\n\nThe Orchard Lab grows apples under LED light.\n")
    clash_dir = uploads / "clash"
    clash_dir.mkdir()
    clash = clash_dir / "base.txt"
    clash.write_text("A different base: the Quartz Tower is 300 metres tall.\n", encoding="utf-8")
    junk = upload("broken.docx", os.urandom(2048))
    exe = upload("tool.exe", b"MZ")
    empty = upload("empty.txt", b"")
    out = corpus.add_files([str(same), str(other), str(clash), str(junk), str(exe), str(empty)])
    got = {(r.name, r.outcome) for r in out.results}
    assert ("base.txt", "unchanged") in got
    assert ("notes.md", "added") in got
    assert ("broken.docx", "skipped") in got and not (docs / "broken.docx").exists()
    assert ("tool.exe", "rejected") in got and ("empty.txt", "rejected") in got
    renamed = [r for r in out.results if r.outcome == "added" and r.source.startswith("base")]
    assert renamed and renamed[0].source == "base (2).txt", out.results
    assert "Lumen Bridge" in (docs / "base.txt").read_text()  # never overwritten
    indexed = {f.source for f in assistant.documents()}
    assert indexed == {"base.txt", "base (2).txt", "notes.md"}

    monkeypatch.setenv("RAG_UI_MAX_UPLOAD_MB", "0.001")
    big = upload("big.txt", "x " * 2000)
    assert corpus.add_files([str(big)]).results[0].outcome == "rejected"
    assert not (docs / "big.txt").exists()

    from rag import RagError

    with pytest.raises(RagError, match="outside the documents folder"):
        corpus.delete("../index/chroma.sqlite3")
    corpus.delete("notes.md")
    assert not (docs / "notes.md").exists()
    assert {f.source for f in assistant.documents()} == {"base.txt", "base (2).txt"}


# ---- the real app in a real browser ---------------------------------------------------

ZEPHYRION = (
    "Zephyrion Robotics joins the Shanhewangu innovation zone\n\n"
    "Zephyrion Robotics, a maker of warehouse robots, will open a robotics research lab in the "
    "Shanhewangu innovation zone in 2031. The Zephyrion lab will employ 300 engineers.\n"
)
QUILLFEATHER = (
    f"Quillfeather Observatory notes {XSS}\n\n"
    f"The Quillfeather Observatory measures cosmic dust over Chaoyang with a seven metre telescope {XSS}. "
    "It was opened in 2029 by its director, Dr. Ilsabet Varro.\n"
)

ORCHARD = "The Velmora orchard lab grows apples under violet LED light. It opened in 2029 in Dunmere.\n"
TESSELLATE = "Tessellate kiln notes\n\nThe Tessellate kiln in Harbour Ward fires stoneware at 1320 degrees.\n"


class Server(ServerProcess):
    """`python -m ui` on a folder, without a password."""

    def __init__(self, docs: Path, index: Path, port: int):
        env = dict(os.environ)
        env.update(
            RAG_DOCS_DIR=str(docs),
            RAG_INDEX_DIR=str(index),
            RAG_UI_HOST="127.0.0.1",
            RAG_UI_PORT=str(port),
            PYTHONUNBUFFERED="1",
            GRADIO_ANALYTICS_ENABLED="False",
        )
        env.pop("RAG_UI_AUTH", None)
        super().__init__("the UI", [sys.executable, "-m", "ui"], env=env, cwd=ROOT)
        self.url = f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is missing: apt-get install -y chromium chromium-driver (or make browser)")
    docs = tmp_path_factory.mktemp("corpus")
    for f in SEEDS.iterdir():
        if f.is_file():
            shutil.copy2(f, docs / f.name)
    (docs / "quillfeather_notes.txt").write_text(QUILLFEATHER, encoding="utf-8")
    index = tmp_path_factory.mktemp("index")
    orchard = tmp_path_factory.mktemp("orchard")
    (orchard / "orchard.txt").write_text(ORCHARD, encoding="utf-8")
    from rag import Config
    from rag.kb import add_base

    add_base(Config.from_env(docs_dir=docs, index_dir=index), "orchard", orchard)  # a second knowledge base
    server = Server(docs, index, free_port())
    server.docs = docs
    try:
        server.wait_until(lambda: answers_http(server.url), timeout=90)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class ChatPage:
    def __init__(self, page, shots: Path):
        self.page = page
        self.shots = shots

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def tab(self, name: str) -> None:
        self.page.locator(f"#rag-tab-{name}-button").click()

    def bot_count(self) -> int:
        return self.page.locator('#rag-chatbot [data-testid="bot"]').count()

    def ask(self, question: str, timeout: float = 60) -> tuple[str, float]:
        """Submit a question; return the answer text and seconds to its first text."""
        page = self.page
        self.tab("chat")
        before = self.bot_count()
        box = page.locator("#rag-question textarea")
        box.fill(question)
        began = time.perf_counter()
        box.press("Enter")
        page.wait_for_function(
            """([n, thinking]) => {
                const bots = document.querySelectorAll('#rag-chatbot [data-testid="bot"]');
                if (bots.length <= n) return false;
                const t = bots[bots.length - 1].innerText.trim();
                return t.length > 0 && !t.includes(thinking);
            }""",
            arg=[before, "Searching the documents"],
            timeout=timeout * 1000,
        )
        first_text = time.perf_counter() - began
        # the streamed update is final once the sources panel shows this turn's cards
        page.wait_for_function(
            "() => !document.querySelector('#rag-sources').innerText.includes('Searching…')", timeout=timeout * 1000
        )
        text = page.locator('#rag-chatbot [data-testid="bot"]').last.inner_text()
        return text, first_text

    def cited_sources(self) -> list[str]:
        return self.page.eval_on_selector_all("#rag-sources .rag-card", "els => els.map(e => e.dataset.source)")


@pytest.mark.slow
def test_app_in_browser(app_server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    timings: dict[str, float] = {}
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    ui = ChatPage(page, ARTIFACTS)

    # 1. page load, example questions, startup indexing status
    began = time.perf_counter()
    page.goto(app_server.url, wait_until="domcontentloaded")
    page.locator("#rag-question textarea").wait_for(state="visible", timeout=30_000)
    timings["page_load_s"] = time.perf_counter() - began
    body = page.locator("body").inner_text()
    for example in ("Which companies will join the Shanhewangu innovation zone?", "哪些企业将入驻山河湾谷创新区？", "哪些企業將入駐山河灣谷創新區？"):
        assert example in body, f"example question missing: {example}"
    ui.shot("01-loaded")
    began = time.perf_counter()
    page.wait_for_function(
        "() => document.querySelector('#rag-header-status').innerText.includes('Documents:')", timeout=240_000
    )
    timings["startup_index_wait_s"] = time.perf_counter() - began
    assert "Documents: 6" in page.locator("#rag-header-status").inner_text(), app_server.log()
    began = time.perf_counter()
    page.reload(wait_until="domcontentloaded")
    page.locator("#rag-question textarea").wait_for(state="visible", timeout=30_000)
    timings["page_reload_ready_s"] = time.perf_counter() - began

    # 2. the main question: answer with sources, cards with the quote in context
    text, timings["ask_first_text_s"] = ui.ask("Which companies will join the Shanhewangu innovation zone?")
    ui.shot("02-answer")
    ARTIFACTS.joinpath("answer.txt").write_text(text, encoding="utf-8")
    assert "002_e1ad1554a458d264.txt" in ui.cited_sources()
    card = page.locator('#rag-sources .rag-card[data-source="002_e1ad1554a458d264.txt"]').first
    assert "002_e1ad1554a458d264.txt" in card.inner_text()
    assert card.locator(".rag-passage mark").count() == 1
    assert re.search(r"\[1\]", text)
    # Answer content is the library's job: checked at the end so every UI step still runs.
    missing = [c for c in ("Huawei", "Xiaomi", "Alibaba") if c not in text]

    # clicking an [n] opens its card with the full document, the quote highlighted
    page.locator("#rag-chatbot a.rag-cite").first.click()
    page.wait_for_selector("#rag-sources details.rag-card[open] .rag-doc mark", timeout=5_000)
    ui.shot("03-source-opened")

    # 3. XSS: a cited document with <script> and <img onerror> stays text
    text, timings["ask_xss_doc_s"] = ui.ask("What does the Quillfeather Observatory measure?")
    assert "quillfeather_notes.txt" in ui.cited_sources(), text
    page.locator('#rag-sources .rag-card[data-source="quillfeather_notes.txt"]').first.click()
    page.wait_for_timeout(300)
    ui.shot("04-xss-escaped")
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert page.locator("#rag-sources img, #rag-sources script, #rag-chatbot img[src='x']").count() == 0
    panel = page.locator("#rag-sources").inner_text()
    assert "window.__pwned" in panel, "the payload should show as plain text"

    # 4. upload: a new document is added, junk is skipped and removed, other types refused
    ui.tab("docs")
    upload_dir = ARTIFACTS / "uploads"
    upload_dir.mkdir(exist_ok=True)
    zeph = upload_dir / "zephyrion_robotics.txt"
    zeph.write_text(ZEPHYRION, encoding="utf-8")
    junk = upload_dir / "junk.pdf"
    junk.write_bytes(os.urandom(4096))
    began = time.perf_counter()
    page.locator("#rag-upload input[type=file]").set_input_files([str(zeph), str(junk)])
    result = page.locator("#rag-upload-result")
    result.locator("text=zephyrion_robotics.txt").wait_for(timeout=90_000)
    timings["upload_and_index_s"] = time.perf_counter() - began
    rows = {
        r.locator("td").nth(0).inner_text(): r.locator("td").nth(1).inner_text()
        for r in result.locator("tbody tr").all()
    }
    assert rows.get("zephyrion_robotics.txt") == "added", rows
    assert rows.get("junk.pdf") == "skipped", rows
    assert (app_server.docs / "zephyrion_robotics.txt").is_file()
    assert not (app_server.docs / "junk.pdf").exists(), "a file that failed to ingest must be removed"
    page.locator("#rag-docs-table").locator("text=zephyrion_robotics.txt").wait_for(timeout=10_000)
    ui.shot("05-uploaded")
    # a type the library cannot read never reaches the corpus (Gradio or the app refuses it)
    exe = upload_dir / "tool.exe"
    exe.write_bytes(b"MZ" + os.urandom(512))
    page.locator("#rag-upload input[type=file]").set_input_files([str(exe)])
    page.wait_for_timeout(1500)
    ui.shot("05b-exe-refused")
    assert not any(p.suffix == ".exe" for p in app_server.docs.iterdir())

    # 5. the uploaded fact is answered and cited
    question = "When will Zephyrion Robotics open its lab in the Shanhewangu innovation zone?"
    text, timings["ask_uploaded_s"] = ui.ask(question)
    ui.shot("06-uploaded-answer")
    assert "zephyrion_robotics.txt" in ui.cited_sources(), text
    assert "2031" in text

    # 6. delete it: file gone, index updated, no longer cited
    ui.tab("docs")
    choice = page.locator("#rag-doc-choice input")
    choice.click()
    choice.fill("zephyrion")
    page.locator("ul[role=listbox] li", has_text="zephyrion_robotics.txt").first.click()
    page.locator("#rag-doc-view").locator("text=Zephyrion Robotics").first.wait_for(timeout=10_000)
    page.once("dialog", lambda d: d.accept())
    page.locator("#rag-delete").click()
    page.locator("#rag-docs-notice").locator("text=Deleted zephyrion_robotics.txt").wait_for(timeout=60_000)
    assert not (app_server.docs / "zephyrion_robotics.txt").exists()
    ui.shot("07-deleted")
    text, timings["ask_after_delete_s"] = ui.ask(question)
    ui.shot("08-after-delete")
    assert "zephyrion_robotics.txt" not in ui.cited_sources(), text

    # 6b. the watched folder (on by default): a file put straight into the folder is listed and answered
    ui.tab("docs")
    assert page.locator("#rag-watch input[type=checkbox]").is_checked()
    began = time.perf_counter()
    (app_server.docs / "tessellate_kiln.txt").write_text(TESSELLATE, encoding="utf-8")
    page.locator("#rag-docs-table").locator("text=tessellate_kiln.txt").wait_for(timeout=30_000)
    timings["watch_pickup_s"] = time.perf_counter() - began
    assert "added tessellate_kiln.txt" in page.locator("#rag-watch-note").inner_text()
    ui.shot("08b-watched")
    text, _ = ui.ask("How hot does the Tessellate kiln fire?")
    assert "tessellate_kiln.txt" in ui.cited_sources() and "1320" in text, text

    # 7. an empty question is a message in the chat, and the app keeps serving
    before = ui.bot_count()
    page.locator("#rag-ask").click()
    page.wait_for_function(
        "n => document.querySelectorAll('#rag-chatbot [data-testid=\"bot\"]').length > n", arg=before, timeout=10_000
    )
    assert "type a question" in page.locator('#rag-chatbot [data-testid="bot"]').last.inner_text()
    text, _ = ui.ask("What is the capital of Mars?")
    assert render.ABSTAIN_TEXT in text, text
    assert ui.cited_sources() == [], "an abstained answer shows no sources"
    text, _ = ui.ask("哪些企业将入驻山河湾谷创新区？")
    assert "[1]" in text or render.ABSTAIN_TEXT in text
    ui.shot("09-chinese-follow-up")

    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert not errors, errors
    ARTIFACTS.joinpath("timings.json").write_text(json.dumps(timings, indent=2))
    print("\nUI timings: " + ", ".join(f"{k}={v:.2f}" for k, v in timings.items()))
    assert not missing, f"the answer does not name {missing}: {ARTIFACTS.joinpath('answer.txt').read_text()}"


@pytest.mark.slow
def test_knowledge_base_selector_and_retrieval_view(app_server, browser):
    """The retrieval test lists ranked passages with their scores; the selector switches the
    chat and the retrieval test to another base, and back."""
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    ui = ChatPage(page, ARTIFACTS)
    page.goto(app_server.url, wait_until="domcontentloaded")
    page.locator("#rag-kb input").wait_for(state="visible", timeout=30_000)
    page.wait_for_function(
        "() => document.querySelector('#rag-header-status').innerText.includes('Documents:')", timeout=240_000
    )

    def retrieval(query: str) -> list[str]:
        ui.tab("retrieval")
        page.locator("#rag-retrieval-query textarea").fill(query)
        page.locator("#rag-retrieval-run").click()
        page.wait_for_function(  # this query's table, not the previous one's
            "q => [...document.querySelectorAll('#rag-retrieval-results .rag-ranked-for')].some(p => p.dataset.query === q)",
            arg=query, timeout=30_000,
        )
        return page.eval_on_selector_all("#rag-retrieval-results .rag-ranked-row", "rows => rows.map(r => r.dataset.source)")

    def choose_base(name: str) -> None:
        box = page.locator("#rag-kb input")
        box.click()
        page.locator("ul[role=listbox] li", has_text=name).first.click()
        page.wait_for_function(
            "n => document.querySelector('#rag-kb input').value === n", arg=name, timeout=60_000
        )

    query = "Which companies will join the Shanhewangu innovation zone?"
    sources = retrieval(query)
    assert "002_e1ad1554a458d264.txt" in sources and "orchard.txt" not in sources
    table = page.locator("#rag-retrieval-results").inner_text()
    for header in ("Fused (RRF)", "Dense sim. (rank)", "BM25 score (rank)", "File", "Page", "Lang"):
        assert header in table
    first = page.locator("#rag-retrieval-results .rag-ranked-row").first.locator("td")
    assert re.fullmatch(r"0\.\d{4}", first.nth(1).inner_text()), first.nth(1).inner_text()  # fused score
    assert re.search(r"\d\.\d{3}", first.nth(2).inner_text())  # dense similarity
    ui.shot("10-retrieval-test")

    default = page.locator("#rag-kb input").input_value()
    choose_base("orchard")
    page.wait_for_function(
        "() => document.querySelector('#rag-header-status').innerText.includes('Documents: 1 ')", timeout=60_000
    )
    assert retrieval("What does the Velmora orchard lab grow?") == ["orchard.txt"]
    text, _ = ui.ask("What does the Velmora orchard lab grow?")
    assert "apples" in text and ui.cited_sources() == ["orchard.txt"], text
    text, _ = ui.ask(query)  # the other base's question
    assert render.ABSTAIN_TEXT in text and ui.cited_sources() == [], text
    ui.shot("11-other-knowledge-base")

    choose_base(default)
    text, _ = ui.ask(query)
    assert "002_e1ad1554a458d264.txt" in ui.cited_sources(), text
    assert not errors, errors
