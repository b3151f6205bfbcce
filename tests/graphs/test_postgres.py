"""The review on PostgreSQL: telemetry, approvals, ``PostgresSaver`` and ``PostgresStore``.

Runs against ``KEEL_TEST_POSTGRES_URL`` in a private schema (``pg_engine``); the
checkpointer and the store live in the same schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from keel.agents.feedback import recall
from keel.errors import ConflictError
from keel.graphs.runner import decide_action
from keel.memory.actions import ActionStatus, get_action
from keel.memory.checkpoint import Persistence, open_persistence
from keel.settings import Settings
from tests.graphs.support import Book, compile_graph, first_review_with, seed, smtp_adapters

PG_ACCOUNTS = 16


def _schema_url(postgres_url: str, engine: Engine) -> str:
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    joiner = "&" if "?" in postgres_url else "?"
    return f"{postgres_url}{joiner}options=-csearch_path%3D{schema}"


@pytest.fixture()
def pg_book(pg_engine: Engine, tmp_path: Path) -> Book:
    settings = Settings(data_dir=tmp_path / "keel-data")
    return seed(pg_engine, settings, n_accounts=PG_ACCOUNTS)


@pytest.fixture()
def pg_persistence(pg_book: Book, postgres_url: str) -> Iterator[Persistence]:
    with open_persistence(
        pg_book.settings, url=_schema_url(postgres_url, pg_book.engine)
    ) as opened:
        assert opened.backend == "postgres"
        yield opened


@pytest.mark.postgres
@pytest.mark.service
def test_review_edit_and_send_on_postgres(pg_book: Book, pg_persistence: Persistence) -> None:
    book = pg_book
    with smtp_adapters(book.settings) as (sink, adapters):
        graph = compile_graph(book, pg_persistence, adapters=adapters)
        account, result = first_review_with(graph, book)
        pending = next(p for p in result.pending if p.args["channel"] == "email")
        decide_action(
            graph,
            book.engine,
            action_id=pending.action_id,
            kind="edit",
            user="pat",
            edited_args={"subject": "Checking in from Postgres"},
        )
        assert sink.count == 1
        assert sink.received[0].message["Subject"] == "Checking in from Postgres"
        with pytest.raises(ConflictError):
            decide_action(
                graph, book.engine, action_id=pending.action_id, kind="approve", user="quinn"
            )
        assert sink.count == 1
    with Session(book.engine) as session:
        assert get_action(session, action_id=pending.action_id).status == ActionStatus.SENT
        checkpoints = session.exec(text("SELECT count(*) FROM checkpoints")).one()[0]  # type: ignore[call-overload]
    assert checkpoints > 0
    notes = recall(pg_persistence.store, account_id=account.id or 0, play=pending.args["play"])
    assert notes and notes[0].subject_after == "Checking in from Postgres"


def test_checkpoints_default_to_sqlite_under_the_data_dir(settings: Settings) -> None:
    with open_persistence(settings) as opened:
        assert opened.backend == "sqlite"
        opened.store.put(("t",), "k", {"v": 1})
        assert opened.store.get(("t",), "k").value == {"v": 1}  # type: ignore[union-attr]
    assert (settings.data_dir / "checkpoints.sqlite").exists()


@pytest.mark.postgres
def test_checkpoints_use_postgres_when_the_database_is_postgres(
    pg_engine: Engine, postgres_url: str, tmp_path: Path
) -> None:
    url = _schema_url(postgres_url, pg_engine)
    settings = Settings(data_dir=tmp_path / "d", database_url=url)
    with open_persistence(settings) as opened:
        assert opened.backend == "postgres"
        opened.store.put(("t",), "k", {"v": 2})
        assert opened.store.get(("t",), "k").value == {"v": 2}  # type: ignore[union-attr]
    assert not (tmp_path / "d" / "checkpoints.sqlite").exists()
