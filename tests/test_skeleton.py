from __future__ import annotations

from sqlalchemy import inspect

from keel.memory.models import ENTITY_TABLES


def test_schema_has_every_entity_table_sqlite(engine) -> None:
    names = set(inspect(engine).get_table_names())
    assert {t.__tablename__ for t in ENTITY_TABLES.values()} <= names  # type: ignore[attr-defined]


def test_schema_has_every_entity_table_postgres(pg_engine) -> None:
    names = set(inspect(pg_engine).get_table_names())
    assert {t.__tablename__ for t in ENTITY_TABLES.values()} <= names  # type: ignore[attr-defined]
