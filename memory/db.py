"""Engine and schema: SQLite under ``data_dir`` by default, any SQLAlchemy URL otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

from keel.settings import Settings


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # WAL lets readers (the API, a chat) work while a writer (nightly, import) runs;
    # foreign keys are off by default in SQLite and we rely on them.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the common ``postgresql://`` form."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for ``url``; SQLite parent folders are created as needed."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


def engine_from_settings(settings: Settings) -> Engine:
    return make_engine(settings.resolved_database_url)


def init_db(engine: Engine) -> None:
    """Create every table Keel owns (idempotent)."""
    import_all_tables()
    SQLModel.metadata.create_all(engine)


def import_all_tables() -> None:
    """Import every module that declares tables so ``SQLModel.metadata`` knows them all."""
    import memory.models
    import memory.tables  # noqa: F401


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
