"""`python -m eval bench`: speed figures against their targets, next to the LlamaIndex peer."""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .metrics import latency, peak_memory_mb
from .questions import Question, load_questions
from .report import REPORTS_DIR, machine, timestamp

# Each question is timed once: timing repeats would measure any cache of repeated questions.
REPEATS = 1
WARM_UP = "这些文档讲了什么？What are these documents about?"
IMPORT_RUNS = 5
COLD_RUNS = 3
TARGETS = {
    "retrieve_p50_ms": 25,
    "retrieve_p95_ms": 50,
    "speedup_vs_peer": 2.5,
    "retrieve_p50_100k_ms": 60,
    "answer_p50_ms": 300,
    "ingest_share_of_model": 0.70,
    "folder_ingest_share_of_engine": 0.80,
    "import_seconds": 0.5,
    "cold_ask_seconds": 10,
    "llm_first_token_seconds": 15,
    "llm_total_seconds": 40,
    "app_rss_mb": 3072,
}
APP_READY_TIMEOUT = 300  # seconds for `python -m ui` to index and warm up


def timed_ms(fn, *args, repeats: int = REPEATS, **kwargs) -> float:
    """Fastest of `repeats` calls (one by default), in milliseconds."""
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        fn(*args, **kwargs)
        best = min(best, (time.perf_counter() - began) * 1000)
    return best


# ------------------------------------------------------------------ the measurements


def measure_ingest(docs_dir: Path, index_dir: Path, embedder=None):
    """Fresh ingest of a folder (pipeline warmed up first), against the embedding engine's own
    batched rate on the same texts, measured just before and just after (the mean: this
    machine's speed drifts by 20-30% within a minute)."""
    from rag import Assistant

    assistant = Assistant(docs_dir, index_dir, embedder=embedder)
    began = time.perf_counter()
    warm_up_pipeline(assistant)
    start_up = time.perf_counter() - began
    texts, characters = embedded_texts(docs_dir, assistant.config)
    sample = ceiling_sample(texts)
    before = _encode_seconds(assistant.embedder, sample)
    load = os.getloadavg()[0]
    report = assistant.ingest()
    load = round((load + os.getloadavg()[0]) / 2, 2)
    engine_rate = assistant.embedder.count_passage_tokens(sample) / ((before + _encode_seconds(assistant.embedder, sample)) / 2)
    return assistant, ingest_figures(report, characters, engine_rate, start_up, load)


def ingest_figures(report, characters: int, engine_rate: float, start_up: float, load: float) -> dict:
    """Rates of one ingest against the engine's, and where its seconds went."""
    seconds, tokens = report.seconds, report.embedded_tokens
    files = len(report.added) + len(report.updated)
    steps = {name: round(value, 2) for name, value in report.timings.items()}
    main_thread = report.embed_seconds + sum(v for k, v in report.timings.items() if "overlapped" not in k)
    return {
        "files": files,
        "chunks": report.chunks,
        "embedded_texts": report.embedded_texts,
        "embedded_tokens": tokens,
        "characters": characters,
        "seconds": round(seconds, 2),
        "files_per_second": round(files / seconds, 2),
        "characters_per_second": round(characters / seconds, 1),
        "tokens_per_second": round(tokens / seconds, 1),
        "chunks_per_second": round(report.chunks / seconds, 2),
        "engine_tokens_per_second": round(engine_rate, 1),
        "share_of_engine": round(tokens / seconds / engine_rate, 3),
        "embed_seconds": round(report.embed_seconds, 2),
        "steps_seconds": steps,
        "other_seconds": round(seconds - main_thread, 2),
        "start_up_seconds": round(start_up, 2),
        "load_average_1m": load,
    }


