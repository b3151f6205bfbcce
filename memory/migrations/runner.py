"""Bring a database to the newest schema with Alembic, safely from many processes at once.

Every process that opens the database calls :func:`upgrade` (through
:func:`keel.memory.db.init_db`), so it must be cheap when there is nothing to do and safe
when several processes start together:

- a database already at the newest revision is left alone after one small read;
- otherwise the upgrade runs under a lock — a file lock beside a SQLite file, a
  transaction-scoped advisory lock on PostgreSQL (per schema) — and the revision is read
  again under it, so the second process finds the work done;
- a database made by the old ``create_all`` (Keel's tables, no ``alembic_version``) is
  adopted: the baseline revision creates only the tables it lacks and records itself,
  and later revisions run as on any database. No row is touched.

There is no ``alembic.ini``: the configuration is built here and handed to ``env.py``
with the open connection.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from filelock import FileLock, Timeout
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from keel.errors import KeelError, StoreLocked

log = logging.getLogger(__name__)

HERE: Final = Path(__file__).resolve().parent
BASELINE: Final = "0001_baseline"
# A table every Keel database has had since the first release: its presence without an
# ``alembic_version`` table marks a database made by ``create_all``.
_MARKER_TABLE: Final = "account"
# How long a process waits for another one's SQLite migration before it gives up.
LOCK_TIMEOUT_S: Final = 600.0


@dataclass(frozen=True)
class UpgradeResult:
    """What :func:`upgrade` found and left: revisions before and after (None: no schema)."""

    before: str | None
    after: str | None
    adopted: bool = False  # the database was made by ``create_all`` before migrations

    @property
    def changed(self) -> bool:
        return self.before != self.after


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for Keel's revisions, with ``connection`` for ``env.py``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("version_locations", str(HERE / "versions"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def head() -> str:
    """The newest revision in this version of Keel."""
    found = _script().get_current_head()
    if found is None:  # pragma: no cover - the baseline always exists
        raise RuntimeError("Keel's migrations have no revision")
    return found


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def current(engine: Engine) -> str | None:
    """The revision ``engine``'s database is at; None when it has none recorded."""
    with engine.connect() as conn:
        return _current(conn)


def is_unversioned_keel_db(engine: Engine) -> bool:
    """True for a database made by ``create_all`` before migrations (adopted on upgrade)."""
    with engine.connect() as conn:
        return _current(conn) is None and inspect(conn).has_table(_MARKER_TABLE)


def upgrade(engine: Engine, revision: str = "head") -> UpgradeResult:
    """Upgrade ``engine``'s database to ``revision`` (default: the newest); idempotent."""
    target = head() if revision == "head" else revision
    before = current(engine)
    if before == target:
        return UpgradeResult(before, before)
    _known(before)
    with _migration_lock(engine), engine.connect() as conn:
        _lock_in_transaction(conn)
        before = _current(conn)
        if before == target:
            conn.rollback()
            return UpgradeResult(before, before)
        adopted = before is None and inspect(conn).has_table(_MARKER_TABLE)
        if adopted:
            log.info("adopting a database made before migrations at %s", BASELINE)
        command.upgrade(config(conn), revision)
        conn.commit()
    return UpgradeResult(before, current(engine), adopted=adopted)


def _known(revision: str | None) -> None:
    """Refuse a database upgraded by a newer Keel: this one cannot read its schema."""
    if revision is None:
        return
    try:
        found = _script().get_revision(revision)
    except CommandError:
        found = None
    if found is None:
        raise KeelError(
            f"the database is at schema revision {revision}, which this version of Keel "
            f"does not know (its newest is {head()}): it was upgraded by a newer Keel; "
            "run that version, or restore a backup taken before the upgrade"
        )


def new_revision(message: str) -> Path:
    """Write a new revision file for the models' changes since head (for contributors).

    Alembic's autogenerate compares the models with a scratch SQLite database upgraded to
    head. The file is named and identified ``NNNN_slug``; read and edit it before
    committing (renames, data moves and PostgreSQL enum types need a hand).
    """
    import re
    import tempfile

    from keel.memory.db import make_engine

    number = int(head().split("_", 1)[0]) + 1
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40] or "change"
    rev_id = f"{number:04d}_{slug}"
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{scratch}/head.db")
        try:
            upgrade(engine)
            with engine.connect() as conn:
                cfg = config(conn)
                cfg.set_main_option("file_template", "%%(rev)s")
                command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)
        finally:
            engine.dispose()
    _script.cache_clear()
    return HERE / "versions" / f"{rev_id}.py"


def differences(engine: Engine) -> list[Any]:
    """What differs between ``engine``'s schema and the models (empty: in step).

    Alembic's autogenerate comparison: a model changed without a revision shows here.
    """
    from sqlmodel import SQLModel

    from keel.memory.db import import_all_tables

    import_all_tables()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """A file lock beside a SQLite database file; nothing elsewhere (see below)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        # An in-memory database belongs to one process; PostgreSQL locks in the
        # transaction itself (``_lock_in_transaction``).
        with nullcontext():
            yield
        return
    path = Path(database).with_name(Path(database).name + ".migrate.lock")
    lock = FileLock(str(path), timeout=LOCK_TIMEOUT_S)
    try:
        lock.acquire()
    except Timeout as exc:
        raise StoreLocked(
            f"database {database}: another process has been upgrading its schema for "
            f"{LOCK_TIMEOUT_S:.0f} s (lock file {path}); wait for it to finish, or stop it"
        ) from exc
    try:
        yield
    finally:
        lock.release()


def _lock_in_transaction(conn: Connection) -> None:
    # Released when the migration transaction ends (commit or rollback), so a process
    # that dies mid-upgrade never leaves it held. Keyed by schema: tests (and tenants)
    # migrating different schemas of one database do not wait for each other.
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('keel.migrations:' || current_schema()))")
        )
