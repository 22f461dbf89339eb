"""The peer: the plain LlamaIndex + Chroma pipeline a user would write in ten lines.

    docs = SimpleDirectoryReader(docs_dir).load_data()
    index = VectorStoreIndex.from_documents(docs, storage_context=chroma, embed_model=e5,
                                            transformations=[SentenceSplitter()])
    nodes = index.as_retriever(similarity_top_k=5).retrieve(question)

Same embedding model as the product (multilingual-e5-small with its 'query: '/'passage: '
prefixes). No LLM: the peer's "answer" is the text of its top-1 node, its one "citation"
is that node, and it never abstains. LlamaIndex's global Settings are never consulted for
a model (their defaults resolve to OpenAI): the embedding model is passed explicitly.
"""
from __future__ import annotations

import logging
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.vector_stores.types import BasePydanticVectorStore, VectorStoreQuery, VectorStoreQueryResult
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict
from pydantic import PrivateAttr

from rag import Config

from .metrics import RETRIEVE_K, Cited, Passage, QuestionResult, SystemAnswer, score_question
from .questions import Question


class E5Embedding(BaseEmbedding):
    """multilingual-e5-small through sentence-transformers, with e5's query/passage prefixes."""

    _model: Any = PrivateAttr()

    def __init__(self, model_path: str, **kwargs: Any) -> None:
        super().__init__(model_name=Path(model_path).name, embed_batch_size=32, **kwargs)
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(model_path, device="cpu", local_files_only=Path(model_path).is_dir())

    def _encode(self, texts: list[str]) -> list[list[float]]:
        return self._model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True).tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encode(["query: " + query])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encode(["passage: " + text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encode(["passage: " + t for t in texts])


class MiniChromaVectorStore(BasePydanticVectorStore):
    """What llama-index-vector-stores-chroma does, for when that package is not installed."""

    stores_text: bool = True
    _collection: Any = PrivateAttr()

    def __init__(self, chroma_collection: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._collection = chroma_collection

    @property
    def client(self) -> Any:
        return self._collection

    def add(self, nodes, **kwargs: Any) -> list[str]:
        ids = [n.node_id for n in nodes]
        self._collection.add(
            ids=ids,
            embeddings=[n.get_embedding() for n in nodes],
            metadatas=[node_to_metadata_dict(n, remove_text=True, flat_metadata=True) for n in nodes],
            documents=[n.get_content() for n in nodes],
        )
        return ids

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        self._collection.delete(where={"document_id": ref_doc_id})

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        res = self._collection.query(
            query_embeddings=[query.query_embedding],
            n_results=query.similarity_top_k,
            include=["documents", "metadatas", "distances"],
        )
        nodes = [metadata_dict_to_node(m, text=t) for m, t in zip(res["metadatas"][0], res["documents"][0])]
        return VectorStoreQueryResult(nodes=nodes, similarities=[1 - d for d in res["distances"][0]], ids=res["ids"][0])


def chroma_vector_store(persist_dir: Path) -> tuple[BasePydanticVectorStore, str]:
    """A Chroma-backed LlamaIndex vector store in a PersistentClient; and which adapter it is."""
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(path=str(persist_dir), settings=Settings(anonymized_telemetry=False))
    collection = client.get_or_create_collection(f"peer_{uuid.uuid4().hex[:8]}")
    try:
        from llama_index.vector_stores.chroma import ChromaVectorStore

        return ChromaVectorStore(chroma_collection=collection), "llama-index-vector-stores-chroma"
    except ImportError:
        return MiniChromaVectorStore(collection), "eval.peer.MiniChromaVectorStore (llama-index-vector-stores-chroma is not installed)"


@dataclass
class Peer:
    """A built peer pipeline and what building it cost."""

    retriever: Any
    embed_model: E5Embedding
    build_seconds: float
    nodes: int
    store: str
    persist_dir: str


def build_peer(docs_dir: Path, config: Config | None = None, persist_dir: Path | None = None) -> Peer:
    """Read, split, embed and index the docs the LlamaIndex way (model loaded before timing)."""
    from rag.e5_convert import resolve_model_path

    # SimpleDirectoryReader warns that llama-index-readers-file (PDF, docx...) is missing; .txt needs none.
    logging.getLogger("llama_index.core.readers.file.base").setLevel(logging.ERROR)
    embed_model = E5Embedding(resolve_model_path(config or Config.from_env()))
    persist_dir = Path(persist_dir or tempfile.mkdtemp(prefix="rag-eval-peer-"))
    began = time.perf_counter()
    documents = SimpleDirectoryReader(str(docs_dir)).load_data()
    store, store_name = chroma_vector_store(persist_dir)
    index = VectorStoreIndex.from_documents(
        documents,
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed_model,
        transformations=[SentenceSplitter()],
    )
    seconds = time.perf_counter() - began
    nodes = store.client.count()
    retriever = index.as_retriever(similarity_top_k=RETRIEVE_K, embed_model=embed_model)
    return Peer(retriever, embed_model, round(seconds, 2), nodes, store_name, str(persist_dir))


def evaluate_peer(peer: Peer, questions: list[Question]) -> list[QuestionResult]:
    """Every question through the peer retriever; the top-1 node is its answer and citation."""
    peer.retriever.retrieve(questions[0].question)  # warm-up
    return [evaluate_one(peer, q) for q in questions]


def evaluate_one(peer: Peer, q: Question) -> QuestionResult:
    """One question: top-5 nodes; answer = top-1 node text."""
    began = time.perf_counter()
    hits = peer.retriever.retrieve(q.question)
    elapsed_ms = (time.perf_counter() - began) * 1000
    passages = [Passage(_source(h.node), h.node.get_content()) for h in hits]
    top = passages[0] if passages else Passage("", "")
    answer = SystemAnswer(text=top.text, abstained=False, citations=[Cited(top.source, top.text)] if passages else [])
    return score_question(q, passages, answer, elapsed_ms, elapsed_ms)


def _source(node) -> str:
    """The file name relative to the docs dir (the seeds are one level deep)."""
    return node.metadata.get("file_name") or Path(node.metadata.get("file_path", "")).name


def retrieval_latencies(peer: Peer, questions: list[str]) -> list[float]:
    """Milliseconds per peer retrieval, warm."""
    peer.retriever.retrieve(questions[0])
    times = []
    for question in questions:
        began = time.perf_counter()
        peer.retriever.retrieve(question)
        times.append((time.perf_counter() - began) * 1000)
    return times
