"""Ingest embeds the sentences of many files per engine call: each file must still get exactly
the vectors of its own sentences, and a bad file among them must cost only itself.
Real model, real Chroma, real files."""
from __future__ import annotations


import numpy as np
import pytest

import rag.sync
from rag import Assistant
from rag.chunking import chunk_document
from rag.ingest import load_document
from rag.sync import pool_chunk_vectors, texts_to_embed
from rag.text import split_sentences

FILES = {
    "a_short.txt": "The Kestwick ferry runs twice a day.\n",
    "b_zh.txt": "青岚气象站建于1998年。站长是白榆研究员。该站每年记录雷暴一百余次。\n",
    "c_page.html": (
        "<html><head><title>Harbour Ward market</title></head><body><p>The market opens at nine. "
        "Stall 12 sells apples. Stall 14 sells bread and tulips.</p></body></html>"
    ),
    "d_long.md": "---\ntitle: 丹霞山志\n---\n" + "".join(f"丹霞山第{i}号步道长{i * 3}公里。" for i in range(1, 30)) + "\n",
    "e_broken.txt": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
    "f_en.txt": " ".join(f"Survey {i} counted {100 + i} meteors over Thistlewood." for i in range(12)) + "\n",
}


@pytest.fixture()
def batched_index(tmp_path, embedder, monkeypatch):
    """The files above ingested with 7 texts per engine call, so most files are cut across calls."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, body in FILES.items():
        path = docs / name
        path.write_bytes(body) if isinstance(body, bytes) else path.write_text(body, encoding="utf-8")
    monkeypatch.setattr(rag.sync, "EMBED_BATCH", 7)
    assistant = Assistant(docs, tmp_path / "index", embedder=embedder)
    return assistant, docs, assistant.ingest()


def test_each_file_gets_the_vectors_of_its_own_sentences(batched_index, embedder):
    assistant, docs, report = batched_index
    index = assistant.index
    assert sorted(report.added) == sorted(n for n in FILES if n != "e_broken.txt")
    for source in report.added:
        doc = load_document(docs / source, docs)
        chunks = chunk_document(doc, assistant.config.chunk_tokens, assistant.config.chunk_overlap)
        alone = embedder.embed_passages(texts_to_embed(doc, chunks))  # this file only, one call
        spans = split_sentences(doc.text)
        title_vector = alone[-1] if len(alone) > len(spans) else None
        expected = pool_chunk_vectors(doc, chunks, spans, alone[: len(spans)], title_vector)
        stored = index.chunks.get(ids=[c.id for c in chunks], include=["embeddings"])
        by_id = dict(zip(stored["ids"], stored["embeddings"]))
        assert np.allclose([by_id[c.id] for c in chunks], expected, atol=1e-5), source
        sentences = index.sentences.get(where={"source": source}, include=["metadatas", "embeddings"])
        got = {(m["start"], m["end"]): v for m, v in zip(sentences["metadatas"], sentences["embeddings"])}
        assert np.allclose([got[span] for span in spans], alone[: len(spans)], atol=1e-5), source
    assert report.embedded_texts == sum(
        len(texts_to_embed(d, chunk_document(d, 200, 40))) for d in (load_document(docs / s, docs) for s in report.added)
    )


def test_a_bad_file_among_the_batch_costs_only_itself(batched_index):
    assistant, docs, report = batched_index
    assert [source for source, _ in report.skipped] == ["e_broken.txt"]
    assert set(assistant.index.files()) == set(FILES) - {"e_broken.txt"}
    assert assistant.retrieve("When does the Harbour Ward market open?")[0].chunk.source == "c_page.html"
    assert assistant.retrieve("丹霞山第7号步道有多长？")[0].chunk.source == "d_long.md"
    assert assistant.retrieve("How many meteors did survey 5 count over Thistlewood?")[0].chunk.source == "f_en.txt"
