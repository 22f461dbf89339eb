"""Servers the end-to-end tests start: `chroma run`, `python -m ui`, llama.cpp's server; each a real process.

One helper for all of them: a free port, the process in its own group (so a SIGTERM reaches
its workers too), its output collected for failure messages, a wait that gives up as soon
as the process dies, and a stop that cannot leave it running.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from rag.errors import ModelError
from rag.local_model import ensure_model


def answers_http(url: str) -> bool:
    """True when `url` answers 200 within two seconds."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


class ServerProcess:
    """A command run in its own process group, every output line kept in `lines`."""

    def __init__(self, name: str, args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None):
        self.name = name
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors="replace", start_new_session=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def log(self, last: int = 80) -> str:
        return "\n".join(self.lines[-last:])

    def printed(self, prefix: str) -> bool:
        return any(line.startswith(prefix) for line in self.lines)

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Poll `ready` until it holds; fail at once if the process exits, or after `timeout` s."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                self.stop()
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{self.name} was not ready in {timeout:.0f} s:\n{self.log()}")
            time.sleep(0.25)

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL if it is still there after 15 s."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on now."""
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def llama_server(
    model: Path | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    threads: int = 2,
    n_ctx: int = 2048,
    ready_timeout: float = 180.0,
    log_path: Path | None = None,
):
    """Run llama.cpp's own server (xllamacpp, `--serve` below) on the GGUF in a child process;
    yields its /v1 base URL once /v1/models answers.

    The OpenAI-compatible route to the same model, as another tool would reach it.
    """
    import httpx

    model = model or ensure_model(progress=False)
    port = port or free_port(host)
    cmd = [
        sys.executable, "-m", "rag.local_model", "--serve", "--model", str(model), "--host", host, "--port", str(port),
        "--threads", str(threads), "--ctx", str(n_ctx),
    ]
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://{host}:{port}/v1"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise ModelError(f"the llama.cpp server exited with code {proc.returncode}" + (f"; see {log_path}" if log_path else ""))
            try:
                if httpx.get(f"{base}/models", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ModelError(f"the llama.cpp server did not answer on {base} within {ready_timeout:.0f} s")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log_path:
            out.close()