def embedded_texts(docs_dir: Path, config) -> tuple[list[str], int]:
    """The texts an ingest of the folder runs through the model, in its order, and the
    characters of the cleaned documents."""
    from rag.chunking import chunk_document
    from rag.ingest import iter_documents
    from rag.sync import texts_to_embed
    from rag.types import Document

    texts, characters = [], 0
    for doc in iter_documents(docs_dir, max_file_mb=config.max_file_mb):
        if isinstance(doc, Document):
            texts += texts_to_embed(doc, chunk_document(doc, config.chunk_tokens, config.chunk_overlap))
            characters += len(doc.text)
    return texts, characters


# The engine's own rate is measured on every CEILING_EVERY-th engine batch of the ingest's
# texts: the same mix of lengths and scripts in a quarter of the time.
CEILING_EVERY = 4


def ceiling_sample(texts: list[str]) -> list[str]:
    from rag.sync import EMBED_BATCH

    return [t for start in range(0, len(texts), EMBED_BATCH * CEILING_EVERY) for t in texts[start : start + EMBED_BATCH]]


def warm_up_pipeline(assistant) -> None:
    """Pay the one-time costs of a new process before the timed ingest: loading the model,
    importing the loaders and bm25s (with scipy), reading jieba's and pypinyin's dictionaries
    (about 5 s together on 2 cores). One small two-language file goes through the whole
    pipeline, into an index of its own."""
    from rag import Assistant

    with tempfile.TemporaryDirectory(prefix="rag-bench-warm-") as tmp:
        docs = Path(tmp, "docs")
        docs.mkdir()
        (docs / "warm.txt").write_text("预热文件：北京的创新区。A warm-up file about an innovation zone.\n", encoding="utf-8")
        warm = Assistant(docs, Path(tmp, "index"), embedder=assistant.embedder)
        warm.ingest()


def _encode_seconds(embedder, texts: list[str]) -> float:
    """Seconds for the embedding engine to encode the texts, in the batches ingest uses."""
    from rag.sync import EMBED_BATCH

    began = time.perf_counter()
    embedder.embed_passages(texts, batch_size=EMBED_BATCH)
    return time.perf_counter() - began


def measure_queries(assistant, questions: list[Question]) -> dict:
    """Warm a.retrieve (top 5) and a.ask latencies over every question, and retrieval's two parts."""
    texts = [q.question for q in questions]
    assistant.ask(WARM_UP)  # loads BM25, jieba and pypinyin; not one of the timed questions
    retrieve = [timed_ms(assistant.retrieve, t, top_k=5) for t in texts]
    answer = [timed_ms(assistant.ask, t) for t in texts]
    return {"retrieve": latency(retrieve), "answer": latency(answer), **retrieval_parts(assistant, texts)}


def retrieval_parts(assistant, texts: list[str]) -> dict:
    """Query embedding alone, and the index side alone (rag.retrieve.Retriever given the vector).

    A diagnostic: under load the embedding's two torch threads swing wildly, while the
    index side (Chroma + BM25 + fusion) is what grows with the corpus.
    """
    from rag.evidence import Query
    from rag.retrieve import Retriever

    embed, index_side = [], []
    retriever = Retriever(assistant.index, assistant.embedder)
    for text in texts:
        began = time.perf_counter()
        vector = assistant.embedder.embed_queries([text])[0]
        embed.append((time.perf_counter() - began) * 1000)
        index_side.append(timed_ms(retriever.retrieve, Query.of(text), 5, assistant.config.candidates, vector))
    return {"query_embedding": latency(embed), "index_side": latency(index_side)}


def measure_peer(docs_dir: Path, questions: list[Question], config) -> dict:
    """Build the LlamaIndex peer and time its retriever on the same questions."""
    from .peer import build_peer

    peer = build_peer(docs_dir, config)
    try:
        texts = [q.question for q in questions]
        peer.retriever.retrieve(WARM_UP)
        times = [timed_ms(peer.retriever.retrieve, t) for t in texts]
    finally:
        shutil.rmtree(peer.persist_dir, ignore_errors=True)
    return {"build_seconds": peer.build_seconds, "nodes": peer.nodes, "retrieve": latency(times),
            "nodes_per_second": round(peer.nodes / peer.build_seconds, 2)}


