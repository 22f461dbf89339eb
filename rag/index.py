"""The index: a Chroma collection of chunk vectors and a BM25 index over the same chunks.

Chroma is the single source of truth. Every chunk carries its file's sha256 and chunk
count, and a file's row in the `documents` collection is written last, so a file is
complete only when its document row exists and all its chunks do. Anything else (a run
killed mid-file) is an orphan and is deleted on the next ingest. BM25 is a cache derived
from Chroma's chunks and is rebuilt whenever its chunk ids differ from Chroma's.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import Config
from .errors import StoreError
from .text import document_tokens, looks_like_injection, normalize
from .types import Chunk, Document, Page

log = logging.getLogger(__name__)

_BATCH = 1000  # Chroma rejects very large single writes
# What a file's rows hold; bump it when that changes (2: chunk pages and document page marks),
# and sync re-indexes every file written under an older schema, as if it had changed.
SCHEMA = 2


@dataclass(frozen=True)
class IndexedFile:
    """What the index knows about one complete file."""

    source: str
    sha256: str
    title: str
    date: str
    lang: str
    url: str
    chunks: int
    schema: int = 1  # rows written before the schema was recorded are version 1

    def matches(self, sha256: str) -> bool:
        """True when these rows hold the file with this hash, written under the current SCHEMA."""
        return self.sha256 == sha256 and self.schema == SCHEMA


_INDEXED_FIELDS = frozenset(IndexedFile.__dataclass_fields__)


def _store_errors(method):
    """Turn Chroma and connection failures inside an index method into a StoreError that says what to do."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except StoreError:
            raise
        except Exception as exc:
            if not _is_store_failure(exc):
                raise
            raise StoreError(_failure_message(self.config, self.index_dir, exc)) from exc

    return wrapper


