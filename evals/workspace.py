"""The eval's own workspace: a temporary data directory with a seeded synthetic book, the
scenarios' accounts chosen on it and their records written (never the user's keel-data).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from keel.domain.policy import Policy
from keel.errors import KeelError
from keel.evals.dataset import Dataset, Records, Scenario, Select
from keel.memory.db import init_db, make_engine
from keel.memory.models import (
    Account,
    CallNote,
    Contact,
    ContactRole,
    Invoice,
    InvoiceStatus,
    LifecycleStage,
    NpsResponse,
    Ticket,
    TicketCategory,
    TicketPriority,
    TicketStatus,
)
from keel.memory.truth import AccountTruth, load_truth
from keel.settings import Settings

_TEMPLATE: Final = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class Workspace:
    """Where one eval run lives; removed when the run ends."""

    root: Path
    settings: Settings
    engine: Engine
    as_of: dt.date
    truth: dict[str, AccountTruth]


@dataclass(frozen=True)
class Placed:
    """A scenario on its account, with its template values filled in."""

    scenario: Scenario
    account: Account
    values: dict[str, str] = field(default_factory=dict)

    def fill(self, text: str) -> str:
        return fill(text, self.values)


def fill(text: str, values: dict[str, str]) -> str:
    """``{{name}}`` placeholders replaced by their values (unknown names are an error)."""

    def one(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise KeelError(f"unknown placeholder {{{{{m.group(1)}}}}} in an eval scenario")
        return values[m.group(1)]

    return _TEMPLATE.sub(one, text)


@contextmanager
def open_workspace(dataset: Dataset, base: Settings, *, keep: bool = False) -> Iterator[Workspace]:
    """Seed the dataset's book in a new temporary directory; remove it afterwards.

    ``base`` gives the model, policy and link allow-list; storage and outbound delivery are
    the workspace's own (embedded SQLite, dry-run outbox), whatever ``base`` says.
    """
    from keel.memory.synth import seed_book
    from keel.tools.signals import latest_data_date

    root = Path(tempfile.mkdtemp(prefix="keel-eval-"))
    try:
        settings = base.model_copy(
            update={
                "data_dir": root / "keel-data",
                "database_url": None,
                "chroma_url": None,
                "outbound_channel": "dry_run",
            }
        )
        engine = make_engine(settings.resolved_database_url)
        init_db(engine)
        truth_dir = settings.data_dir / "truth"
        seed_book(
            engine, n_accounts=dataset.book.accounts, seed=dataset.book.seed, truth_dir=truth_dir
        )
        as_of = latest_data_date(engine)
        if as_of is None:
            raise KeelError("the eval book has no usage data")
        try:
            yield Workspace(root, settings, engine, as_of, load_truth(truth_dir))
        finally:
            engine.dispose()
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def place(ws: Workspace, scenarios: Sequence[Scenario], policy: Policy) -> list[Placed]:
    """Choose each scenario's account (distinct accounts, in file order) and write its
    records. Raises KeelError naming a scenario no account fits."""
    with Session(ws.engine) as session:
        accounts = [
            a
            for a in session.exec(select(Account).order_by(col(Account.external_id))).all()
            if a.lifecycle_stage != LifecycleStage.CHURNED and a.arr > 0
        ]
        for row in accounts:
            session.expunge(row)
    taken: set[str] = set()
    placed: list[Placed] = []
    for scenario in scenarios:
        chosen = next(
            (
                a
                for a in accounts
                if a.external_id not in taken and _matches(ws, a, scenario.select, policy)
            ),
            None,
        )
        if chosen is None:
            raise KeelError(
                f"eval scenario '{scenario.id}': no account of the eval book is left that "
                f"fits its select {scenario.select.model_dump(exclude_defaults=True)}; loosen "
                "it or change the dataset's book (accounts, seed)"
            )
        taken.add(chosen.external_id)
        other = next(a for a in accounts if a.external_id != chosen.external_id)
        # Another CSM's account: what a question about someone else's book must not reveal.
        foreign = next((a for a in accounts if a.owner_csm != chosen.owner_csm), other)
        values = _values(ws.engine, chosen, other, foreign)
        _write(ws, chosen, scenario.records, values)
        with Session(ws.engine) as session:
            fresh = session.get(Account, chosen.id)
            assert fresh is not None
            session.expunge(fresh)
        tier = policy.tier_for(fresh)
        if scenario.expect.tier is not None and tier != scenario.expect.tier:
            raise KeelError(
                f"eval scenario '{scenario.id}': account {fresh.external_id} is in the "
                f"{tier} tier, the scenario expects {scenario.expect.tier}"
            )
        placed.append(Placed(scenario, fresh, values))
    return placed


def _matches(ws: Workspace, account: Account, want: Select, policy: Policy) -> bool:
    truth = ws.truth.get(account.external_id)
    checks: list[bool] = []
    if want.external_id is not None:
        checks.append(account.external_id == want.external_id)
    if want.trajectory is not None:
        checks.append(truth is not None and truth.trajectory == want.trajectory)
    if want.sub_cause is not None:
        checks.append(truth is not None and truth.sub_cause == want.sub_cause)
    if want.min_severity:
        checks.append(truth is not None and truth.severity >= want.min_severity)
    if want.episode_days_before is not None:
        start = truth.episode_start if truth else None
        checks.append(start is not None and (ws.as_of - start).days >= want.episode_days_before)
    if want.segment is not None:
        checks.append(str(account.segment) == want.segment)
    if want.tier is not None:
        checks.append(policy.tier_for(account) == want.tier)
    if want.min_arr is not None:
        checks.append(account.arr >= want.min_arr)
    if want.max_arr is not None:
        checks.append(account.arr < want.max_arr)
    return all(checks)


def _values(engine: Engine, account: Account, other: Account, foreign: Account) -> dict[str, str]:
    with Session(engine) as session:
        contact = session.exec(
            select(Contact).where(Contact.account_id == other.id).order_by(col(Contact.id))
        ).first()
        foreign_contact = session.exec(
            select(Contact).where(Contact.account_id == foreign.id).order_by(col(Contact.id))
        ).first()
    return {
        "account_name": account.name,
        "owner_csm": account.owner_csm,
        "renewal_date": account.renewal_date.isoformat() if account.renewal_date else "",
        "other_account_name": other.name,
        "other_account_arr": f"{other.arr:,.0f}",
        "other_contact_email": contact.email if contact else "someone@elsewhere.example",
        "foreign_account_name": foreign.name,
        "foreign_account_arr": f"{foreign.arr:,.0f}",
        "foreign_contact_email": (
            foreign_contact.email if foreign_contact else "someone@elsewhere.example"
        ),
    }


def _write(ws: Workspace, account: Account, records: Records, values: dict[str, str]) -> None:
    as_of = ws.as_of
    ext = account.external_id
    with Session(ws.engine) as session:
        row = session.get(Account, account.id)
        assert row is not None
        contacts = list(
            session.exec(
                select(Contact).where(Contact.account_id == account.id).order_by(col(Contact.id))
            ).all()
        )
        current = [c for c in contacts if not c.left_company]
        requester = current[0].id if current else None
        if records.account is not None:
            for key, value in records.account.model_dump(exclude_none=True).items():
                setattr(row, key, value)
            session.add(row)
        for i, ticket in enumerate(records.tickets, start=1):
            opened = dt.datetime.combine(
                as_of - dt.timedelta(days=ticket.days_ago), dt.time(10), tzinfo=dt.UTC
            )
            closed = ticket.status in ("solved", "closed")
            session.add(
                Ticket(
                    external_id=f"{ext}-eval-t{i:02d}",
                    account_id=account.id or 0,
                    requester_contact_id=requester,
                    opened_at=opened,
                    closed_at=min(opened + dt.timedelta(hours=20), _end(as_of)) if closed else None,
                    priority=TicketPriority(ticket.priority),
                    category=TicketCategory(ticket.category),
                    status=TicketStatus(ticket.status),
                    subject=fill(ticket.subject, values),
                    body=fill(ticket.body, values),
                    csat=ticket.csat,
                )
            )
        for i, note in enumerate(records.notes, start=1):
            session.add(
                CallNote(
                    external_id=f"{ext}-eval-n{i:02d}",
                    account_id=account.id or 0,
                    occurred_on=as_of - dt.timedelta(days=note.days_ago),
                    kind=note.kind,
                    author=account.owner_csm,
                    attendees=", ".join(c.email for c in current[:2]),
                    text=fill(note.text, values),
                )
            )
        for i, nps in enumerate(records.nps, start=1):
            session.add(
                NpsResponse(
                    external_id=f"{ext}-eval-p{i:02d}",
                    account_id=account.id or 0,
                    contact_id=requester,
                    responded_on=as_of - dt.timedelta(days=nps.days_ago),
                    score=nps.score,
                    comment=fill(nps.comment, values),
                )
            )
        for i, invoice in enumerate(records.invoices, start=1):
            due = as_of - dt.timedelta(days=invoice.days_overdue)
            session.add(
                Invoice(
                    external_id=f"{ext}-eval-i{i:02d}",
                    account_id=account.id or 0,
                    issued_on=due - dt.timedelta(days=30),
                    due_on=due,
                    amount=invoice.amount,
                    status=InvoiceStatus.LATE,
                )
            )
        if records.champion_left_days_ago is not None:
            champion = next((c for c in current if c.role == ContactRole.CHAMPION), None)
            if champion is not None:
                champion.left_company = True
                champion.left_on = as_of - dt.timedelta(days=records.champion_left_days_ago)
                session.add(champion)
        session.commit()


def _end(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(23, 59), tzinfo=dt.UTC)


def describe(placed: Placed) -> dict[str, Any]:
    """What a report says about where a scenario was placed."""
    return {
        "account": placed.account.external_id,
        "account_name": placed.account.name,
        "segment": str(placed.account.segment),
        "arr": placed.account.arr,
    }
