"""Watching the documents folder: files added, changed or removed are indexed within seconds.

`FolderWatcher` waits for file-system events (watchfiles: inotify, FSEvents, ReadDirectoryChangesW),
lets a burst settle, and then runs the same incremental sync as `rag ingest`
(`Assistant.ingest()` -> `rag.sync.sync_corpus`): files are compared by hash, a changed or
removed file's chunks go, a crash half-way is repaired on the next sync. A watched index
therefore carries the guarantee `rag ingest` gives, and nothing else needs to be trusted.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .errors import RagError

log = logging.getLogger(__name__)

# A burst (a copy of 50 files, an editor's write-rename-delete save) is one sync: changes are
# collected until the folder has been quiet for QUIET_MS, and for at most SETTLE_MAX_MS.
# `cp` of 50 small files lands within a few ms, well inside one quiet period.
QUIET_MS = 400
SETTLE_MAX_MS = 5000
# How often the watcher looks up from waiting, to notice a stop, a vanished folder or a sync to retry.
CHECK_EVERY_MS = 1000
RETRY_AFTER_S = 5.0  # after a failed sync (another process holding the index, a server down)
POLL_DELAY_MS = 1000  # between scans, when the OS gives no events (some network shares, a watch limit)
FOLDER_POLL_S = 1.0  # while the folder is missing (an unmounted share, a folder renamed away)

# Files that are still being written or belong to an editor, never documents themselves:
# browser downloads in progress, editors' swap and backup files, Office and LibreOffice locks.
_TEMPORARY_SUFFIXES = (".part", ".partial", ".crdownload", ".download", ".tmp", ".swp", ".swx", ".bak")


def is_temporary(name: str) -> bool:
    """True for hidden files, Office lock files ("~$x.docx"), backups ("x~") and partial downloads."""
    lowered = name.lower()
    return name.startswith((".", "~$")) or name.endswith("~") or lowered.endswith(_TEMPORARY_SUFFIXES)


def is_document_change(path: Path, root: Path, suffixes: tuple[str, ...], ignored: Path | None = None) -> bool:
    """Whether a change at `path` can alter what is indexed: a supported file, or a folder
    (moving a folder in or out reports the folder only). A path we cannot see any more
    without a suffix may have been a folder, so it counts too."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        return False
    if ignored is not None and path.is_relative_to(ignored):
        return False  # the index itself, when it lives inside the documents folder
    if any(is_temporary(part) for part in relative.parts):
        return False
    suffix = path.suffix.lower()
    return suffix in suffixes or path.is_dir() or (not suffix and not path.exists())


def change_lines(report, reported_skips: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """One line per file a sync added, updated or removed, and per file newly skipped (or skipped
    for a new reason), with the skips to remember for next time. An unreadable file is tried
    again on every sync; its reason is printed once."""
    lines = [f"added {s}" for s in report.added] + [f"updated {s}" for s in report.updated]
    lines += [f"removed {s}" for s in report.removed]
    skips = dict(report.skipped)
    lines += [f"skipped {s}: {reason}" for s, reason in report.skipped if reported_skips.get(s) != reason]
    return lines, skips


def _folder_identity(root: Path) -> tuple[int, int] | None:
    """(device, inode) of the folder, or None: a folder deleted and made again is a new one to watch."""
    try:
        stat = root.stat()
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino) if root.is_dir() else None


