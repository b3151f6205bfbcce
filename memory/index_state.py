"""Index state of the vector store: one row per source document that has records in Chroma.

A document's records are its chunks and its sentence units (``memory.vectors.chunking.
document_units``); ``n_chunks`` counts them all.

The row says which version of the document (its content hash) the chunks were embedded
from and how many chunk ids (``kind:source_id:0..n_chunks-1``) may exist for it. The
indexer keeps one invariant through crashes: every chunk in Chroma has an id within its
document's ``range(n_chunks)``. Before writing a batch to Chroma it marks the batch's rows
as in flight (empty hash, ``n_chunks`` covering old and new chunks); after the write it
records the real hash. A run that dies in between leaves rows that no hash matches, so
the next run embeds those documents again and deletes any surplus chunk.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import and_, delete, insert, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Field, SQLModel

# The content hash of a document whose Chroma write is in flight (matches no real hash).
IN_FLIGHT = ""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class IndexedDocument(SQLModel, table=True):
    """A source document (ticket, note, NPS comment) as last written to the vector store."""

    __tablename__ = "vector_index_state"

    kind: str = Field(primary_key=True, max_length=16)
    source_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    content_hash: str = Field(max_length=64)
    n_chunks: int = Field(ge=0)
    indexed_at: dt.datetime = Field(default_factory=_utcnow)


@dataclass(frozen=True)
class DocState:
    content_hash: str
    n_chunks: int


DocKey = tuple[str, int]  # (kind, source_id)


def load_state(engine: Engine) -> dict[DocKey, DocState]:
    """Every recorded document, keyed by ``(kind, source_id)``."""
    table = IndexedDocument.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(
            select(table.c.kind, table.c.source_id, table.c.content_hash, table.c.n_chunks)
        ).all()
    return {(kind, source_id): DocState(h, n) for kind, source_id, h, n in rows}


def _keys_clause(keys: Iterable[DocKey]) -> ColumnElement[bool]:
    table = IndexedDocument.__table__  # type: ignore[attr-defined]
    by_kind: dict[str, list[int]] = {}
    for kind, source_id in keys:
        by_kind.setdefault(kind, []).append(source_id)
    return or_(
        *(
            and_(table.c.kind == kind, table.c.source_id.in_(ids))
            for kind, ids in sorted(by_kind.items())
        )
    )


def _delete(conn: Connection, keys: list[DocKey]) -> None:
    table = IndexedDocument.__table__  # type: ignore[attr-defined]
    # Chunk the IN lists: SQLite and PostgreSQL both cap bound parameters per statement.
    for start in range(0, len(keys), 500):
        conn.execute(delete(table).where(_keys_clause(keys[start : start + 500])))


def save_state(engine: Engine, states: Mapping[DocKey, DocState]) -> None:
    """Replace the rows of ``states``'s documents in one transaction (portable upsert)."""
    if not states:
        return
    table = IndexedDocument.__table__  # type: ignore[attr-defined]
    now = _utcnow()
    rows = [
        {
            "kind": kind,
            "source_id": source_id,
            "content_hash": state.content_hash,
            "n_chunks": state.n_chunks,
            "indexed_at": now,
        }
        for (kind, source_id), state in states.items()
    ]
    with engine.begin() as conn:
        _delete(conn, list(states))
        conn.execute(insert(table), rows)


def delete_state(engine: Engine, keys: Iterable[DocKey] | None = None) -> None:
    """Forget ``keys`` (or every document when ``keys`` is None)."""
    table = IndexedDocument.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        if keys is None:
            conn.execute(delete(table))
        else:
            _delete(conn, list(keys))
