"""Servers the end-to-end tests start: `chroma run` and `python -m ui`, each a real process.

One helper for all of them: a free port, the process in its own group (so a SIGTERM reaches
its workers too), its output collected for failure messages, a wait that gives up as soon
as the process dies, and a stop that cannot leave it running.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from rag.local_model import free_port  # noqa: F401  (the server tests import it from here)


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
