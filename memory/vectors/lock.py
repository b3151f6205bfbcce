"""One writer at a time on an embedded index, and readers that know when it is writing.

Embedded Chroma (a persistent client under ``data_dir/chroma``) is not safe across
processes. While one process writes, another process's reads fail with Chroma's "Error
finding id" (measured on a 100k-record index: every search from a second process failed
for the 210 s a ``keel index`` of 1,653 changed notes ran, and all worked again after it),
and two writers would embed the same documents twice. So ``keel index`` holds an
exclusive lock on a file beside the collection while it writes, and readers look first:
a search says the index is being updated instead of failing obscurely, and the
risk-language refresh keeps the cached matches for that run.

The lock is an OS file lock: it is released when its process ends, however it ends, so a
crashed run leaves nothing to clean up. A Chroma server serialises writes itself and has
no lock file here; several indexers against one server are the task queue's to order.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from keel.errors import KeelError

LOCK_FILE = "keel-index.lock"
# How long a starting writer waits for the lock: readers only hold it for an instant when
# they look, so this rides over them, while another writer holds it for minutes.
WRITER_WAIT_S = 10.0


class IndexBusy(KeelError):
    """Another process is writing the index: reading or writing it now would fail."""


class IndexLock:
    """The writer lock of one embedded index directory."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._pid_path = directory / (LOCK_FILE + ".pid")

    def _pid(self) -> str:
        try:
            return self._pid_path.read_text(encoding="utf-8").strip() or "unknown"
        except OSError:
            return "unknown"

    @contextlib.contextmanager
    def writing(self, *, wait_s: float = WRITER_WAIT_S) -> Iterator[None]:
        """Hold the lock for a write.

        Raises:
            IndexBusy: another process holds it (names that process).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path), timeout=wait_s)
        try:
            lock.acquire()
        except Timeout as exc:
            raise IndexBusy(
                f"another `keel index` (process {self._pid()}) is writing the text index at "
                f"{self.path.parent}; wait for it to finish"
            ) from exc
        try:
            self._pid_path.write_text(str(os.getpid()), encoding="utf-8")
            yield
        finally:
            with contextlib.suppress(OSError):
                self._pid_path.unlink()
            lock.release()

    def writer(self) -> str | None:
        """The process id of a writer holding the lock now, or None when nobody writes."""
        if not self.path.exists():
            return None
        lock = FileLock(str(self.path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            return self._pid()
        lock.release()
        return None

    def check_readable(self) -> None:
        """Raise :class:`IndexBusy` when a writer holds the lock."""
        pid = self.writer()
        if pid is not None:
            raise IndexBusy(
                f"the text index at {self.path.parent} is being updated by `keel index` "
                f"(process {pid}); try again when it finishes"
            )
