"""A review thread's lock holds across processes (SQLite file lock, PostgreSQL advisory)."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from keel.errors import StoreError
from keel.memory.locks import thread_lock


def _hold(url: str, key: str, log: str, tag: str, hold_s: float) -> None:
    engine = create_engine(url)
    with thread_lock(engine, key):
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{tag}-in {time.monotonic()}\n")
        time.sleep(hold_s)
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{tag}-out {time.monotonic()}\n")
    engine.dispose()


def _contend(url: str, tmp_path: Path) -> list[str]:
    log = tmp_path / "events.log"
    log.touch()
    ctx = mp.get_context("spawn")
    first = ctx.Process(target=_hold, args=(url, "review:acc-1:abc", str(log), "A", 1.5))
    first.start()
    deadline = time.monotonic() + 60
    while "A-in" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = ctx.Process(target=_hold, args=(url, "review:acc-1:abc", str(log), "B", 0.0))
    second.start()
    first.join(60)
    second.join(60)
    assert first.exitcode == 0 and second.exitcode == 0
    return [line.split()[0] for line in log.read_text().splitlines()]


@pytest.mark.slow
def test_sqlite_thread_lock_holds_across_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keel.db'}"
    assert _contend(url, tmp_path) == ["A-in", "A-out", "B-in", "B-out"]


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_thread_lock_holds_across_processes(postgres_url: str, tmp_path: Path) -> None:
    assert _contend(postgres_url, tmp_path) == ["A-in", "A-out", "B-in", "B-out"]


def test_a_lock_held_too_long_is_a_clear_error(tmp_path: Path) -> None:
    from filelock import FileLock

    engine = create_engine(f"sqlite:///{tmp_path / 'keel.db'}")
    with thread_lock(engine, "t1"):
        held = next((tmp_path / "locks").glob("thread-*.lock"))
    other = FileLock(str(held))  # another holder of the same file
    other.acquire()
    try:
        with (
            pytest.raises(StoreError, match="being resumed by another process"),
            thread_lock(engine, "t1", timeout_s=0.2),
        ):
            pass
    finally:
        other.release()
    with thread_lock(engine, "t2"):  # other threads' locks are free
        pass