class FolderWatcher:
    """Keeps an Assistant's index in step with its documents folder until stopped.

    `echo` receives one line per change picked up (and per problem); `on_sync` receives the
    IngestReport of every sync that ran. `run()` blocks; `start()` runs it on a daemon thread.
    """

    def __init__(
        self,
        assistant,
        *,
        echo: Callable[[str], None] = print,
        on_sync: Callable[[object], None] | None = None,
        quiet_ms: int = QUIET_MS,
        settle_max_ms: int = SETTLE_MAX_MS,
    ) -> None:
        self.assistant = assistant
        self.root = Path(assistant.config.docs_dir).absolute()  # watchfiles reports paths under it as given
        self.syncs = 0  # syncs run, the first (catch-up) one included
        self._echo = echo
        self._on_sync = on_sync
        self._quiet_ms, self._settle_max_ms = quiet_ms, settle_max_ms
        self._stop = threading.Event()
        self._skips: dict[str, str] = {}
        self._retry_at: float | None = None
        self._failure = ""  # the last failed sync's reason, until a sync succeeds
        self._polling = False  # set when the OS would not give us events for the folder
        self._thread: threading.Thread | None = None

    # ---- running -----------------------------------------------------------------------

    def run(self) -> None:
        """Sync, then sync after every burst of changes, until `stop()`. A folder that vanishes
        is waited for (its documents stay indexed meanwhile) and synced when it is back."""
        while not self._stop.is_set():
            if not self._wait_for_folder():
                return
            self._watch()

    def start(self) -> threading.Thread:
        """Run on a daemon thread; returns it."""
        self._thread = threading.Thread(target=self.run, name="rag-folder-watcher", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = 10.0) -> None:
        """Ask the watcher to stop and wait for a sync in progress to finish."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- one sync ----------------------------------------------------------------------

    def sync(self):
        """Bring the index in step with the folder; one line per change. Returns the IngestReport,
        or None when the sync failed (it is retried after RETRY_AFTER_S)."""
        first = self.syncs == 0
        try:
            report = self.assistant.ingest()
        except Exception as exc:  # the watcher must outlive any one failed sync
            if not isinstance(exc, RagError):
                log.exception("sync of %s failed", self.root)
            if str(exc) != self._failure:  # a lasting problem is said once, not every few seconds
                self._echo(f"sync failed: {exc}; trying again every {RETRY_AFTER_S:g} s")
            self._failure = str(exc)
            self._retry_at = time.monotonic() + RETRY_AFTER_S
            return None
        self.syncs += 1
        self._retry_at, self._failure = None, ""
        lines, self._skips = change_lines(report, self._skips)
        if first:  # the catch-up sync may touch thousands of files: a summary, and the skips
            lines = [line for line in lines if line.startswith("skipped ")] + [f"up to date: {report.summary()}"]
        for line in lines:
            self._echo(line)
        if self._on_sync is not None:
            self._on_sync(report)
        return report

    # ---- waiting -----------------------------------------------------------------------

    def _watch(self) -> None:
        """Sync once the watch is up, then after each burst of changes, until stopped or until the
        folder is gone or replaced. Syncing after the watch began means a file that lands during
        the catch-up sync is either in it or reported to the next one."""
        import watchfiles

        identity = _folder_identity(self.root)
        caught_up = False
        try:
            for changes in watchfiles.watch(
                self.root,
                watch_filter=self._counts,
                debounce=self._settle_max_ms,
                step=self._quiet_ms,
                stop_event=self._stop,
                rust_timeout=CHECK_EVERY_MS,
                yield_on_timeout=True,
                force_polling=self._polling or None,  # None: watchfiles decides (WATCHFILES_FORCE_POLLING)
                poll_delay_ms=POLL_DELAY_MS,
            ):
                if _folder_identity(self.root) != identity:
                    return  # run() waits for it and syncs once it is back
                if changes or not caught_up or self._retry_due():
                    caught_up = True
                    self.sync()
        except OSError as exc:  # vanished before the watch began, or the OS's limit of watches is reached
            if self.root.is_dir() and not self._polling:
                self._echo(f"cannot watch {self.root} for events ({exc}); polling it every {POLL_DELAY_MS} ms instead")
                self._polling = True
            elif self.root.is_dir():
                self._echo(f"cannot watch {self.root} ({exc}); trying again in {RETRY_AFTER_S:g} s")
                self._stop.wait(RETRY_AFTER_S)

    def _counts(self, change, path: str) -> bool:
        from .ingest import SUPPORTED_SUFFIXES

        index_dir = Path(self.assistant.config.index_dir).absolute()
        return is_document_change(Path(path), self.root, SUPPORTED_SUFFIXES, index_dir)

    def _retry_due(self) -> bool:
        return self._retry_at is not None and time.monotonic() >= self._retry_at

    def _wait_for_folder(self) -> bool:
        """True once the folder exists; False if stopped while waiting for it."""
        if self.root.is_dir():
            return True
        self._echo(f"documents folder {self.root} is missing; its documents stay indexed until it is back")
        while not self._stop.wait(FOLDER_POLL_S):
            if self.root.is_dir():
                self._echo(f"documents folder {self.root} is back")
                return True
        return False
