"""Token-budgeted, sentence-aware chunks with stable ids, offsets into the cleaned text and pages."""
from __future__ import annotations

import hashlib
import importlib.util
import os
from functools import lru_cache
from pathlib import Path

from .text import split_sentences
from .types import Chunk, Document


@lru_cache(maxsize=1)
def _encoding():
    """tiktoken's cl100k_base, read from the copy that ships inside llama-index-core.

    tiktoken would otherwise download the file, which fails offline.
    """
    import tiktoken

    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or not spec.submodule_search_locations:
        from .errors import ModelError

        raise ModelError("llama-index-core is not installed; it ships tiktoken's cl100k_base file")
    cache = Path(list(spec.submodule_search_locations)[0]) / "_static" / "tiktoken_cache"
    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    try:
        return tiktoken.get_encoding("cl100k_base")
    finally:
        if previous is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous


def count_tokens(text: str) -> int:
    """cl100k_base tokens in `text`."""
    return len(_encoding().encode_ordinary(text))


def chunk_document(doc: Document, max_tokens: int = 200, overlap: int = 40) -> list[Chunk]:
    """Pack whole sentences into chunks of at most `max_tokens`, repeating ~`overlap` tokens."""
    pieces = _sentence_pieces(doc.text, max_tokens)
    spans = _pack(pieces, max_tokens, overlap)
    return [_make_chunk(doc, ordinal, start, end) for ordinal, (start, end) in enumerate(spans)]


def _sentence_pieces(text: str, max_tokens: int) -> list[tuple[int, int, int]]:
    """(start, end, tokens) per sentence; a sentence over budget is cut into windows."""
    pieces = []
    for start, end in split_sentences(text):
        tokens = count_tokens(text[start:end])
        if tokens <= max_tokens:
            pieces.append((start, end, tokens))
        else:
            pieces.extend(_cut_long(text, start, end, tokens, max_tokens))
    return pieces


def _cut_long(text: str, start: int, end: int, tokens: int, max_tokens: int) -> list[tuple[int, int, int]]:
    """Cut a run-on sentence into character windows of roughly `max_tokens` tokens each."""
    parts = -(-tokens // max_tokens)
    step = -(-(end - start) // parts)
    windows = []
    for left in range(start, end, step):
        right = min(end, left + step)
        windows.append((left, right, count_tokens(text[left:right])))
    return windows


def _pack(pieces: list[tuple[int, int, int]], max_tokens: int, overlap: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    window: list[tuple[int, int, int]] = []
    used = 0
    fresh = False  # does the window hold a sentence no earlier chunk has?
    for piece in pieces:
        if window and used + piece[2] > max_tokens:
            spans.append((window[0][0], window[-1][1]))
            window = _tail(window, overlap, max_tokens - piece[2])
            used = sum(p[2] for p in window)
        window.append(piece)
        used += piece[2]
        fresh = True
    if window and fresh:
        spans.append((window[0][0], window[-1][1]))
    return spans


def _tail(window: list[tuple[int, int, int]], overlap: int, room: int) -> list[tuple[int, int, int]]:
    """The last sentences of `window` that fit in both the overlap and the room left."""
    tail: list[tuple[int, int, int]] = []
    used = 0
    for piece in reversed(window):
        if used + piece[2] > min(overlap, room):
            break
        tail.insert(0, piece)
        used += piece[2]
    return tail


def _make_chunk(doc: Document, ordinal: int, start: int, end: int) -> Chunk:
    digest = hashlib.sha1(f"{doc.source}\0{doc.sha256}\0{start}:{end}".encode()).hexdigest()[:20]
    return Chunk(
        id=digest,
        source=doc.source,
        text=doc.text[start:end],
        start=start,
        end=end,
        ordinal=ordinal,
        title=doc.title,
        date=doc.date,
        page=doc.page_at(start),
    )
