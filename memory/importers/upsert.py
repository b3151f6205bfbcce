"""Bulk insert-or-update for SQLite and PostgreSQL, in chunks, on the caller's connection.

Rows go through SQLAlchemy Core ``executemany`` (no ORM objects) with the dialect's own
``INSERT ... ON CONFLICT DO UPDATE``, so a re-import updates rows instead of duplicating
them. On PostgreSQL, tables without enum columns (the large ones: events, usage, feature
adoption) are loaded with ``COPY`` into a temporary table and upserted from it in one
statement, which is several times faster than ``executemany``. The caller owns the
transaction: everything an import writes commits or rolls back together.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Column, Date, Enum, MetaData, Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from keel.errors import KeelError

CHUNK_ROWS = 20_000


def dialect_insert(conn: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """The dialect's ``INSERT`` that supports ``on_conflict_do_update``."""
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise KeelError(f"imports support SQLite and PostgreSQL databases, not {name}")


def upsert_frame(
    conn: Connection,
    table: Table,
    frame: pd.DataFrame,
    *,
    conflict: Sequence[str],
    update_columns: Sequence[str],
    on_progress: Callable[[int], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> int:
    """Insert ``frame``'s rows, updating ``update_columns`` where ``conflict`` matches.

    Args:
        conn: An open connection inside the import's transaction.
        table: The target table.
        frame: One column per table column to write (pandas dtypes are converted).
        conflict: The columns of a unique constraint that identify a row.
        update_columns: Columns overwritten on conflict; none means keep the existing row.
        on_progress: Called with the number of rows written so far after each chunk.
        chunk_rows: Rows per ``executemany``.

    Returns:
        The number of rows sent (inserted or updated).
    """
    if frame.empty:
        return 0
    if conn.dialect.name == "postgresql" and not _has_enum(table, frame):
        return _copy_upsert(conn, table, frame, conflict, update_columns, on_progress, chunk_rows)
    stmt = dialect_insert(conn, table)
    if update_columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(conflict),
            set_={c: stmt.excluded[c] for c in update_columns},
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
    for start, records in _record_chunks(table, frame, chunk_rows):
        conn.execute(stmt, records)
        if on_progress is not None:
            on_progress(start + len(records))
    return len(frame)


def _has_enum(table: Table, frame: pd.DataFrame) -> bool:
    # PostgreSQL enum types hold the member names; COPY would need them spelled that way.
    return any(isinstance(table.c[c].type, Enum) for c in frame.columns)


def _copy_upsert(
    conn: Connection,
    table: Table,
    frame: pd.DataFrame,
    conflict: Sequence[str],
    update_columns: Sequence[str],
    on_progress: Callable[[int], None] | None,
    chunk_rows: int,
) -> int:
    """PostgreSQL: ``COPY`` rows into a temporary table, then upsert from it."""
    names = [str(c) for c in frame.columns]
    stage = Table(
        f"keel_import_stage_{uuid.uuid4().hex[:12]}",
        MetaData(),
        *(Column(c, table.c[c].type) for c in names),
        prefixes=["TEMPORARY"],
    )
    stage.create(conn)
    quoted = ", ".join(f'"{c}"' for c in names)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f'COPY "{stage.name}" ({quoted}) FROM STDIN') as copy:
            columns = [_python_values(table, c, frame[c]) for c in names]
            for start in range(0, len(frame), chunk_rows):
                stop = min(start + chunk_rows, len(frame))
                for row in zip(*(col[start:stop] for col in columns), strict=True):
                    copy.write_row(row)
                if on_progress is not None:
                    on_progress(stop)
    finally:
        cursor.close()
    stmt = postgresql.insert(table).from_select(names, select(*stage.c))
    if update_columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(conflict),
            set_={c: stmt.excluded[c] for c in update_columns},
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
    conn.execute(stmt)
    stage.drop(conn)
    return len(frame)


def update_by_external_id(
    conn: Connection, table: Table, frame: pd.DataFrame, *, chunk_rows: int = CHUNK_ROWS
) -> int:
    """``UPDATE`` existing rows by ``external_id`` with the frame's other columns."""
    if frame.empty:
        return 0
    # Bind names must differ from column names in an executemany UPDATE.
    keys = {c: f"new_{c}" for c in frame.columns}
    values: dict[str, Any] = {c: bindparam(keys[c]) for c in frame.columns if c != "external_id"}
    stmt = update(table).where(table.c.external_id == bindparam(keys["external_id"])).values(values)
    for _start, records in _record_chunks(table, frame, chunk_rows, keys=keys):
        conn.execute(stmt, records)
    return len(frame)


def count_rows(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def external_ids(conn: Connection, table: Table) -> dict[str, int]:
    """``external_id -> id`` for every row of ``table``."""
    rows = conn.execute(select(table.c.external_id, table.c.id)).all()
    return {str(ext): int(pk) for ext, pk in rows}


def _record_chunks(
    table: Table, frame: pd.DataFrame, chunk_rows: int, *, keys: dict[str, str] | None = None
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Rows as parameter dicts, ``chunk_rows`` at a time (keys renamed by ``keys``)."""
    names = [keys[c] for c in frame.columns] if keys else list(frame.columns)
    columns = [_python_values(table, str(name), frame[name]) for name in frame.columns]
    for start in range(0, len(frame), chunk_rows):
        stop = min(start + chunk_rows, len(frame))
        yield (
            start,
            [
                dict(zip(names, values, strict=True))
                for values in zip(*(col[start:stop] for col in columns), strict=True)
            ],
        )


def _python_values(table: Table, name: str, series: pd.Series) -> list[Any]:
    """A column as Python values the DB-API accepts (``None`` for missing)."""
    column = table.c.get(name)
    sql_type = column.type if column is not None else None
    if pd.api.types.is_datetime64_any_dtype(series):
        # Factorise: a few hundred distinct days stand for millions of rows.
        codes, uniques = pd.factorize(series)
        if isinstance(sql_type, Date):
            converted = [ts.date() for ts in uniques]
        else:
            # Keel's date-time columns store aware UTC values.
            converted = [_aware(ts.to_pydatetime()) for ts in uniques]
        lookup = np.array([*converted, None], dtype=object)
        return list(lookup[codes])
    values = series.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
    if isinstance(sql_type, Enum) and sql_type.enum_class is not None:
        enum_class = sql_type.enum_class
        members = {v: enum_class(v) for v in set(values) if v not in (None, "")}
        return [members.get(v) for v in values]
    if series.dtype.kind == "f":
        return [None if v is None or v != v else float(v) for v in values]
    if isinstance(series.dtype, pd.Int64Dtype) or pd.api.types.is_string_dtype(series):
        return list(values)  # already Python ints / str / None
    return [_native(v) for v in values]


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _native(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
