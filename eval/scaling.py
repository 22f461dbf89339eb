"""Retrieval latency and memory on synthetic indexes of 1k, 10k, 100k chunks.

The documents are real text: the seeds' cleaned sentences shuffled into new files
(each file keeps to one language), cleaned and chunked by the library as usual. The
chunk VECTORS are random unit vectors, written straight through `rag.index.ChunkIndex`:
embedding 100k chunks for real would take hours on two cores. BM25 is built over the
real chunk text by the library. So the timings are real Chroma + BM25 + fusion work at
that size, while the dense ranking itself is meaningless. Each size is built in one
subprocess and measured in a fresh one, so peak memory is the serving process's.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .metrics import latency, peak_memory_mb
from .questions import DEFAULT_DOCS, load_questions

SENTENCES_PER_FILE = 60
SCALE_QUESTIONS = 60  # the first 60 questions (all three scripts), each timed once
DIMENSION = 384  # multilingual-e5-small
WRITE_BATCH_CHUNKS = 2000  # files are written in batches: each Chroma write has a fixed cost


def seed_sentences(docs_dir: Path = DEFAULT_DOCS) -> dict[str, list[str]]:
    """The seeds' cleaned sentences, by language."""
    from rag.ingest import load_document
    from rag.text import split_sentences

    by_lang: dict[str, list[str]] = {}
    for path in sorted(Path(docs_dir).glob("*.txt")):
        doc = load_document(path, docs_dir)
        by_lang.setdefault(doc.lang, []).extend(doc.text[s:e] for s, e in split_sentences(doc.text))
    return by_lang


def synth_document(rng: random.Random, sentences: list[str], lang: str) -> str:
    """A new file: shuffled seed sentences, three to a paragraph."""
    picked = rng.sample(sentences, min(SENTENCES_PER_FILE, len(sentences)))
    joiner = "" if lang == "zh" else " "
    paragraphs = [joiner.join(picked[i : i + 3]) for i in range(0, len(picked), 3)]
    return "\n\n".join(paragraphs) + "\n"


def build(workdir: Path, target_chunks: int) -> dict:
    """Write synthetic files and index them with random vectors until target_chunks exist."""
    from rag import Config
    from rag.chunking import chunk_document
    from rag.index import ChunkIndex
    from rag.ingest import load_document

    docs_dir, index_dir = workdir / "docs", workdir / "index"
    docs_dir.mkdir(parents=True, exist_ok=True)
    config = Config.from_env(docs_dir=docs_dir, index_dir=index_dir)
    index = ChunkIndex(config, config.index_key)
    by_lang = seed_sentences()
    langs = [lang for lang in ("en", "zh", "zh", "zh", "zh") if lang in by_lang] or sorted(by_lang)  # like the seeds
    rng, vectors_rng = random.Random(0), np.random.default_rng(0)
    began, total, number, batch = time.perf_counter(), 0, 0, []
    while total < target_chunks:
        lang = langs[number % len(langs)]
        path = docs_dir / f"synth_{number:06d}.txt"
        path.write_text(synth_document(rng, by_lang[lang], lang), encoding="utf-8")
        doc = load_document(path, docs_dir)
        chunks = chunk_document(doc, config.chunk_tokens, config.chunk_overlap)[: target_chunks - total]
        batch.append((doc, chunks, random_unit_vectors(vectors_rng, len(chunks)), [], np.zeros((0, DIMENSION), np.float32)))
        total, number = total + len(chunks), number + 1
        if sum(len(item[1]) for item in batch) >= WRITE_BATCH_CHUNKS or total >= target_chunks:
            index.add_files(batch)
            batch = []
    chroma_seconds = time.perf_counter() - began
    index.bm25()
    return {
        "chunks": index.chunk_count(),
        "files": number,
        "build_seconds": round(time.perf_counter() - began, 1),
        "bm25_seconds": round(time.perf_counter() - began - chroma_seconds, 1),
    }


def random_unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def measure(workdir: Path, questions_file: Path) -> dict:
    """Open the synthetic index like a user would and time a.retrieve on every question."""
    from rag import Assistant

    from .bench import WARM_UP, retrieval_parts, timed_ms

    began = time.perf_counter()
    assistant = Assistant(workdir / "docs", workdir / "index")
    questions = [q.question for q in load_questions(questions_file)][:SCALE_QUESTIONS]
    assistant.retrieve(WARM_UP, top_k=5)  # opens Chroma, loads BM25 and the model
    open_seconds = time.perf_counter() - began
    times = [timed_ms(assistant.retrieve, question, top_k=5) for question in questions]
    return {
        "chunks": assistant.status()["chunks"],
        "retrieve": latency(times),
        **retrieval_parts(assistant, questions),
        "open_seconds": round(open_seconds, 1),
        "peak_memory_mb": round(peak_memory_mb(), 1),
    }


def worker(action: str, workdir: Path, chunks: int, questions_file: Path) -> dict:
    """Entry point of `python -m eval scale-worker`."""
    if action == "build":
        return build(workdir, chunks)
    return measure(workdir, questions_file)


def run_worker(action: str, workdir: Path, chunks: int, questions_file: Path, timeout: float) -> dict:
    """Run one worker step in a new process and return its JSON."""
    cmd = [sys.executable, "-m", "eval", "scale-worker", action, "--dir", str(workdir), "--chunks", str(chunks),
           "--questions", str(questions_file)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).parent.parent)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
