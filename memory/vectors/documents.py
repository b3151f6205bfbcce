"""Source documents: the customer-written text of tickets, call notes and NPS comments.

Each document carries what every one of its records (chunks and sentences, see
:func:`keel.memory.vectors.chunking.document_units`) is tagged with in Chroma (account, kind,
date, ids) and a content hash over all of it and the chunker's version, so a change to
the text, to any tag (a ticket moved to another account) or to how texts are cut means
the document is written again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from keel.memory.models import Account, CallNote, NpsResponse, Ticket
from keel.memory.vectors.chunking import CHUNKER_VERSION
from keel.memory.vectors.types import Kind, Unit, date_to_int, doc_key


@dataclass(frozen=True)
class SourceDoc:
    kind: Kind
    source_id: int
    external_id: str
    account_id: int
    account_external_id: str
    day: dt.date
    text: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.kind, self.source_id)

    def metadata(self, chunk: int, unit: Unit = "chunk") -> dict[str, str | int]:
        """Chroma metadata of record ``chunk``, a ``unit`` (dates as ``yyyymmdd`` ints).

        ``chunk`` is the record's number within the document (chunks first, then
        sentences); ``unit`` says which of the two it is (``"chunk"`` or ``"sentence"``).
        """
        return {
            "account_id": self.account_id,
            "account_external_id": self.account_external_id,
            "kind": self.kind,
            "source_id": self.source_id,
            "external_id": self.external_id,
            "doc": doc_key(self.kind, self.source_id),
            "date": date_to_int(self.day),
            "date_iso": self.day.isoformat(),
            "chunk": chunk,
            "unit": unit,
        }

    def content_hash(self, embedder_name: str) -> str:
        """Hash of everything that determines the stored records, model and chunker included."""
        parts = (
            embedder_name,
            CHUNKER_VERSION,
            self.kind,
            str(self.account_id),
            self.account_external_id,
            self.external_id,
            self.day.isoformat(),
            self.text,
        )
        return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def ticket_text(subject: str, body: str) -> str:
    subject, body = subject.strip(), body.strip()
    return f"{subject}\n\n{body}" if subject and body else subject or body


def _table(model: type[SQLModel]) -> Table:
    return SQLModel.metadata.tables[str(model.__tablename__)]


def _rows(conn: Connection, model: type[SQLModel], day: str, *text: str) -> list[tuple[Any, ...]]:
    """(id, external_id, account_id, account external_id, day column, *text columns)."""
    table, account = _table(model), _table(Account)
    result = conn.execute(
        select(
            table.c.id,
            table.c.external_id,
            table.c.account_id,
            account.c.external_id,
            table.c[day],
            *(table.c[name] for name in text),
        )
        .join(account, account.c.id == table.c.account_id)
        .order_by(table.c.id)
    )
    return [tuple(row) for row in result]


def load_documents(engine: Engine) -> list[SourceDoc]:
    """Every non-empty text record in the database, tickets then notes then NPS comments."""
    docs: list[SourceDoc] = []
    with engine.connect() as conn:
        for sid, ext, acc, acc_ext, opened_at, subject, body in _rows(
            conn, Ticket, "opened_at", "subject", "body"
        ):
            text = ticket_text(subject or "", body or "")
            if text:
                docs.append(SourceDoc("ticket", sid, ext, acc, acc_ext, opened_at.date(), text))
        for sid, ext, acc, acc_ext, day, text in _rows(conn, CallNote, "occurred_on", "text"):
            if text and text.strip():
                docs.append(SourceDoc("note", sid, ext, acc, acc_ext, day, text.strip()))
        for sid, ext, acc, acc_ext, day, comment in _rows(
            conn, NpsResponse, "responded_on", "comment"
        ):
            if comment and comment.strip():
                docs.append(SourceDoc("nps", sid, ext, acc, acc_ext, day, comment.strip()))
    return docs
