"""`Assistant`: ingestion, retrieval and answering behind one object."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Iterator, Protocol

from .answer import AbstainRule, extractive_answer
from .config import Config
from .errors import RagError
from .types import Answer, Candidate

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000  # longer input is cut; e5 reads 512 tokens at most anyway


class Generator(Protocol):
    """Writes an answer from the retrieved passages; the extractive answer is its fallback."""

    name: str

    def generate(self, question: str, candidates: list[Candidate], extractive: Answer) -> Answer: ...


class Assistant:
    """Answers questions over a folder of documents, citing the passages it quotes."""

    def __init__(
        self,
        docs_dir: str | Path | None = None,
        index_dir: str | Path | None = None,
        config: Config | None = None,
        *,
        generator: Generator | None = None,
        progress: bool = False,
    ):
        config = config or Config.from_env()
        if docs_dir is not None:
            config = config.with_(docs_dir=Path(docs_dir))
        if index_dir is not None:
            config = config.with_(index_dir=Path(index_dir))
        self.config = config
        self.generator = generator
        self.progress = progress
        self.abstain_rule = AbstainRule()
        self._index = None
        self._embedder = None
        self._synced = False
        self._lock = threading.RLock()  # ingest vs. ask within one process

    # ---- resources, opened on first use ---------------------------------------------

    @property
    def embedder(self):
        if self._embedder is None:
            from .embeddings import Embedder

            self._embedder = Embedder(self.config)
        return self._embedder

    @property
    def index(self):
        if self._index is None:
            from .index import ChunkIndex

            self._index = ChunkIndex(self.config, self.config.embed_model)
        return self._index

    # ---- ingestion -------------------------------------------------------------------

    def ingest(self, progress: bool | None = None):
        """Bring the index in step with the documents folder; returns an IngestReport."""
        from .sync import sync_corpus

        with self._lock:
            report = sync_corpus(self.config, self.index, self.embedder, self.progress if progress is None else progress)
            self._synced = True
        for source, reason in report.skipped:
            log.warning("skipped %s: %s", source, reason)
        return report

    def ensure_index(self) -> None:
        """Build or update the index once per process, before the first question."""
        if not self._synced:
            self.ingest()

    def documents(self) -> list:
        """The indexed files (IndexedFile records), sorted by source."""
        self.ensure_index()
        return sorted(self.index.files().values(), key=lambda f: f.source)

    def document_text(self, source: str) -> str | None:
        """The cleaned text that citations' offsets refer to."""
        return self.index.document_text(source)

    # ---- questions -------------------------------------------------------------------

    def retrieve(self, question: str, top_k: int | None = None) -> list[Candidate]:
        """The fused top-k passages for a question."""
        from .retrieve import Retriever

        question = clean_question(question)
        self.ensure_index()
        with self._lock:
            return Retriever(self.index, self.embedder).retrieve(
                question, top_k or self.config.top_k, self.config.candidates
            )

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        """Answer from the documents with cited quotes, or abstain."""
        answer = None
        for answer in self.ask_stream(question, top_k=top_k):
            pass
        return answer

    def ask_stream(self, question: str, top_k: int | None = None) -> Iterator[Answer]:
        """Yield the extractive answer at once, then the generator's, if one is set."""
        from .retrieve import Retriever

        question = clean_question(question)
        self.ensure_index()
        began = time.perf_counter()
        with self._lock:
            vector = self.embedder.embed_queries([question])[0]
            retriever = Retriever(self.index, self.embedder)
            candidates = retriever.retrieve(question, top_k or self.config.top_k, self.config.candidates, vector)
            sources = sorted({c.chunk.source for c in candidates})
            sentences = self.index.sentence_vectors(sources)
            texts = {s: t for s in sources if (t := self.index.document_text(s)) is not None}
            idf = self.index.bm25().idf
        answer = extractive_answer(question, vector, candidates, sentences, texts, idf, self.abstain_rule)
        log.debug("answered in %.0f ms", (time.perf_counter() - began) * 1000)
        yield answer
        if self.generator is not None and not answer.abstained:
            yield self.generator.generate(question, candidates, answer)

    def status(self) -> dict:
        """Which model is loaded and how much is indexed, for status lines."""
        return {
            "docs_dir": str(self.config.docs_dir),
            "index_dir": str(self.config.index_dir),
            "embed_model": self.config.embed_model,
            "embedder_loaded": self._embedder is not None and self._embedder.model_info()["loaded"],
            "chunks": self.index.chunk_count(),
            "documents": len(self.index.files()),
            "backend": self.generator.name if self.generator else "extractive",
        }


def clean_question(question: str) -> str:
    """Strip control characters and surrounding space; refuse an empty question."""
    if not isinstance(question, str):
        raise RagError("the question must be text")
    cleaned = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in question).strip()
    if not cleaned:
        raise RagError("the question is empty: type a question about your documents")
    return cleaned[:MAX_QUESTION_CHARS]


_default: Assistant | None = None
_default_lock = threading.Lock()


def default_assistant() -> Assistant:
    """The process-wide assistant over RAG_DOCS_DIR (default: seeds/)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Assistant()
        return _default


def ask(question: str, top_k: int | None = None) -> Answer:
    """Ask the default corpus (RAG_DOCS_DIR, default seeds/) a question."""
    return default_assistant().ask(question, top_k=top_k)
