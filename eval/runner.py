"""One eval run: the product, optionally the peer, summarised into a report dict."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from rag import Assistant, Config

from .metrics import peak_memory_mb, summarize
from .product import Build, evaluate_product, open_assistant, quote_ceiling, record_build
from .questions import Question
from .report import build_report, results_json


def configuration(assistant: Assistant, top_k: int | None) -> dict:
    """The settings that decide the product's numbers."""
    config = assistant.config
    return {
        "backend": config.llm,
        "embed_model": config.embed_model,
        "chunk_tokens": config.chunk_tokens,
        "chunk_overlap": config.chunk_overlap,
        "answer_top_k": top_k or config.top_k,
        "retrieve_top_k": top_k or 5,
        "candidates": config.candidates,
    }


def product_section(assistant: Assistant, build: Build, questions: list[Question], top_k: int | None = None) -> dict:
    """Evaluate the product on the questions; its report section."""
    results = evaluate_product(assistant, questions, top_k=top_k)
    return {
        "name": f"rag ({assistant.config.llm})",
        "configuration": configuration(assistant, top_k),
        **summarize(results),
        "build": asdict(build),
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "quote_ceiling": quote_ceiling(assistant, questions),
        "results": results_json(results),
    }


def peer_section(docs_dir: Path, questions: list[Question], config: Config | None = None) -> dict:
    """Build and evaluate the LlamaIndex peer; its report section."""
    import shutil

    from .peer import build_peer, evaluate_peer

    peer = build_peer(docs_dir, config)
    try:
        results = evaluate_peer(peer, questions)
    finally:
        shutil.rmtree(peer.persist_dir, ignore_errors=True)
    return {
        "name": "LlamaIndex + Chroma (top-1 node as answer)",
        **summarize(results),
        "build": {"seconds": peer.build_seconds, "nodes": peer.nodes},
        "store": peer.store,
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "results": results_json(results),
    }


def run_eval(
    docs_dir: Path,
    questions_file: Path,
    questions: list[Question],
    index_dir: Path | None = None,
    with_peer: bool = True,
    config: Config | None = None,
    top_k: int | None = None,
    assistant: Assistant | None = None,
    llm: str = "extractive",
) -> dict:
    """The full report: product (and peer) on the same questions and docs."""
    if assistant is None:
        assistant, build = open_assistant(docs_dir, index_dir, config, llm)
    else:
        build = record_build(assistant.config.index_dir, assistant.ingest(), assistant.status()["chunks"])
    product = product_section(assistant, build, questions, top_k)
    peer = peer_section(docs_dir, questions, assistant.config) if with_peer else None
    return build_report(questions_file, docs_dir, questions, product, peer)
