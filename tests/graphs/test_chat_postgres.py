"""The chat on PostgreSQL: a conversation begun by one application object is continued by
another (a new process, as far as the thread can tell) through ``PostgresSaver``.

Runs against ``KEEL_TEST_POSTGRES_URL`` in a private schema (``pg_engine``): the book, the
checkpoints and the store all live in it; skipped with the reason when the URL is unset.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from keel.api.services.chat import ChatEvent, ChatRequest, ask, history
from keel.app import App
from keel.memory.models import Account
from keel.settings import Settings

PG_ACCOUNTS = 8


def _schema_url(postgres_url: str, engine: Engine) -> str:
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    joiner = "&" if "?" in postgres_url else "?"
    return f"{postgres_url}{joiner}options=-csearch_path%3D{schema}"


def _answer(events: list[ChatEvent]) -> ChatEvent:
    assert [e.text for e in events if e.kind == "error"] == []
    (answer,) = [e for e in events if e.kind == "answer"]
    return answer


@pytest.mark.postgres
def test_a_conversation_continues_in_a_second_app_on_postgres(
    pg_engine: Engine, postgres_url: str, tmp_path: Path
) -> None:
    from keel.memory.synth import seed_book

    seed_book(pg_engine, n_accounts=PG_ACCOUNTS, seed=11)
    with Session(pg_engine) as session:
        account = next(
            a for a in session.exec(select(Account).order_by(col(Account.id))).all() if a.arr > 0
        )
    settings = Settings(
        data_dir=tmp_path / "keel-data", database_url=_schema_url(postgres_url, pg_engine)
    )

    with App(settings=settings, use_vectors=False) as first:
        assert first.persistence.backend == "postgres"
        events = list(
            ask(
                first,
                ChatRequest(account.owner_csm, "why is it at risk?", account=account.external_id),
            )
        )
        thread = events[0].text
        opening = _answer(events)
        assert opening.data["citations"]

    with App(settings=settings, use_vectors=False) as second:
        follow = _answer(
            list(ask(second, ChatRequest(account.owner_csm, "and what about their NPS?", thread)))
        )
        said = history(second, thread)

    # The second application knew the thread's account without being told it again.
    assert "NPS" in follow.text and account.name in follow.text
    assert [m.role for m in said] == ["user", "assistant", "user", "assistant"]
    assert said[1].text == opening.text and said[3].text == follow.text
    with pg_engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM checkpoints WHERE thread_id = :t"), {"t": thread}
        ).scalar_one()
    assert stored > 0
    assert not (tmp_path / "keel-data" / "checkpoints.sqlite").exists()
