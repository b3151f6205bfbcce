"""Locks that hold across processes: one resume at a time per review thread.

Two reviewers answering two actions of the same review at once, from two processes (two
CLI commands, two web workers), would both continue from the same checkpoint. A thread's
lock is a PostgreSQL advisory lock when the database is PostgreSQL, else a file lock in a
``locks/`` folder beside the SQLite database; a threading lock in front of either keeps
two threads of one process apart too (file locks are per process on POSIX).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import text
from sqlalchemy.engine import Engine

from keel.errors import StoreError

DEFAULT_TIMEOUT_S = 120.0

_local: dict[str, threading.Lock] = {}
_local_guard = threading.Lock()


def _in_process(key: str) -> threading.Lock:
    with _local_guard:
        return _local.setdefault(key, threading.Lock())


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _advisory_key(key: str) -> int:
    """A signed 64-bit key for ``pg_advisory_lock`` (namespaced so it cannot collide with
    the migration lock's keys)."""
    return int.from_bytes(_digest("keel-thread:" + key)[:8], "big", signed=True)


def _lock_dir(engine: Engine) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    return Path(database).resolve().parent / "locks"


@contextmanager
def thread_lock(
    engine: Engine, key: str, *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> Iterator[None]:
    """Hold the lock named ``key`` (a review thread id) across processes.

    Raises:
        StoreError: the lock was not free within ``timeout_s`` (another process holds it).
    """
    with _in_process(key):
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                conn.execute(
                    text("SELECT set_config('lock_timeout', :t, false)"),
                    {"t": f"{int(timeout_s * 1000)}ms"},
                )
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _advisory_key(key)})
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _advisory_key(key)})
                    conn.commit()
            return
        folder = _lock_dir(engine)
        if folder is None:  # an in-memory database lives in this process only
            yield
            return
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"thread-{_digest(key).hex()[:24]}.lock"
        lock = FileLock(str(path))
        try:
            lock.acquire(timeout=timeout_s)
        except Timeout:
            raise StoreError(
                f"review thread {key} is being resumed by another process (lock {path}); "
                "try again when it has finished"
            ) from None
        try:
            yield
        finally:
            lock.release()
