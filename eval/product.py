"""The system under test: `rag.Assistant` over the docs, through its public API only."""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from rag import Assistant, Config

from .metrics import RETRIEVE_K, Cited, Passage, QuestionResult, SystemAnswer, score_question
from .questions import EVAL_DIR, Question

# The index depends on these modules; a change to any of them gets a fresh cached index.
INDEX_MODULES = ("chunking", "config", "embeddings", "index", "ingest", "sync", "text", "types")
BUILD_RECORD = "eval-build.json"


@dataclass
class Build:
    """How the index was obtained for this run."""

    index_dir: str
    seconds: float  # the time the (last fresh) build took
    chunks: int
    cached: bool  # True: the index already existed; `seconds` is from when it was built


def default_index_dir(docs_dir: Path, config: Config) -> Path:
    """eval/.index-<hash>: one cached index per corpus, model, chunking and index code."""
    import rag

    digest = hashlib.sha256()
    digest.update(str(Path(docs_dir).resolve()).encode())
    digest.update(f"{config.embed_model}|{config.chunk_tokens}|{config.chunk_overlap}".encode())
    package = Path(rag.__file__).parent
    for name in INDEX_MODULES:
        module = package / f"{name}.py"
        # A module may be a package (rag/ingest/): then every file in it counts.
        files = [module] if module.exists() else sorted((package / name).rglob("*.py"))
        for path in files:
            digest.update(path.read_bytes())
    return EVAL_DIR / f".index-{digest.hexdigest()[:12]}"


def open_assistant(
    docs_dir: Path, index_dir: Path | None = None, config: Config | None = None, llm: str = "extractive"
) -> tuple[Assistant, Build]:
    """An Assistant with its index up to date, and how long building it took.

    The backend is `llm` (extractive unless asked), whatever RAG_LLM says.
    """
    config = (config or Config.from_env()).with_(docs_dir=Path(docs_dir), llm=llm)
    if index_dir is None:
        index_dir = default_index_dir(docs_dir, config)
        prune_cached_indexes(keep=index_dir)
    index_dir = Path(index_dir)
    assistant = Assistant(config=config.with_(index_dir=index_dir))
    assistant.embedder.model  # load the model before timing the build
    report = assistant.ingest()
    return assistant, record_build(index_dir, report, assistant.status()["chunks"])


def prune_cached_indexes(keep: Path, spare: int = 8) -> None:
    """Delete old eval/.index-* folders, keeping `keep` and the `spare` most recent others."""
    import shutil

    ours = [p for p in EVAL_DIR.glob(".index-*") if re.fullmatch(r"\.index-[0-9a-f]{12}", p.name) and p != keep]
    others = sorted(ours, key=lambda p: p.stat().st_mtime, reverse=True)
    for old in others[spare:]:
        shutil.rmtree(old, ignore_errors=True)


def record_build(index_dir: Path, report, chunks: int) -> Build:
    """Remember a fresh build's time next to the index; read it back on a cached run."""
    record = Path(index_dir) / BUILD_RECORD
    fresh = bool(report.added or report.updated or report.removed)
    if fresh or not record.exists():
        build = Build(str(index_dir), round(report.seconds, 2), chunks, cached=not fresh)
        record.write_text(json.dumps(vars(build)))
        return build
    saved = json.loads(record.read_text())
    return Build(str(index_dir), saved["seconds"], chunks, cached=True)


def evaluate_product(assistant: Assistant, questions: list[Question], top_k: int | None = None) -> list[QuestionResult]:
    """Retrieve (top 5) and answer every question; top_k overrides the answerer's passage count."""
    assistant.retrieve(questions[0].question, top_k=RETRIEVE_K)  # warm-up: BM25, jieba, first query
    return [evaluate_one(assistant, q, top_k) for q in questions]


def evaluate_one(assistant: Assistant, q: Question, top_k: int | None) -> QuestionResult:
    """One question through a.retrieve and a.ask, timed separately."""
    began = time.perf_counter()
    candidates = assistant.retrieve(q.question, top_k=top_k or RETRIEVE_K)
    retrieve_ms = (time.perf_counter() - began) * 1000
    began = time.perf_counter()
    answer = assistant.ask(q.question, top_k=top_k)
    answer_ms = (time.perf_counter() - began) * 1000
    passages = [Passage(c.chunk.source, c.chunk.text) for c in candidates]
    system_answer = SystemAnswer(
        text=answer.text,
        abstained=answer.abstained,
        citations=[Cited(c.source, c.quote) for c in answer.citations],
        grounded=answer.grounded,
    )
    return score_question(q, passages, system_answer, retrieve_ms, answer_ms)


def quote_ceiling(assistant: Assistant, questions: list[Question]) -> float | None:
    """Share of supporting quotes still present in the cleaned document text (recall's ceiling)."""
    from .matching import quote_in

    texts: dict[str, str] = {}
    found = total = 0
    for q in questions:
        for quote in q.supporting_quotes:
            total += 1
            docs = [texts.setdefault(d, assistant.document_text(d) or "") for d in q.supporting_docs]
            found += any(quote_in(quote, text) for text in docs)
    return found / total if total else None
