"""A ticket export without a category gives "uncategorised", never a guessed one (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from keel.memory.importers import import_path
from keel.memory.models import Ticket, TicketCategory


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Engine:
    """The same test on SQLite and (when configured) on PostgreSQL."""
    engine: Engine = request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")
    return engine


def _categories(engine: Engine, folder: Path, tickets: str) -> dict[str, TicketCategory]:
    folder.mkdir()
    (folder / "accounts.csv").write_text("id\nA1\n", encoding="utf-8")
    (folder / "tickets.csv").write_text(tickets, encoding="utf-8")
    import_path(engine, folder)
    with Session(engine) as session:
        return {t.external_id: t.category for t in session.exec(select(Ticket))}


def test_no_category_column_is_uncategorised(store: Engine, tmp_path: Path) -> None:
    got = _categories(
        store, tmp_path / "x", "id,account_id,opened_at,priority\nT1,A1,2024-03-01,urgent\n"
    )
    assert got == {"T1": TicketCategory.UNCATEGORISED}


def test_an_empty_or_other_category_is_uncategorised(store: Engine, tmp_path: Path) -> None:
    got = _categories(
        store,
        tmp_path / "x",
        "id,account_id,opened_at,type\n"
        "T1,A1,2024-03-01,\n"
        "T2,A1,2024-03-01,Other\n"
        "T3,A1,2024-03-01,Uncategorized\n"
        "T4,A1,2024-03-01,question\n",
    )
    assert got == {
        "T1": TicketCategory.UNCATEGORISED,
        "T2": TicketCategory.UNCATEGORISED,
        "T3": TicketCategory.UNCATEGORISED,
        "T4": TicketCategory.HOW_TO,
    }
