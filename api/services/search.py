"""Search: the tickets, call notes and NPS comments closest in meaning to a query.

Used by ``keel search`` and, next, by the chat and the web app. The account filter takes
the id a user knows (the external id) and resolves it to the account's row here, before
the vector store (and the embedding model) is opened.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from keel.errors import KeelError

if TYPE_CHECKING:
    from keel.app import App

# The kinds of record the index holds (keel.memory.vectors.types.Kind, spelled out here so
# that importing this module does not load the vector store's dependencies).
SearchKind = Literal["ticket", "note", "nps"]


class UnknownAccount(KeelError):
    """No account has the external id a search was filtered by."""

    def __init__(self, external_id: str) -> None:
        self.external_id = external_id
        super().__init__(f"no account has the external id '{external_id}'")


class SearchQuery(BaseModel):
    """What to look for and in which records. Filters combine with AND; dates are inclusive.

    Invalid values that the store checks (an empty query, ``since`` after ``until``) are
    reported by :func:`search` as a :class:`KeelError`.
    """

    model_config = ConfigDict(frozen=True)

    text: str
    account: str | None = None
    """The account's external id (e.g. ``ACME-001``)."""
    kinds: tuple[SearchKind, ...] | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    k: int = 8
    """How many records (each record appears once, with its best passage)."""


class EvidenceHit(BaseModel):
    """One record and its best-matching passage, with the ids to cite it by."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    kind: str
    source_id: int
    """The record's row id (cite as ``kind:source_id``)."""
    external_id: str
    account_id: int
    account_external_id: str
    date: dt.date
    text: str
    """The record's best-matching chunk (the whole record when it is short)."""
    score: float
    """Cosine similarity of the chunk to the query."""
    chunk: int
    passage: str = ""
    """The sentence of the record that matches the query."""
    match: Literal["phrase", "keyword", "meaning"] = "meaning"
    """Why it ranks here: it holds the query word for word, most of its words, or its meaning."""
    similar: tuple[str, ...] = ()
    """Near-duplicate records collapsed into this one (``kind:external_id``)."""


class SearchResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    hits: list[EvidenceHit]
    index_empty: bool = False
    """True when nothing was found because nothing is indexed yet (run ``keel index``)."""


def account_row_id(app: App, external_id: str) -> int:
    """The row id of the account with this external id.

    Raises:
        UnknownAccount: no account has it.
    """
    from sqlalchemy import select
    from sqlmodel import col

    from keel.memory.models import Account

    with app.engine.connect() as conn:
        found = conn.execute(
            select(col(Account.id)).where(col(Account.external_id) == external_id)
        ).scalar_one_or_none()
    if found is None:
        raise UnknownAccount(external_id)
    return int(found)


def search(app: App, query: SearchQuery) -> SearchResult:
    """The ``query.k`` records best matching ``query.text``, best first.

    Hybrid: records holding the query word for word first, then by meaning fused with
    keywords; near-duplicates collapse into the first (see ``VectorStore.search``).

    Raises:
        UnknownAccount: ``query.account`` names no account (checked before the index opens).
        KeelError: an empty query, ``k`` < 1, ``since`` after ``until``, or the index
            cannot be read (damaged, or built with another model).
    """
    account_id = account_row_id(app, query.account) if query.account is not None else None
    store = app.vector_store
    hits = store.search(
        query.text,
        k=query.k,
        account_id=account_id,
        kinds=list(query.kinds) if query.kinds else None,
        since=query.since,
        until=query.until,
    )
    # Counting costs a call to the store: only needed to explain an empty answer.
    empty = not hits and store.count() == 0
    return SearchResult(
        hits=[EvidenceHit.model_validate(hit, from_attributes=True) for hit in hits],
        index_empty=empty,
    )
