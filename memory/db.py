"""Engine and schema: SQLite under ``data_dir`` by default, any SQLAlchemy URL otherwise."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Final

from sqlalchemy import event
from sqlalchemy.engine import Engine, ExceptionContext
from sqlmodel import Session, create_engine

from keel.memory.failures import Target, sqlite_target, translate, url_target
from keel.settings import Settings

# How long a SQLite write waits for another process's lock (``KEEL_DB_BUSY_TIMEOUT_S``).
DEFAULT_BUSY_TIMEOUT_S: Final = 30.0


def _sqlite_pragmas(busy_timeout_s: float, dbapi_connection: object, _record: object) -> None:
    # WAL lets readers (the API, a chat) work while a writer (nightly, import) runs;
    # foreign keys are off by default in SQLite and we rely on them.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _error_translator(target: Target, url: str) -> Callable[[ExceptionContext], None]:
    """A ``handle_error`` listener: locked, full, damaged or unreachable become one message.

    Any other error (integrity, programming) passes through unchanged. A failed pre-ping is
    left alone too: the pool reconnects on its own after it.
    """

    def listener(context: ExceptionContext) -> None:
        if context.is_pre_ping:
            return
        found = translate(context.original_exception, target, url=url)
        if found is not None:
            raise found from context.original_exception

    return listener


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the common ``postgresql://`` form."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(
    url: str, *, echo: bool = False, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
) -> Engine:
    """Create an engine for ``url``; SQLite parent folders are created as needed.

    Store failures (a lock held past ``busy_timeout_s``, a full disk, a damaged file, an
    unreachable server) are raised as :class:`keel.errors.StoreError` naming the file or
    host (see :mod:`keel.memory.failures`).
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        target = url_target("database", url)
        if path and path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise translate(exc, sqlite_target("database", Path(path))) or exc from exc
            target = sqlite_target("database", Path(path), busy_timeout_s=busy_timeout_s)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_s},
        )
        event.listen(engine, "connect", partial(_sqlite_pragmas, busy_timeout_s))
    else:
        target = url_target("database", url)
        engine = create_engine(url, echo=echo, pool_pre_ping=True)
    event.listen(engine, "handle_error", _error_translator(target, url))
    return engine


def engine_from_settings(settings: Settings) -> Engine:
    return make_engine(settings.resolved_database_url, busy_timeout_s=settings.db_busy_timeout_s)


def init_db(engine: Engine) -> None:
    """Bring the database to the newest schema: Alembic's upgrade to head (idempotent).

    A new database is made by the revisions; one made by the old ``create_all`` is adopted
    at the baseline and upgraded with its rows; one already at head costs one read.
    Concurrent callers are safe (see :mod:`keel.memory.migrations.runner`).
    """
    from keel.memory.migrations.runner import upgrade

    import_all_tables()
    upgrade(engine)


def import_all_tables() -> None:
    """Import every module that declares tables so ``SQLModel.metadata`` knows them all."""
    import keel.memory.models
    import keel.memory.tables  # noqa: F401


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
