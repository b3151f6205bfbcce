"""Wiping Keel's state, for the demo workspace and tests. Never called on a user's data
without an explicit request (``keel demo`` refuses unless the workspace is a demo's)."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from keel.memory.db import import_all_tables, init_db
from keel.memory.models import Account

DEMO_MARKER = ".keel-demo"


def delete_all_rows(engine: Engine) -> None:
    """Delete every row of every Keel table in one transaction, children first."""
    import_all_tables()
    init_db(engine)
    with engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(delete(table))


def account_count(engine: Engine) -> int:
    init_db(engine)
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Account)).scalar_one())
