"""`Assistant`: ingestion, retrieval and answering behind one object."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from .evidence import Evidence, Query
from .extractive import AnswerabilityModel, extractive_answer
from .config import Config
from .conversation import check_messages, clean_question
from .errors import RagError
from .types import Answer, Candidate, Page, with_pages

if TYPE_CHECKING:
    from .llm.base import Generator

log = logging.getLogger(__name__)

class Assistant:
    """Answers questions over a folder of documents, citing the passages it quotes."""

    def __init__(
        self,
        docs_dir: str | Path | None = None,
        index_dir: str | Path | None = None,
        config: Config | None = None,
        *,
        embedder=None,
        index=None,
        generator: Generator | None = None,
        progress: bool = False,
        kb: str | None = None,
    ):
        """Collaborators not passed in are made from `config` on first use: the embedder
        (rag.embeddings.Embedder), the index (rag.index.ChunkIndex) and, unless the backend
        is extractive, the generator (rag.llm.make_generator)."""
        config = config or Config.from_env()
        if kb is not None:  # a knowledge base names its own folder and index (rag.kb)
            from .kb import config_for

            if docs_dir is not None or index_dir is not None:
                raise RagError("give either kb or docs_dir/index_dir, not both: a knowledge base has its own")
            config = config_for(config, kb)
        if docs_dir is not None:
            config = config.with_(docs_dir=Path(docs_dir))
        if index_dir is not None:
            config = config.with_(index_dir=Path(index_dir))
        self.config = config
        if generator is None and config.llm != "extractive":
            from .llm import make_generator

            generator = make_generator(config)
        self.generator = generator
        self.progress = progress
        self.answerability = AnswerabilityModel()
        self._index = index
        self._embedder = embedder  # e.g. one loaded model shared by every knowledge base
        self._synced = False
        # One ingest at a time. Questions take no lock: while an ingest runs they are answered
        # from the files already written (see `indexing`).
        self._ingest_lock = threading.RLock()
        self._indexing = None  # the IngestReport of the ingest under way, updated as it writes

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

            self._index = ChunkIndex(self.config, self.config.index_key)
        return self._index

    def with_generator(self, generator: Generator | None) -> "Assistant":
        """Another Assistant over this one's index and loaded embedder, answering with
        `generator`: to compare backends without loading the model or syncing again."""
        other = Assistant(
            config=self.config, embedder=self.embedder, index=self.index, generator=generator, progress=self.progress
        )
        other._synced = self._synced
        return other

    # ---- ingestion -------------------------------------------------------------------

    def ingest(self, progress: bool | None = None):
        """Bring the index in step with the documents folder; returns an IngestReport.

        Questions asked meanwhile from other threads are answered from the files already
        written, with a notice saying how far indexing has got (see `indexing`).
        """
        return self._sync(progress, answer_meanwhile=True)

    @property
    def indexing(self):
        """The IngestReport of an `ingest()` that is writing files (files_done of
        files_to_index so far), or None: a sync that is only scanning, or found nothing to
        do, changes no answer."""
        report = self._indexing
        return report if report is not None and report.writing_files else None

    def ensure_index(self) -> None:
        """Build or update the index once per process, before the first question: questions
        wait for that first sync, but not for an `ingest()` another thread is running."""
        if self._synced or self._indexing is not None:
            return
        with self._ingest_lock:
            if not self._synced:  # another thread may have synced while we waited
                self._sync(None, answer_meanwhile=False)

    def _sync(self, progress: bool | None, answer_meanwhile: bool):
        from .sync import IngestReport, sync_corpus

        with self._ingest_lock:
            report = IngestReport()
            if answer_meanwhile:
                self._indexing = report
            try:
                sync_corpus(self.config, self.index, self.embedder, self.progress if progress is None else progress, report=report)
            finally:
                self._indexing = None
            self._synced = True
        for source, reason in report.skipped:
            log.warning("skipped %s: %s", source, reason)
        return report

    def documents(self) -> list:
        """The indexed files (IndexedFile records), sorted by source."""
        self.ensure_index()
        return sorted(self.index.files().values(), key=lambda f: f.source)

    def document_text(self, source: str) -> str | None:
        """The cleaned text that citations' offsets refer to."""
        return self.index.document_text(source)

    def document_pages(self, source: str) -> tuple[Page, ...]:
        """Where each page of a paged file begins in its text (rag.types.Page); () if unpaged."""
        return self.index.document_pages([source]).get(source, ())

    # ---- questions -------------------------------------------------------------------

    def retrieve(self, question: str, top_k: int | None = None) -> list[Candidate]:
        """The fused top-k passages for a question."""
        from .retrieve import Retriever

        question = clean_question(question)
        self.ensure_index()
        query = Query.of(question)
        return Retriever(self.index, self.embedder).retrieve(query, top_k or self.config.top_k, self.config.candidates)

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        """Answer from the documents with cited quotes, or abstain."""
        answer = None
        for answer in self.ask_stream(question, top_k=top_k):
            pass
        return answer

    def ask_stream(self, question: str, top_k: int | None = None) -> Iterator[Answer]:
        """Yield the extractive answer at once, then, with an LLM backend, the LLM's as it is written.

        With an LLM backend the sequence is: the extractive Answer; partial Answers
        (`partial=True`) whose text is the model's text so far without its [n] marks (they
        are unverified passage numbers) and whose citations are still the extractive ones,
        so a sources panel has something to show; then the final, verified Answer. The
        generator is asked whenever the evidence may hold the answer
        (`Answer.answerability` >= `AnswerabilityModel.ask_llm_at`), also when the
        extractive answer abstains, and its own "the documents do not say" counts. Every Answer's
        `timings["retrieve_s"]` is the retrieval time; the LLM's first_token_s is counted
        from the end of retrieval.
        """
        question = clean_question(question)
        began = time.perf_counter()
        indexing = self._indexing_notice()
        evidence = self.gather(question, top_k)
        retrieved = time.perf_counter()
        answer = _with_notice(extractive_answer(evidence, self.answerability), indexing)
        answered = time.perf_counter()
        answer.timings = {"retrieve_s": round(retrieved - began, 3), "total_s": round(answered - began, 3)}
        log.debug("answered in %.0f ms", (answered - began) * 1000)
        yield with_pages(answer, evidence.pages)
        generator = self.generator
        if generator is None or answer.answerability < self.answerability.ask_llm_at:
            return  # the evidence cannot hold the answer: no model need read it
        final = None
        for final in generator.stream(question, evidence.candidates, answer, texts=evidence.texts, embedder=self.embedder):
            if final.partial:
                yield _with_notice(final, indexing)
        if final is None or final.partial:
            return
        final.timings = {**(final.timings or {}), "retrieve_s": round(retrieved - began, 3)}
        yield _with_notice(with_pages(final, evidence.pages), indexing)

    def _indexing_notice(self) -> str:
        report = self.indexing
        if report is None:
            return ""
        return f"Indexing is under way ({report.progress_line()}): the answer comes from those."

    def gather(self, question: str, top_k: int | None = None) -> Evidence:
        """Retrieve for a cleaned question and read what every answerer needs, in one pass."""
        from .retrieve import Retriever

        self.ensure_index()
        query = Query.of(question)
        vector = self.embedder.embed_queries([question])[0]
        retriever = Retriever(self.index, self.embedder)
        candidates = retriever.retrieve(query, top_k or self.config.top_k, self.config.candidates, vector)
        sources = sorted({c.chunk.source for c in candidates})
        sentences = self.index.sentence_vectors(sources)
        # A file being rewritten by an ingest under way may have lost its text a moment ago.
        texts = {s: t for s in sources if (t := self.index.document_text(s)) is not None}
        pages = self.index.document_pages(sources)
        idf = self.index.bm25().idf
        languages = frozenset(lang for lang in ("zh", "en") if self.index.has_language(lang))
        return Evidence(query, vector, candidates, sentences, texts, idf, languages, pages)

    # ---- conversations ---------------------------------------------------------------

    def condense(self, messages: list[dict]) -> str:
        """The last user message as a standalone question.

        A follow-up (short, or opening with a pronoun or connective: "那另一家呢？", "and
        when was it signed?") is rewritten from the conversation: by the LLM when the
        generator can (`rewrite_question`, at most 40 new tokens), else by prepending the
        previous user question's key terms. Anything else passes through unchanged.
        """
        from .conversation import condense_by_rule, looks_like_followup

        turns = check_messages(messages)
        followup = clean_question(turns[-1]["content"])
        previous = [m["content"] for m in turns[:-1] if m["role"] == "user" and str(m["content"]).strip()]
        if not previous or not looks_like_followup(followup):
            return followup
        if self.generator is not None:
            rewritten = self.generator.rewrite_question(turns[:-1], followup)
            if rewritten:
                log.info("follow-up %r rewritten as %r", followup, rewritten)
                return clean_question(rewritten)
        return clean_question(condense_by_rule(previous[-1], followup))

    def chat_stream(self, messages: list[dict], top_k: int | None = None) -> Iterator[Answer]:
        """`ask_stream` for the last user message of a conversation ({"role", "content"} dicts).

        The answers' `question` is the standalone question that was searched for.
        """
        began = time.perf_counter()
        question = self.condense(messages)
        condense_s = round(time.perf_counter() - began, 3)
        for answer in self.ask_stream(question, top_k=top_k):
            answer.timings = {**answer.timings, "condense_s": condense_s}
            yield answer

    def chat(self, messages: list[dict], top_k: int | None = None) -> Answer:
        """The final answer to the last user message, with follow-ups made standalone first."""
        answer = None
        for answer in self.chat_stream(messages, top_k=top_k):
            pass
        return answer

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
            "llm_loaded": self.generator is not None and self.generator.loaded,
            "indexing": report.live() if (report := self.indexing) is not None else None,
        }


def _with_notice(answer: Answer, notice: str) -> Answer:
    """The answer with `notice` added after any notice it has."""
    if notice:
        answer.notice = f"{answer.notice} {notice}".strip()
    return answer


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