def measure_import() -> dict:
    """`import rag` in a fresh interpreter, best of IMPORT_RUNS."""
    code = "import time; t = time.perf_counter(); import rag; print(time.perf_counter() - t)"
    runs = [float(_run([sys.executable, "-c", code]).stdout) for _ in range(IMPORT_RUNS)]
    return {"best_seconds": round(min(runs), 3), "runs": [round(r, 3) for r in runs]}


def measure_cold_ask(docs_dir: Path, index_dir: Path, question: str) -> dict:
    """Wall time of `rag ask` in a new process on a built index, median of COLD_RUNS."""
    rag = Path(sys.executable).parent / "rag"
    cmd = [str(rag), "--index", str(index_dir), "ask", question, "--docs", str(docs_dir)]
    runs = []
    for _ in range(COLD_RUNS):
        began = time.perf_counter()
        _run(cmd)
        runs.append(time.perf_counter() - began)
    return {"median_seconds": round(statistics.median(runs), 2), "runs": [round(r, 2) for r in runs], "question": question}


COLD_STAGES = """
import json, sys, time
t = [time.perf_counter()]
import chromadb; t.append(time.perf_counter())
from rag import Assistant
a = Assistant(sys.argv[1], sys.argv[2]); a.embedder.model; t.append(time.perf_counter())
a.ingest(); t.append(time.perf_counter())
a.ask(sys.argv[3]); t.append(time.perf_counter())
names = ["import chromadb", "import rag + load the embedding engine", "index check (ingest)", "first ask (BM25, jieba, pypinyin load)"]
print(json.dumps({n: round(b - a, 2) for n, a, b in zip(names, t, t[1:])}))
"""


def measure_cold_stages(docs_dir: Path, index_dir: Path, question: str) -> dict:
    """Where a cold process spends its time, stage by stage (one run)."""
    done = _run([sys.executable, "-c", COLD_STAGES, str(docs_dir), str(index_dir), question])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {done.stderr[-1000:]}")
    return done


def measure_llm(assistant) -> dict:
    """The default backend (the local LLM) on eval.bench_llm's seed questions, once per installed
    llama.cpp runtime (xllamacpp, the default; llama-cpp-python, the previous one), side by side."""
    from rag.errors import RagError

    from .bench_llm import EVAL_DIR, QUESTIONS, bench

    try:  # the children index seeds/ in their own dir: the bench's index stays as it is
        return bench(["xllamacpp", "llama-cpp-python"], QUESTIONS, EVAL_DIR / ".index-bench-llm")
    except RagError as exc:
        return {"skipped": f"local LLM unavailable: {exc}"}