class ChunkIndex:
    """Chroma (dense) and BM25 (sparse) over the same chunks, kept in step."""

    def __init__(self, config: Config, model_key: str):
        self.config = config
        self.index_dir = Path(config.index_dir)
        self._client = _open_client(config, self.index_dir)
        self._open_collections(model_key)
        self._bm25: _Bm25 | None = None

    @_store_errors
    def _open_collections(self, model_key: str) -> None:
        suffix = hashlib.sha1(model_key.encode()).hexdigest()[:8]
        self.chunks = self._client.get_or_create_collection(
            f"chunks_{suffix}",
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embed_model": model_key},
        )
        self.sentences = self._client.get_or_create_collection(
            f"sentences_{suffix}", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        self.documents = self._client.get_or_create_collection(
            f"documents_{suffix}", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )

    # ---- what is indexed -------------------------------------------------------------

    @_store_errors
    def files(self) -> dict[str, IndexedFile]:
        """Complete files by source."""
        rows = _get_all(self.documents, ["metadatas"])
        return {meta["source"]: _indexed_file(meta) for meta in rows["metadatas"]}

    @_store_errors
    def chunk_count(self) -> int:
        return self.chunks.count()

    @_store_errors
    def document_text(self, source: str) -> str | None:
        rows = self.documents.get(ids=[_doc_id(source)], include=["documents"])
        return rows["documents"][0] if rows["ids"] else None

    @_store_errors
    def document_pages(self, sources: list[str]) -> dict[str, tuple[Page, ...]]:
        """Page marks by source (an empty tuple for an unpaged file); unknown sources are left out."""
        if not sources:
            return {}
        rows = self.documents.get(ids=[_doc_id(s) for s in dict.fromkeys(sources)], include=["metadatas"])
        return {meta["source"]: _pages(meta.get("pages", "")) for meta in rows["metadatas"]}

    # ---- writes ----------------------------------------------------------------------

    @_store_errors
    def remove_orphans(self) -> int:
        """Delete chunks and sentences of files that are not complete; return how many files."""
        complete = {(f.source, f.sha256, f.chunks) for f in self.files().values()}
        counts: dict[tuple[str, str], int] = {}
        for meta in _get_all(self.chunks, ["metadatas"])["metadatas"]:
            key = (meta["source"], meta["sha256"])
            counts[key] = counts.get(key, 0) + 1
        broken = {s for (s, h), n in counts.items() if (s, h, n) not in complete}
        # A document row whose chunks went missing is broken too.
        broken |= {s for s, h, n in complete if counts.get((s, h), 0) != n}
        # Sentences outlive their chunks when a run dies inside delete_file; left behind,
        # their offsets would point into a newer version of the text.
        current = {(s, h) for s, h, _ in complete}
        for meta in _get_all(self.sentences, ["metadatas"])["metadatas"]:
            if (meta["source"], meta["sha256"]) not in current:
                broken.add(meta["source"])
        for source in broken:
            self.delete_file(source)
        return len(broken)

    @_store_errors
    def delete_file(self, source: str) -> None:
        """Remove a file's document row first, so a crash mid-way leaves an orphan, not a lie."""
        self.documents.delete(ids=[_doc_id(source)])
        self.chunks.delete(where={"source": source})
        self.sentences.delete(where={"source": source})
        self._bm25 = None

    def add_file(
        self,
        doc: Document,
        chunks: list[Chunk],
        chunk_vectors: np.ndarray,
        sentence_spans: list[tuple[int, int]],
        sentence_vectors: np.ndarray,
    ) -> None:
        """Write one file's chunks and sentences, then its document row (the completion mark)."""
        self.add_files([(doc, chunks, chunk_vectors, sentence_spans, sentence_vectors)])

    @_store_errors
    def add_files(
        self, files: list[tuple[Document, list[Chunk], np.ndarray, list[tuple[int, int]], np.ndarray]]
    ) -> None:
        """add_file for several files in one write per collection: every chunk and sentence
        first, then the document rows. Each Chroma write has a fixed cost that grows with the
        collection (0.15 s at 3k chunks), so many small files are far cheaper together. A crash
        in between leaves orphans, which the next ingest repairs."""
        ids, vectors, texts, metas = [], [], [], []
        sentence_ids, sentence_vectors, sentence_metas = [], [], []
        doc_ids, centroids, doc_texts, doc_metas = [], [], [], []
        for doc, chunks, chunk_vectors, spans, span_vectors in files:
            base = {"source": doc.source, "sha256": doc.sha256}
            ids += [c.id for c in chunks]
            vectors.append(np.asarray(chunk_vectors, dtype=np.float32))
            texts += [c.text for c in chunks]
            metas += [
                {**base, "start": c.start, "end": c.end, "ordinal": c.ordinal, "title": doc.title, "date": doc.date,
                 "lang": doc.lang, "page": c.page or 0}
                for c in chunks
            ]
            sentence_ids += [f"{doc.sha256[:16]}:{doc.source}:{s}-{e}" for s, e in spans]
            if spans:
                sentence_vectors.append(np.asarray(span_vectors, dtype=np.float32))
            sentence_metas += [{**base, "start": s, "end": e} for s, e in spans]
            doc_ids.append(_doc_id(doc.source))
            centroids.append(_normalized_mean(chunk_vectors))
            doc_texts.append(doc.text)
            row = IndexedFile(doc.source, doc.sha256, doc.title, doc.date, doc.lang, doc.url, len(chunks), SCHEMA)
            doc_metas.append({**vars(row), "pages": _pages_json(doc.pages)})
        if ids:
            _add(self.chunks, ids, np.concatenate(vectors), texts, metas)
        if sentence_ids:
            _add(self.sentences, sentence_ids, np.concatenate(sentence_vectors), None, sentence_metas)
        for i in range(0, len(doc_ids), _BATCH):
            part = slice(i, i + _BATCH)
            self.documents.upsert(
                ids=doc_ids[part], embeddings=centroids[part], documents=doc_texts[part], metadatas=doc_metas[part]
            )
        self._bm25 = None

    # ---- reads -----------------------------------------------------------------------

    @_store_errors
    def dense_search(self, vector: np.ndarray, k: int, lang: str | None = None) -> list[tuple[str, float]]:
        """Top-k chunk ids by cosine similarity, best first, optionally only chunks in one language.

        Ids and distances only: reading metadata and text for all k costs more than the
        search itself (1.9 vs 0.65 ms for 20 of the seeds' chunks); the retriever fetches
        the few it keeps with get_chunks. Chroma caps k at the collection's size itself.
        """
        res = self.chunks.query(
            query_embeddings=[vector.tolist()],
            n_results=k,
            where={"lang": lang} if lang else None,
            include=["distances"],
        )
        return [(cid, 1.0 - dist) for cid, dist in zip(res["ids"][0], res["distances"][0])]

    def chunk_language(self, cid: str) -> str | None:
        """"zh" or "en" for a chunk id the sparse index knows, else None."""
        return self.bm25().langs.get(cid)

    def has_language(self, lang: str) -> bool:
        """Whether any indexed chunk is in `lang`."""
        return lang in self.bm25().languages

    def sparse_search(self, tokens: list[str], k: int) -> list[tuple[str, float]]:
        """Top-k chunk ids by BM25 over the normalised text and its pinyin tokens."""
        return self.bm25().search(tokens, k)

    @_store_errors
    def get_chunks(self, ids: list[str]) -> dict[str, Chunk]:
        """Chunks that exist now, by id; a stale id simply is not returned."""
        if not ids:
            return {}
        res = self.chunks.get(ids=list(dict.fromkeys(ids)), include=["documents", "metadatas"])
        return {cid: _chunk(cid, text, meta) for cid, text, meta in zip(res["ids"], res["documents"], res["metadatas"])}

    @_store_errors
    def sentence_vectors(self, sources: list[str]) -> list[tuple[str, int, int, np.ndarray]]:
        """(source, start, end, vector) for every sentence of the given files."""
        if not sources:
            return []
        res = self.sentences.get(where={"source": {"$in": sorted(set(sources))}}, include=["metadatas", "embeddings"])
        return [
            (meta["source"], meta["start"], meta["end"], np.asarray(vec, dtype=np.float32))
            for meta, vec in zip(res["metadatas"], res["embeddings"])
        ]

    def refresh(self) -> None:
        """Forget the in-memory BM25 so the next use checks it against Chroma again
        (another process, or another machine sharing a Chroma server, may have written)."""
        self._bm25 = None

    @_store_errors
    def bm25(self) -> "_Bm25":
        """The BM25 index, loaded from its cache or rebuilt when it disagrees with Chroma."""
        if self._bm25 is None:
            ids = sorted(_get_all(self.chunks, [])["ids"])
            cached = _Bm25.load(self._bm25_path)
            if cached is not None and cached.ids_sorted == ids:
                self._bm25 = cached
            else:
                self._bm25 = self._rebuild_bm25(cached)
        return self._bm25

    @property
    def _bm25_path(self) -> Path:
        return self.index_dir / f"bm25_{self.chunks.name}.pkl"

    def _rebuild_bm25(self, cached: "_Bm25 | None") -> "_Bm25":
        known = cached.tokens_by_id() if cached else {}
        res = _get_all(self.chunks, ["documents", "metadatas"])
        tokens = {
            cid: known[cid] if cid in known else document_tokens(normalize(text))
            for cid, text in zip(res["ids"], res["documents"])
        }
        # Orders to an assistant are no evidence (rag.text.looks_like_injection): their words
        # must not make a question's term look known, or weigh it in every answer's coverage.
        payload = {cid for cid, text in zip(res["ids"], res["documents"]) if looks_like_injection(text)}
        langs = {cid: meta.get("lang", "") for cid, meta in zip(res["ids"], res["metadatas"])}
        bm25 = _Bm25(tokens, langs, payload)
        bm25.save(self._bm25_path)
        return bm25


class _Bm25:
    """bm25s over pre-tokenised chunks, remembering which chunk ids it covers and their language.

    The languages let the retriever find the best chunk in the other language among the dense
    hits: Chroma's `where` filter costs time in proportion to the chunks it matches (11 ms
    for the 2,400 Chinese ones of a 3k index, 1.2 ms for an unfiltered top 20).
    """

    FORMAT = 3  # bump when the pickled fields change; an older cache is rebuilt

    def __init__(self, tokens_by_id: dict[str, list[str]], langs: dict[str, str], payload: set[str] = frozenset()):
        import bm25s

        self.format = self.FORMAT
        self.langs = langs
        self.languages = set(langs.values())
        self.ids = list(tokens_by_id)
        self.ids_sorted = sorted(self.ids)
        self.tokens = [tokens_by_id[i] for i in self.ids]
        self.model = bm25s.BM25()
        if self.ids:
            self.model.index(self.tokens, show_progress=False)
        self.vocab = self.model.vocab_dict if self.ids else {}
        self.idf = _idf([tokens_by_id[i] for i in self.ids if i not in payload])

    def tokens_by_id(self) -> dict[str, list[str]]:
        return dict(zip(self.ids, self.tokens))

    def search(self, tokens: list[str], k: int) -> list[tuple[str, float]]:
        known = [t for t in tokens if t in self.vocab]
        if not known or not self.ids:
            return []
        scores = self.model.get_scores(known)
        top = np.argsort(-scores)[:k]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)

    @staticmethod
    def load(path: Path) -> "_Bm25 | None":
        try:
            with open(path, "rb") as fh:
                cached = pickle.load(fh)
            return cached if isinstance(cached, _Bm25) and getattr(cached, "format", 1) == _Bm25.FORMAT else None
        except OSError:
            return None
        except Exception:  # a damaged or foreign pickle raises almost anything; rebuild it
            log.warning("BM25 cache %s is unreadable; rebuilding it", path)
            return None


