"""Knowledge bases: named documents folders, each with an index of its own.

    rag kb add manuals ~/manuals        # register a folder under a name
    Assistant(kb="manuals").ask("...")  # answers only from that folder

The default base is the documents folder of the configuration (RAG_DOCS_DIR, else
seeds/), indexed in the index root (RAG_INDEX_DIR) exactly as before bases existed; it is
named after its folder ("seeds"). Every other base is listed in a small JSON file in the
index root and indexed in `<index root>/kb/<name>/`; its Chroma collections carry its name
(`kb_<name>_chunks_...`), so on a shared Chroma server (RAG_CHROMA_URL) too a question
never sees another base's chunks. Removing a base deletes its index, never its documents.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .errors import ConfigError, NotFoundError

REGISTRY_FILE = "knowledge-bases.json"
# Chroma collection names allow [a-zA-Z0-9._-] and (before chromadb 1.0) at most 63
# characters: "kb_" + 32 + "_sentences_" + 8 stays within that.
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
FALLBACK_DEFAULT_NAME = "default"


@dataclass(frozen=True)
class KnowledgeBase:
    """A named documents folder and where its index lives."""

    name: str
    docs_dir: Path
    index_dir: Path
    default: bool = False
    # Set when the base is added: a base removed and added again under its name is a new
    # base, and a process that kept the old one's Assistant must not use it.
    uid: str = ""
    created: int = 0  # Unix time it was added


def index_root(config: Config) -> Path:
    """The index dir that holds the registry (and the default base's index)."""
    return Path(_root_config(config).index_dir)


def default_name(config: Config) -> str:
    """The default base's name: its folder's name when that is a valid name ("seeds")."""
    folder = Path(_root_config(config).docs_dir).name.lower()
    return folder if NAME_PATTERN.fullmatch(folder) else FALLBACK_DEFAULT_NAME


def check_name(name: str) -> str:
    """The name if it can name a base (and its Chroma collections), else a ConfigError."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"{name!r} is not a valid knowledge base name: use 1-32 lowercase letters, digits, - or _, "
            "starting with a letter or digit (e.g. manuals)"
        )
    return name


def list_bases(config: Config) -> list[KnowledgeBase]:
    """The default base first, then the registered ones by name."""
    root = index_root(config)
    default = _default_base(config)
    registered = _read_registry(root)
    return [default] + [_registered(root, name, entry) for name, entry in sorted(registered.items())]


def get_base(config: Config, name: str) -> KnowledgeBase:
    """The base called `name`; NotFoundError naming the known ones otherwise."""
    for base in list_bases(config):
        if base.name == name:
            return base
    known = ", ".join(b.name for b in list_bases(config))
    raise NotFoundError(f"no knowledge base named {name!r} (known: {known}); add one with `rag kb add NAME DIR`")


def config_for(config: Config, name: str) -> Config:
    """The configuration that answers from base `name`: its folder, its index dir, its collections."""
    base = get_base(config, name)
    if base.default:
        return _root_config(config)
    return config.with_(docs_dir=base.docs_dir, index_dir=base.index_dir, kb=base.name)


def add_base(config: Config, name: str, docs_dir: str | Path) -> KnowledgeBase:
    """Register a folder under a new name (its index is built by the first ingest or question)."""
    check_name(name)
    folder = Path(docs_dir).expanduser().resolve()
    if not folder.exists():
        raise ConfigError(f"documents folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder; give the folder that holds the documents")
    root = index_root(config)
    if folder.is_relative_to(root.resolve()):
        raise ConfigError(f"{folder} is inside the index dir {root}; keep documents out of it")
    with _registry_lock(root):
        for base in list_bases(config):
            if base.name == name:
                what = "the default base (RAG_DOCS_DIR)" if base.default else "a knowledge base"
                raise ConfigError(f"{name!r} is already {what} over {base.docs_dir}; pick another name")
            if base.docs_dir.resolve() == folder:
                raise ConfigError(f"{folder} is already the folder of knowledge base {base.name!r}")
        registry = _read_registry(root)
        registry[name] = {"docs_dir": str(folder), "created": int(time.time()), "uid": uuid.uuid4().hex[:12]}
        _write_registry(root, registry)
    return _registered(root, name, registry[name])


def remove_base(config: Config, name: str) -> KnowledgeBase:
    """Delete a base's index and forget it; its documents folder is left as it is."""
    base = get_base(config, name)
    if base.default:
        raise ConfigError(
            f"{name!r} is the default base (RAG_DOCS_DIR); it cannot be removed. Point RAG_DOCS_DIR elsewhere instead"
        )
    from .index import ChunkIndex

    base_config = config_for(config, name)
    ChunkIndex(base_config, base_config.index_key).drop()  # on a Chroma server: its collections
    root = index_root(config)
    with _registry_lock(root):
        registry = _read_registry(root)
        registry.pop(name, None)
        _write_registry(root, registry)
    _delete_index_dir(base.index_dir, root)
    from .index import _forget_failed_client

    # chromadb keeps one client per folder for the process: a base added again under this
    # name must not get the client of the folder just deleted.
    _forget_failed_client(str(base.index_dir / "chroma"))
    return base


class KnowledgeBases:
    """One Assistant per base, opened on first use; all share one embedder and one generator,
    so a second base costs no second copy of a model."""

    def __init__(self, config: Config, *, generator=None, embedder=None, progress: bool = False):
        self.config = _root_config(config)
        if generator is None and self.config.llm != "extractive":
            from .llm import make_generator

            generator = make_generator(self.config)
        if embedder is None:
            from .embeddings import Embedder

            embedder = Embedder(self.config)
        self.generator = generator
        self.embedder = embedder
        self.progress = progress
        self._assistants: dict[str, object] = {}
        self._lock = threading.Lock()

    def bases(self) -> list[KnowledgeBase]:
        return list_bases(self.config)

    def names(self) -> list[str]:
        return [b.name for b in self.bases()]

    @property
    def default_name(self) -> str:
        return default_name(self.config)

    def get(self, name: str | None = None):
        """The Assistant of base `name` (default: the default base); NotFoundError if unknown."""
        from .assistant import Assistant

        name = name or self.default_name
        try:
            base = get_base(self.config, name)
        except NotFoundError:
            with self._lock:
                self._assistants.pop(name, None)
            raise
        with self._lock:
            known = self._assistants.get(name)
            if known is None or known[0] != base:  # new, or removed and added again
                assistant = Assistant(
                    config=config_for(self.config, name), generator=self.generator, embedder=self.embedder,
                    progress=self.progress,
                )
                known = self._assistants[name] = (base, assistant)
            return known[1]


def _root_config(config: Config) -> Config:
    """The default base's configuration, also when given a named base's."""
    if not config.kb:
        return config
    raise ConfigError(f"this configuration is knowledge base {config.kb!r}'s; pass the root configuration")


def _default_base(config: Config) -> KnowledgeBase:
    config = _root_config(config)
    return KnowledgeBase(default_name(config), Path(config.docs_dir), Path(config.index_dir), default=True)


def _registered(root: Path, name: str, entry: dict) -> KnowledgeBase:
    return KnowledgeBase(
        name, Path(entry["docs_dir"]), root / "kb" / name, uid=str(entry.get("uid", "")), created=int(entry.get("created", 0))
    )


def _read_registry(root: Path) -> dict[str, dict]:
    path = root / REGISTRY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the knowledge base list {path} is unreadable ({exc}); fix or delete it") from None
    bases = data.get("bases") if isinstance(data, dict) else None
    if not isinstance(bases, dict) or not all(isinstance(v, dict) and "docs_dir" in v for v in bases.values()):
        raise ConfigError(f"the knowledge base list {path} is not in the expected format; fix or delete it")
    return {name: entry for name, entry in bases.items() if NAME_PATTERN.fullmatch(name)}


def _write_registry(root: Path, registry: dict[str, dict]) -> None:
    path = root / REGISTRY_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"bases": registry}, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)


@contextmanager
def _registry_lock(root: Path):
    """One change to the registry at a time, across processes."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        fh = open(root / f".{REGISTRY_FILE}.lock", "w")
    except OSError as exc:
        raise ConfigError(f"index dir {root} is not writable ({exc.strerror}); set RAG_INDEX_DIR") from None
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _delete_index_dir(index_dir: Path, root: Path) -> None:
    """Remove a named base's index folder: only ever a folder under <root>/kb/."""
    if index_dir.resolve().parent != (root / "kb").resolve():
        raise ConfigError(f"refusing to delete {index_dir}: it is not a knowledge base index under {root / 'kb'}")
    shutil.rmtree(index_dir, ignore_errors=True)
