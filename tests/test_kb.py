"""Knowledge bases: the registry's errors, two bases that never see each other's chunks
(embedded Chroma and a real `chroma run` server), removal that keeps the documents, and
the `rag kb` / `--kb` commands. Real model, real Chroma, real files.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import Assistant, Config, ConfigError, NotFoundError
from rag.cli import main
from rag.kb import KnowledgeBases, add_base, config_for, get_base, list_bases, remove_base

ORCHARD = {
    "orchard.txt": "The Velmora orchard lab grows apples under violet LED light. It opened in 2029 in Dunmere.\n",
    "果园.txt": "维尔莫拉果园实验室位于邓米尔，种植了一千二百棵苹果树。\n",
}
HARBOUR = {
    "harbour.txt": "The Quillon Harbour ferry terminal will open in March 2031. It will serve 12,000 passengers a day.\n",
}
ORCHARD_Q = "What does the Velmora orchard lab grow?"
HARBOUR_Q = "When will the Quillon Harbour ferry terminal open?"


def write_folder(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def root(tmp_path) -> Config:
    """A root configuration: the harbour folder is the default base."""
    docs = write_folder(tmp_path / "harbour", HARBOUR)
    return Config.from_env(docs_dir=docs, index_dir=tmp_path / "index", llm="extractive")


# ---- the registry (no models) ------------------------------------------------------------


def test_default_base_is_named_after_its_folder_and_listed_first(root, tmp_path):
    write_folder(tmp_path / "o", ORCHARD)
    add_base(root, "orchard", tmp_path / "o")
    bases = list_bases(root)
    assert [(b.name, b.default) for b in bases] == [("harbour", True), ("orchard", False)]
    assert bases[1].docs_dir == (tmp_path / "o").resolve()
    assert bases[1].index_dir == tmp_path / "index" / "kb" / "orchard"
    # the default base keeps today's folder, index dir and collection names
    assert config_for(root, "harbour") == root
    named = config_for(root, "orchard")
    assert (named.kb, named.docs_dir, named.index_dir) == ("orchard", bases[1].docs_dir, bases[1].index_dir)
    registry = json.loads((tmp_path / "index" / "knowledge-bases.json").read_text())
    assert registry["bases"]["orchard"]["docs_dir"] == str((tmp_path / "o").resolve())
    assert bases[1].uid and bases[1].created > 0


@pytest.mark.parametrize(
    "name, folder, message",
    [
        ("Bad Name", "o", "not a valid knowledge base name"),
        ("x" * 33, "o", "not a valid knowledge base name"),
        ("orchard", "missing", "does not exist; create it first"),
        ("orchard", "o/orchard.txt", "is not a folder"),
        ("harbour", "o", "is already the default base"),
        ("again", "harbour", "is already the folder of knowledge base 'harbour'"),
        ("inside", "index/docs", "is inside the index dir"),
    ],
)
def test_add_refuses_with_a_clear_message(root, tmp_path, name, folder, message):
    write_folder(tmp_path / "o", ORCHARD)
    (tmp_path / "index" / "docs").mkdir(parents=True)
    with pytest.raises(ConfigError, match=message):
        add_base(root, name, tmp_path / folder)
    assert [b.name for b in list_bases(root)] == ["harbour"]


def test_duplicate_unknown_and_default_removal_are_refused(root, tmp_path):
    add_base(root, "orchard", write_folder(tmp_path / "o", ORCHARD))
    with pytest.raises(ConfigError, match="'orchard' is already a knowledge base"):
        add_base(root, "orchard", write_folder(tmp_path / "p", HARBOUR))
    with pytest.raises(NotFoundError, match=r"no knowledge base named 'nope' \(known: harbour, orchard\)"):
        get_base(root, "nope")
    with pytest.raises(NotFoundError):
        Assistant(kb="nope", config=root)
    with pytest.raises(ConfigError, match="default base"):
        remove_base(root, "harbour")


def test_a_damaged_registry_is_reported_not_ignored(root, tmp_path):
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "knowledge-bases.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="knowledge-bases.json is unreadable.*fix or delete it"):
        list_bases(root)


# ---- two bases, real index -----------------------------------------------------------------


def sources_of(answer) -> set[str]:
    return {c.source for c in answer.citations}


def check_isolated(bases: KnowledgeBases) -> None:
    harbour, orchard = bases.get("harbour"), bases.get("orchard")
    assert harbour.embedder is orchard.embedder  # one model for every base
    own = orchard.ask(ORCHARD_Q)
    assert not own.abstained and "apples" in own.text and sources_of(own) <= set(ORCHARD)
    assert harbour.ask(ORCHARD_Q).abstained  # the other base's facts are not there
    assert orchard.ask(HARBOUR_Q).abstained
    assert {c.chunk.source for c in harbour.retrieve(ORCHARD_Q, top_k=10)} <= set(HARBOUR)
    assert {c.chunk.source for c in orchard.retrieve(HARBOUR_Q, top_k=10)} <= set(ORCHARD)
    assert {f.source for f in orchard.documents()} == set(ORCHARD)
    assert {f.source for f in harbour.documents()} == set(HARBOUR)


def test_two_bases_never_see_each_other_and_removal_keeps_the_documents(root, tmp_path, embedder):
    folder = write_folder(tmp_path / "o", ORCHARD)
    add_base(root, "orchard", folder)
    bases = KnowledgeBases(root, embedder=embedder)
    check_isolated(bases)
    assert Assistant(kb="orchard", config=root, embedder=embedder).ask(ORCHARD_Q).citations

    index_dir = get_base(root, "orchard").index_dir
    assert (index_dir / "chroma").is_dir()
    remove_base(root, "orchard")
    assert not index_dir.exists()
    assert sorted(p.name for p in folder.iterdir()) == sorted(ORCHARD)  # documents untouched
    assert [b.name for b in list_bases(root)] == ["harbour"]
    with pytest.raises(NotFoundError):
        bases.get("orchard")
    assert not bases.get("harbour").ask(HARBOUR_Q).abstained
    add_base(root, "orchard", folder)  # the same name again, in the same process: a fresh index
    again = bases.get("orchard")
    assert not again.ask(ORCHARD_Q).abstained and {f.source for f in again.documents()} == set(ORCHARD)


def test_bases_on_a_shared_chroma_server_have_their_own_collections(tmp_path, embedder):
    from test_chroma_server import CHROMA, ChromaServer

    from _servers import free_port

    if not CHROMA.exists():
        pytest.skip(f"{CHROMA} is missing (pip install chromadb)")
    server = ChromaServer(tmp_path / "chroma-data", free_port())
    try:
        docs = write_folder(tmp_path / "harbour", HARBOUR)
        root = Config.from_env(docs_dir=docs, index_dir=tmp_path / "index", llm="extractive", chroma_url=server.url)
        add_base(root, "orchard", write_folder(tmp_path / "o", ORCHARD))
        bases = KnowledgeBases(root, embedder=embedder)
        check_isolated(bases)
        import chromadb

        client = chromadb.HttpClient(host="127.0.0.1", port=int(server.url.rsplit(":", 1)[1]))
        names = {c.name if hasattr(c, "name") else c for c in client.list_collections()}
        assert any(n.startswith("kb_orchard_chunks_") for n in names) and any(n.startswith("chunks_") for n in names)
        remove_base(root, "orchard")
        names = {c.name if hasattr(c, "name") else c for c in client.list_collections()}
        assert not any(n.startswith("kb_orchard_") for n in names)
        assert not bases.get("harbour").ask(HARBOUR_Q).abstained  # the default base's collections stay
    finally:
        server.stop()


# ---- the command line ---------------------------------------------------------------------


def test_kb_commands(tmp_path, capsys, monkeypatch):
    docs = write_folder(tmp_path / "harbour", HARBOUR)
    folder = write_folder(tmp_path / "o", ORCHARD)
    monkeypatch.setenv("RAG_DOCS_DIR", str(docs))
    index = ["--index", str(tmp_path / "index")]
    assert main([*index, "kb", "add", "orchard", str(folder)]) == 0
    assert "added knowledge base orchard" in capsys.readouterr().out
    assert main([*index, "ingest", "--kb", "orchard"]) == 0
    assert "2 added" in capsys.readouterr().out
    assert main([*index, "ask", "--kb", "orchard", "--json", ORCHARD_Q]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert not answer["abstained"] and {c["source"] for c in answer["citations"]} <= set(ORCHARD)
    assert main([*index, "ask", "--json", ORCHARD_Q]) == 0  # the default base does not know it
    assert json.loads(capsys.readouterr().out)["abstained"]
    assert main([*index, "kb", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("harbour (default)\t") and lines[1] == f"orchard\t{folder.resolve()}\t2 documents indexed"

    assert main([*index, "ask", "--kb", "nope", "q"]) == 1
    assert "no knowledge base named 'nope'" in capsys.readouterr().err
    assert main([*index, "ingest", str(docs), "--kb", "orchard"]) == 1
    assert "either a documents folder or --kb" in capsys.readouterr().err
    assert main([*index, "kb", "add", "orchard", str(write_folder(tmp_path / "p", HARBOUR))]) == 1
    assert "already a knowledge base" in capsys.readouterr().err

    assert main([*index, "kb", "remove", "orchard"]) == 0
    assert "its documents in" in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == sorted(ORCHARD)
    assert main([*index, "kb", "remove", "orchard"]) == 1
    assert "no knowledge base named 'orchard'" in capsys.readouterr().err