def _idf(token_lists: list[list[str]]) -> dict[str, float]:
    """Okapi idf per term (floored at zero), used to weigh question terms in answers."""
    df: dict[str, int] = {}
    for tokens in token_lists:
        for term in set(tokens):
            df[term] = df.get(term, 0) + 1
    n = len(token_lists)
    return {term: max(0.0, math.log((n - f + 0.5) / (f + 0.5) + 1.0)) for term, f in df.items()}


def _open_client(config: Config, index_dir: Path):
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if config.chroma_url:
        from urllib.parse import urlparse

        url = urlparse(config.chroma_url)
        try:
            return chromadb.HttpClient(
                host=url.hostname or "localhost",
                port=url.port or 8000,
                ssl=url.scheme == "https",
                settings=settings,
            )
        except Exception as exc:  # chromadb raises ValueError, ConnectionError, ...
            detail = str(exc).rstrip(" .?!")
            raise StoreError(f"cannot reach Chroma at {config.chroma_url}: {detail}; is `chroma run` up?") from None
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        probe = index_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise StoreError(f"index dir {index_dir} is not writable ({exc.strerror}); set RAG_INDEX_DIR") from None
    path = str(index_dir / "chroma")
    try:
        return chromadb.PersistentClient(path=path, settings=settings)
    except Exception as exc:  # e.g. "file is not a database" after a disk filled up
        _forget_failed_client(path)
        raise StoreError(_failure_message(config, index_dir, exc)) from exc