def measure_app_rss(docs_dir: Path, index_dir: Path, question: str, runtime: str = "xllamacpp") -> dict:
    """Resident memory of the real web app (`python -m ui`, its default backend: the local LLM)
    after it answered one question through its HTTP API, so both models are loaded."""
    import threading

    from gradio_client import Client


    port = free_port()
    env = {**os.environ, "RAG_LLM": "local", "RAG_LLM_RUNTIME": runtime, "RAG_DOCS_DIR": str(docs_dir),
           "RAG_INDEX_DIR": str(index_dir), "RAG_UI_PORT": str(port), "RAG_UI_HOST": "127.0.0.1"}
    env.pop("RAG_CHROMA_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "ui"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ready, output = threading.Event(), []

    def pump():
        for line in proc.stdout:
            output.append(line)
            if "Language model ready" in line or "Language model unavailable" in line:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        if not ready.wait(APP_READY_TIMEOUT):
            return {"skipped": f"the app was not ready in {APP_READY_TIMEOUT} s: {''.join(output)[-500:]}"}
        began = time.perf_counter()
        Client(f"http://127.0.0.1:{port}/", verbose=False).predict(question, [], 6, api_name="/respond")
        answered = time.perf_counter() - began
        status = Path(f"/proc/{proc.pid}/status").read_text()
        fields = {k: int(v.split()[0]) / 1024 for k, v in (line.split(":", 1) for line in status.splitlines()) if k in ("VmRSS", "VmHWM")}
        return {"rss_mb": round(fields["VmRSS"], 1), "peak_rss_mb": round(fields["VmHWM"], 1),
                "question_seconds": round(answered, 2), "question": question}
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def measure_scaling(sizes: list[int], questions_file: Path, budget: float) -> list[dict]:
    """Each size built and measured in its own processes; sizes that would not fit the budget are skipped."""
    from .scaling import run_worker

    began, points, per_chunk, measure_seconds = time.perf_counter(), [], None, 0.0
    for size in sorted(sizes):
        left = budget - (time.perf_counter() - began)
        projected = per_chunk * size * 1.2 + 2 * measure_seconds if per_chunk else None
        if projected and projected > left:
            points.append({"chunks": size, "skipped": f"projected {projected:.0f} s, {left:.0f} s of the budget left"})
            continue
        workdir = Path(tempfile.mkdtemp(prefix=f"rag-scale-{size}-"))
        try:
            built = run_worker("build", workdir, size, questions_file, timeout=max(left, 60))
            step = time.perf_counter()
            measured = run_worker("measure", workdir, size, questions_file, timeout=max(left, 60))
            per_chunk, measure_seconds = built["build_seconds"] / size, time.perf_counter() - step
            points.append({**built, **measured, "chunks": measured["chunks"]})
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            points.append({"chunks": size, "skipped": f"failed or timed out: {str(exc)[:300]}"})
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return points


# ------------------------------------------------------------------ table


def _row(figure: str, measured: str, target: str, peer: str = "", ratio: str = "", ok: bool | None = None) -> list[str]:
    mark = "" if ok is None else ("yes" if ok else "**no**")
    return [figure, measured, target, peer, ratio, mark]


def bench_rows(b: dict) -> list[list[str]]:
    """The figures, measured against their targets and the peer."""
    q, peer = b["queries"], b["peer"]
    r50, r95, a50 = q["retrieve"]["p50_ms"], q["retrieve"]["p95_ms"], q["answer"]["p50_ms"]
    p50, p95 = peer["retrieve"]["p50_ms"], peer["retrieve"]["p95_ms"]
    speedup = p50 / r50
    peer_build = f"{peer['build_seconds']:.1f} s ({peer['nodes']} nodes, {peer['nodes_per_second']:.2f} nodes/s)"
    rows = all_ingest_rows(b, peer_build) + [
        _row("retrieval p50 (warm, top 5)", f"{r50:.1f} ms", "<= 25 ms", f"{p50:.1f} ms", f"{speedup:.2f}x", r50 <= TARGETS["retrieve_p50_ms"]),
        _row("retrieval p95 (warm, top 5)", f"{r95:.1f} ms", "<= 50 ms", f"{p95:.1f} ms", f"{p95 / r95:.2f}x", r95 <= TARGETS["retrieve_p95_ms"]),
        _row("retrieval speed-up vs peer (p50)", f"{speedup:.2f}x", ">= 2.5x", "", "", speedup >= TARGETS["speedup_vs_peer"]),
        _row("  of which: query embedding p50", f"{q['query_embedding']['p50_ms']:.1f} ms", ""),
        _row("  of which: index side p50 (Chroma + BM25 + fusion)", f"{q['index_side']['p50_ms']:.1f} ms", ""),
    ]
    for point in b["scaling"]:
        n = point["chunks"]
        target = "<= 60 ms" if n >= 100_000 else ""
        if "skipped" in point:
            rows.append(_row(f"retrieval p50 at {n:,} synthetic chunks", f"not measured: {point['skipped']}", target))
            continue
        p = point["retrieve"]["p50_ms"]
        ok = p <= TARGETS["retrieve_p50_100k_ms"] if n >= 100_000 else None
        side = point["index_side"]
        rows.append(_row(f"retrieval p50 / p95 at {n:,} synthetic chunks", f"{p:.1f} / {point['retrieve']['p95_ms']:.1f} ms "
                         f"(index side {side['p50_ms']:.1f} / {side['p95_ms']:.1f} ms)", target, ok=ok))
        build = f"build {point['build_seconds']:.0f} s, of which BM25 {point['bm25_seconds']:.0f} s"
        rows.append(_row(f"peak memory at {n:,} synthetic chunks", f"{point['peak_memory_mb']:.0f} MB ({build})", ""))
    rows += [
        _row("extractive answer p50 (a.ask)", f"{a50:.1f} ms", "<= 300 ms", ok=a50 <= TARGETS["answer_p50_ms"]),
        _row("import rag (best of 5)", f"{b['import']['best_seconds']:.3f} s", "<= 0.5 s", ok=b["import"]["best_seconds"] <= TARGETS["import_seconds"]),
        _row("cold `rag ask` (new process, built index)", f"{b['cold_ask']['median_seconds']:.2f} s", "<= 10 s",
             ok=b["cold_ask"]["median_seconds"] <= TARGETS["cold_ask_seconds"]),
        _row("peak memory (bench process: rag + peer)", f"{b['peak_memory_mb']:.0f} MB", ""),
    ]
    llm, app = b["llm"], b["app"]
    if "skipped" in llm:
        rows.append(_row("local LLM answer", f"not measured: {llm['skipped']}", "<= 15 s / <= 40 s"))
    else:
        for name, r in llm["runtimes"].items():
            if "skipped" in r:
                rows.append(_row(f"local LLM on {name}", f"not measured: {r['skipped']}", ""))
                continue
            s_ = r["summary"]
            ttft, total = s_["first_token_s"], s_["total_s"]
            rows += [
                _row(f"{name}: first evidence / first answer token p50 ({ttft['n']} seed questions)",
                     f"{s_['evidence_s']['p50']:.2f} s / {ttft['p50']:.1f} s (p95 {ttft['p95']:.1f} s)", "<= 15 s",
                     ok=ttft["p50"] <= TARGETS["llm_first_token_seconds"]),
                _row(f"{name}: full answer p50", f"{total['p50']:.1f} s (p95 {total['p95']:.1f} s; model load {r['load_s']:.1f} s)",
                     "<= 40 s", ok=total["p50"] <= TARGETS["llm_total_seconds"]),
                _row(f"{name}: prompt / generation tokens/s", f"{s_['prompt_tokens_per_s'] or '-'} / {s_['tokens_per_s'] or '-'} "
                     f"(process peak RSS {r['peak_rss_mb']:.0f} MB)", ""),
            ]
    if "skipped" in app:
        rows.append(_row("web app RSS with the local LLM loaded", f"not measured: {app['skipped']}", "<= 3 GB"))
    else:
        rows.append(_row("web app RSS with the local LLM loaded (after one answer)",
                         f"{app['rss_mb']:.0f} MB (peak {app['peak_rss_mb']:.0f} MB)", "<= 3 GB",
                         ok=app["peak_rss_mb"] <= TARGETS["app_rss_mb"]))
    return rows


def all_ingest_rows(b: dict, peer_build: str = "") -> list[list[str]]:
    """The seeds' ingest rows, then the generated folder's when it was measured."""
    rows = ingest_rows("seeds", b["ingest"], TARGETS["ingest_share_of_model"], peer_build)
    if "ingest_folder" in b:
        folder = b["ingest_folder"]
        rows += ingest_rows(f"{folder['files']:,} mixed files", folder, TARGETS["folder_ingest_share_of_engine"])
    return rows


def ingest_rows(name: str, ing: dict, target: float, peer_build: str = "") -> list[list[str]]:
    """Rate against the engine's, files and characters per second, and where the time went."""
    steps = ing["steps_seconds"]
    waits = ", ".join(f"{k} {v:.1f} s" for k, v in steps.items() if "overlapped" not in k)
    overlapped = ", ".join(f"{k.removesuffix(' (overlapped)')} {v:.1f} s" for k, v in steps.items() if "overlapped" in k)
    return [
        _row(f"ingest rate ({name}, fresh index)", f"{ing['tokens_per_second']:,.0f} tokens/s",
             f">= {target:.0%} of engine", "", f"{ing['share_of_engine']:.0%} of the engine's {ing['engine_tokens_per_second']:,.0f} tokens/s",
             ing["share_of_engine"] >= target),
        _row(f"index build ({name})", f"{ing['seconds']:.1f} s: {ing['files']:,} files ({ing['files_per_second']:.2f}/s), "
             f"{ing['characters']:,} characters ({ing['characters_per_second']:,.0f}/s), {ing['chunks']:,} chunks, "
             f"{ing['embedded_tokens']:,} tokens in {ing['embedded_texts']:,} embedded texts; load {ing['load_average_1m']}", "",
             peer_build),
        _row(f"  where it went ({name})", f"embedding {ing['embed_seconds']:.1f} s, {waits}, other {ing['other_seconds']:.1f} s; "
             f"on other threads, overlapping: {overlapped}; one-time start-up before it {ing['start_up_seconds']:.1f} s", ""),
    ]


def bench_table(b: dict) -> str:
    head = ["figure", "measured", "target", "peer (LlamaIndex)", "ratio", "meets target"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = bench_rows(b) if "queries" in b else all_ingest_rows(b)
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


NOTES = [
    "Latencies: each question timed once, after one warm-up question that is not in the set (timing repeats would "
    "measure a cache of repeated questions); p50/p95 over the {n} questions. rag's retrieval is "
    "a.retrieve(top_k=5): e5 query embedding + Chroma + BM25 + fusion. The peer's is LlamaIndex's top-5 retriever "
    "(e5 query embedding + Chroma) built in the same run.",
    "Ingest rate: engine tokens embedded per second of a fresh `ingest()` (whole call: hashing, parsing, embedding, "
    "Chroma writes and the BM25 build), after one small file went through the pipeline in the same process (model load, "
    "imports, jieba and pypinyin dictionaries: the start-up figure), against the embedding engine (RAG_EMBED_ENGINE) encoding the same texts "
    "(every sentence once, and the titles; chunk vectors are pooled from them) in the same batches, on every "
    f"{CEILING_EVERY}th batch, once just before and once just after the ingest (mean). The mixed folder is generated by "
    "eval.folder: one public passage a file (CMRC 2018, DRCD, XQuAD) as UTF-8, GB18030 or Big5 text, HTML, or .docx. "
    "'Waiting' is time the embedding thread stood idle; parsing and writing run on their own threads, overlapping it.",
    "Scaling: synthetic documents made of the seeds' sentences shuffled into new files, cleaned and chunked by the "
    "library; their chunk vectors are RANDOM unit vectors written through rag.index.ChunkIndex (real embedding of "
    "100k chunks would take hours on 2 cores). BM25 is built over the real chunk text. Each size is built in one "
    "process and measured in a fresh one (peak memory = serving process: model + Chroma + BM25).",
    "Cold `rag ask`: wall time of `.venv/bin/rag --index DIR ask ...` on the already built index, median of "
    f"{COLD_RUNS}; includes interpreter start, imports, model load, the index check and the answer.",
    "Local LLM (the default backend): eval.bench_llm's six seed questions through `ask_stream`, once per installed "
    "llama.cpp runtime, each in its own process after the model's warm-up; times count from the call (retrieval and "
    "the prompt included). Web app RSS: `python -m ui` (default backend) started on the bench index, one question "
    "asked through its HTTP API once the model is ready, then /proc/PID/status read.",
]


def render(b: dict) -> str:
    notes = "\n".join(f"- {n.format(n=b['questions'])}" for n in (NOTES if "queries" in b else NOTES[1:2]))
    load = f"{b['machine']['load_average_1m_at_start']} at the start, {b['machine']['load_average_1m']}"
    stages = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in b.get("cold_stages", {}).items())
    return (f"# rag bench — {b['created']}\n\n{b['machine']['cpus']} CPUs, 1-minute load average {load} at the end "
            f"(other processes on the machine slow every figure).\n\n{bench_table(b)}\n\n{notes}\n"
            + (f"- Cold start by stage (one run, in-process timers): {stages}.\n" if stages else ""))


def run_bench(docs_dir: Path, questions_file: Path, out_dir: Path | None, sizes: list[int], budget: float,
              with_llm: bool = True, folder_files: int = 2000, ingest_only: bool = False) -> int:
    """Measure everything (or only ingest), write bench.json and bench.md, print the table."""
    import datetime as dt

    # The retrieval, answer, cold-start and scaling figures measure the quotes (extractive);
    # the local LLM is the library's default now, so pin it here and in the child processes.
    # The LLM figures choose their backend explicitly.
    os.environ["RAG_LLM"] = "extractive"
    questions = load_questions(questions_file)
    load_at_start = round(os.getloadavg()[0], 2)
    index_dir = Path(tempfile.mkdtemp(prefix="rag-bench-index-"))
    try:
        assistant, ingest = measure_ingest(docs_dir, index_dir)
        bench = {"created": dt.datetime.now().isoformat(timespec="seconds"), "questions": len(questions), "ingest": ingest}
        if folder_files:
            bench["ingest_folder"] = measure_folder_ingest(assistant, folder_files)
        if not ingest_only:
            bench.update(measure_the_rest(assistant, docs_dir, index_dir, questions, questions_file, sizes, budget, with_llm))
        bench["targets"] = TARGETS
        bench["machine"] = {**machine(), "load_average_1m_at_start": load_at_start}
    finally:
        shutil.rmtree(index_dir, ignore_errors=True)
    out_dir = Path(out_dir or REPORTS_DIR / timestamp())
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(bench, ensure_ascii=False, indent=2), encoding="utf-8")
    markdown = render(bench)
    (out_dir / "bench.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    print(f"bench: {out_dir}/bench.md")
    return 0


def measure_folder_ingest(assistant, files: int) -> dict:
    """measure_ingest on eval.folder's generated folder, in an index of its own."""
    from .folder import mixed_folder

    folder = mixed_folder(assistant.config.cache_dir, files)
    index_dir = Path(tempfile.mkdtemp(prefix="rag-bench-folder-index-"))
    try:
        return measure_ingest(folder, index_dir, assistant.embedder)[1]
    finally:
        shutil.rmtree(index_dir, ignore_errors=True)


def measure_the_rest(assistant, docs_dir: Path, index_dir: Path, questions: list[Question], questions_file: Path,
                     sizes: list[int], budget: float, with_llm: bool) -> dict:
    """Everything after ingest: latencies, the peer, start-up, the LLM, memory and scaling."""
    rest = {
        "queries": measure_queries(assistant, questions),
        "peer": measure_peer(docs_dir, questions, assistant.config),
        "import": measure_import(),
        "cold_ask": measure_cold_ask(docs_dir, index_dir, questions[0].question),
        "cold_stages": measure_cold_stages(docs_dir, index_dir, questions[0].question),
        "peak_memory_mb": round(peak_memory_mb(), 1),
    }
    rest["llm"] = measure_llm(assistant) if with_llm else {"skipped": "--no-llm"}
    rest["app"] = measure_app_rss(docs_dir, index_dir, questions[0].question) if with_llm else {"skipped": "--no-llm"}
    rest["scaling"] = measure_scaling(sizes, questions_file, budget)
    return rest


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on now (for the web app the bench starts)."""
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
