"""Checkpointer and store factories for the graphs.

Embedded by default: one SQLite file under ``data_dir`` holds the checkpoints (the paused
reviews waiting for approval) and the long-term store (reviewer feedback). When the
database URL is PostgreSQL, ``PostgresSaver`` and ``PostgresStore`` use the same server,
so a review paused on one machine can be resumed on another.

Graphs run with ``durability="sync"`` (``GRAPH_DURABILITY``): every step is on disk before
the next one starts, so a process killed between approval and send resumes from the
approval, never before it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, Self

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from keel.errors import KeelError
from keel.memory.failures import Target, sqlite_target, translate, url_target
from keel.settings import Settings

GRAPH_DURABILITY: Final[Literal["sync"]] = "sync"
CHECKPOINT_FILE: Final = "checkpoints.sqlite"
_POSTGRES_PREFIXES: Final = ("postgresql://", "postgres://", "postgresql+psycopg://")


@dataclass(frozen=True)
class Persistence:
    """What a compiled graph needs to pause, resume and remember."""

    checkpointer: BaseCheckpointSaver[Any]
    store: BaseStore
    backend: Literal["sqlite", "postgres"]


def is_postgres_url(url: str) -> bool:
    return url.startswith(_POSTGRES_PREFIXES)


def libpq_url(url: str) -> str:
    """The URL psycopg understands (SQLAlchemy's ``+psycopg`` driver suffix removed)."""
    if url.startswith("postgresql+psycopg://"):
        return "postgresql://" + url[len("postgresql+psycopg://") :]
    return url


def checkpoint_url(settings: Settings) -> str:
    """Where checkpoints live: the PostgreSQL database when configured, else a SQLite file."""
    url = settings.resolved_database_url
    if is_postgres_url(url):
        return libpq_url(url)
    return str(settings.data_dir / CHECKPOINT_FILE)


@contextmanager
def open_persistence(settings: Settings, *, url: str | None = None) -> Iterator[Persistence]:
    """Open the checkpointer and store for ``settings`` (or an explicit ``url``).

    Args:
        settings: Keel settings; decides SQLite under ``data_dir`` or PostgreSQL.
        url: Overrides the location: a PostgreSQL URL or a SQLite file path.

    Yields:
        The checkpointer and store, set up (tables created) and closed on exit.
    """
    target = url or checkpoint_url(settings)
    where = _target(target, settings.db_busy_timeout_s)
    with ExitStack() as stack:
        try:
            if is_postgres_url(target):
                persistence = _open_postgres(libpq_url(target), stack)
            else:
                persistence = _open_sqlite(Path(target), stack, settings.db_busy_timeout_s)
        except Exception as exc:
            # Only opening is guarded: errors raised by the caller's block pass through.
            known = translate(exc, where, url=target)
            if known is not None:
                raise known from exc
            raise KeelError(
                f"cannot open the checkpoint database at {_redact(target)}: {exc}"
            ) from exc
        yield persistence


def _target(location: str, busy_timeout_s: float) -> Target:
    if is_postgres_url(location):
        return url_target("checkpoints", location)
    return sqlite_target("checkpoints", Path(location), busy_timeout_s=busy_timeout_s)


def _redact(url: str) -> str:
    """The URL without its password, for error messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


class _GuardedCursor(sqlite3.Cursor):
    """A cursor whose lock, disk-full and damage errors name the checkpoint file.

    The savers run inside the graph loop, far from any code that knows which file they
    write; translating here gives the reviewer one message instead of a traceback.
    """

    target: Target

    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        with _translated(self.target):
            return super().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Self:
        with _translated(self.target):
            return super().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script: str, /) -> sqlite3.Cursor:
        with _translated(self.target):
            return super().executescript(sql_script)


class _GuardedConnection(sqlite3.Connection):
    """A connection handing out :class:`_GuardedCursor`; ``target`` is set after connect."""

    target: Target

    def cursor(self, factory: Any = None) -> Any:
        cursor = super().cursor(factory or _GuardedCursor)
        cursor.target = self.target
        return cursor

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        cursor: sqlite3.Cursor = self.cursor()
        return cursor.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        cursor: sqlite3.Cursor = self.cursor()
        return cursor.executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> sqlite3.Cursor:
        cursor: sqlite3.Cursor = self.cursor()
        return cursor.executescript(sql_script)

    def commit(self) -> None:
        with _translated(self.target):
            super().commit()


@contextmanager
def _translated(target: Target) -> Iterator[None]:
    try:
        yield
    except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
        known = translate(exc, target)
        if known is None:
            raise
        raise known from exc


def _sqlite_connection(
    path: Path, *, autocommit: bool, busy_timeout_s: float
) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # check_same_thread=False: the savers serialise access with their own lock, and
    # parallel graph tasks run on worker threads.
    conn = sqlite3.connect(
        str(path),
        check_same_thread=False,
        timeout=busy_timeout_s,
        factory=_GuardedConnection,
        # None: autocommit, as SqliteStore expects; DEFERRED is sqlite3's default.
        isolation_level=None if autocommit else "DEFERRED",
    )
    conn.target = sqlite_target("checkpoints", path, busy_timeout_s=busy_timeout_s)
    # Several processes (a review, a reviewer's `keel approvals`) share the file. In WAL
    # mode, synchronous=NORMAL keeps every committed checkpoint through a process crash
    # (what resuming after a kill needs) without an fsync per step, as memory.db does.
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _open_sqlite(path: Path, stack: ExitStack, busy_timeout_s: float) -> Persistence:
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.store.sqlite import SqliteStore

    saver_conn = _sqlite_connection(path, autocommit=False, busy_timeout_s=busy_timeout_s)
    stack.callback(saver_conn.close)
    store_conn = _sqlite_connection(path, autocommit=True, busy_timeout_s=busy_timeout_s)
    stack.callback(store_conn.close)
    saver = SqliteSaver(saver_conn)
    saver.setup()
    store = SqliteStore(store_conn)
    store.setup()
    return Persistence(checkpointer=saver, store=store, backend="sqlite")


def _open_postgres(url: str, stack: ExitStack) -> Persistence:
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.store.postgres import PostgresStore
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    # A pool, not one connection: parallel graph tasks checkpoint concurrently.
    pool: ConnectionPool[Any] = ConnectionPool(
        url, min_size=1, max_size=8, kwargs=kwargs, open=False
    )
    pool.open(wait=True, timeout=30.0)
    stack.callback(pool.close)
    saver = PostgresSaver(pool)
    saver.setup()
    store = PostgresStore(pool)
    store.setup()
    return Persistence(checkpointer=saver, store=store, backend="postgres")