def _forget_failed_client(path: str) -> None:
    """chromadb caches a client's System per path before it has finished opening; after a
    failed open every later client for that path in this process would get the broken one
    (AttributeError: 'RustBindingsAPI' object has no attribute 'bindings'), even once the
    folder is repaired. Drop it so that a retry opens the folder afresh."""
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient._identifier_to_system.pop(path, None)
    except Exception:  # a chromadb without this cache has nothing to forget
        pass


def _is_store_failure(exc: Exception) -> bool:
    """Errors raised by Chroma itself or by the connection to a Chroma server."""
    module = type(exc).__module__ or ""
    return module.split(".")[0] in ("chromadb", "httpx", "httpcore") or isinstance(
        exc, (ConnectionError, TimeoutError)
    )


def _failure_message(config: Config, index_dir: Path, exc: Exception) -> str:
    detail = f"{type(exc).__name__}: {str(exc).rstrip(' .')}"
    if config.chroma_url:
        return f"Chroma at {config.chroma_url} failed ({detail}); is `chroma run` up?"
    return (
        f"cannot use the index in {index_dir} ({detail}); if it is damaged, delete that folder "
        "and run `rag ingest` to rebuild it"
    )


def _add(collection, ids, vectors, documents, metadatas) -> None:
    for i in range(0, len(ids), _BATCH):
        part = slice(i, i + _BATCH)
        collection.add(
            ids=ids[part],
            embeddings=np.asarray(vectors[part], dtype=np.float32),
            documents=documents[part] if documents is not None else None,
            metadatas=metadatas[part],
        )


def _get_all(collection, include: list[str], page: int = 5000) -> dict[str, list]:
    """Every row of a collection, read a page at a time: one read of a whole collection of
    100k chunks fails in SQLite ("too many SQL variables")."""
    rows: dict[str, list] = {"ids": [], **{field: [] for field in include}}
    offset = 0
    while True:
        res = collection.get(include=include, limit=page, offset=offset)
        for field in rows:
            rows[field] += res[field]
        if len(res["ids"]) < page:
            return rows
        offset += page


def _doc_id(source: str) -> str:
    return "doc:" + source


def _normalized_mean(vectors: np.ndarray) -> list[float]:
    mean = np.asarray(vectors, dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean)) or 1.0
    return (mean / norm).tolist()


def _indexed_file(meta: dict) -> IndexedFile:
    return IndexedFile(**{key: value for key, value in meta.items() if key in _INDEXED_FIELDS})


def _pages_json(pages: tuple[Page, ...]) -> str:
    """Page marks as a JSON string (Chroma metadata holds scalars only); "" when unpaged."""
    return json.dumps([[page.start, page.label] for page in pages], ensure_ascii=False) if pages else ""


def _pages(stored: str) -> tuple[Page, ...]:
    return tuple(Page(start, label) for start, label in json.loads(stored)) if stored else ()


def _chunk(cid: str, text: str, meta: dict) -> Chunk:
    return Chunk(
        id=cid,
        source=meta["source"],
        text=text,
        start=meta["start"],
        end=meta["end"],
        ordinal=meta["ordinal"],
        title=meta.get("title", ""),
        date=meta.get("date", ""),
        lang=meta.get("lang", ""),
        page=meta.get("page") or None,
    )
