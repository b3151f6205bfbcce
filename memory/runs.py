"""Run records of the nightly review: one row per (run kind, as-of date), one per account.

A nightly run is keyed by its as-of date: running the same night again finds its record
(``uq_nightly_run_key``) and its accounts (``uq_nightly_run_account``), finishes the accounts
not done and redoes nothing. Each account row keeps the review's thread id (deterministic
per account and date), its status and, when it failed, why.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Column, ForeignKey, Integer, Text, UniqueConstraint, delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

NIGHTLY: Final = "nightly"

# Account statuses: started and not finished (a crash leaves these), done, failed.
RUNNING: Final = "running"
DONE: Final = "done"
FAILED: Final = "failed"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class NightlyRun(SQLModel, table=True):
    """One night's run: when, with which model, and what it did (counts and phase times)."""

    __tablename__ = "nightly_run"
    __table_args__ = (UniqueConstraint("kind", "as_of", name="uq_nightly_run_key"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default=NIGHTLY, max_length=32)
    as_of: dt.date
    status: str = Field(default=RUNNING, max_length=16)
    started_at: dt.datetime = Field(default_factory=_utcnow)
    finished_at: dt.datetime | None = None
    # How many times the command ran for this night (1 unless resumed).
    attempts: int = 1
    model_label: str = Field(default="", max_length=256)
    # A token made when the record is made, part of every account's thread id: a night run
    # again after the book was replaced (a wipe, a re-seed) gets a new one, so it never
    # finds the old book's threads. '' on runs made before it existed (old thread ids).
    generation: str = Field(default="", max_length=16)
    snapshot_id: int | None = None
    accounts_total: int = 0
    accounts_done: int = 0
    # Found done by an earlier attempt and not redone by the latest one.
    accounts_skipped: int = 0
    accounts_failed: int = 0
    # Briefed, with no plays drafted because the CSM's daily draft cap was reached.
    accounts_capped: int = 0
    drafts_proposed: int = 0
    actions_sent: int = 0
    model_calls: int = 0
    model_tokens: int = 0
    # Seconds per phase of the latest attempt: {"score": ..., "review": ..., ...}.
    phases_json: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))

    @property
    def phases(self) -> dict[str, float]:
        return {str(k): float(v) for k, v in json.loads(self.phases_json or "{}").items()}


class NightlyAccount(SQLModel, table=True):
    """One account of a night's run: its review thread, status and what it proposed."""

    __tablename__ = "nightly_account"
    __table_args__ = (UniqueConstraint("run_id", "account_id", name="uq_nightly_run_account"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("nightly_run.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    account_id: int
    external_id: str = Field(max_length=128)
    # The account's name when reviewed: a re-seed that keeps ids but changes the book shows.
    account_name: str = Field(default="", max_length=256)
    owner_csm: str = Field(default="", max_length=256)
    thread_id: str = Field(max_length=256)
    status: str = Field(default=RUNNING, max_length=16)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    drafts: int = 0
    capped: bool = False
    model_calls: int = 0
    model_tokens: int = 0
    seconds: float = 0.0
    started_at: dt.datetime = Field(default_factory=_utcnow)
    finished_at: dt.datetime | None = None


# ------------------------------------------------------------------------------ writing


def new_generation() -> str:
    return uuid.uuid4().hex[:10]


def open_run(
    engine: Engine, *, as_of: dt.date, model_label: str, kind: str = NIGHTLY
) -> NightlyRun:
    """The run for ``as_of``: created, or the existing one reopened for another attempt.

    When the book the existing run reviewed is gone (most accounts it recorded no longer
    exist under the same id, external id and name: the book was re-seeded), the run
    starts over: its account rows are dropped and it gets a new generation, so its
    threads are new too.
    """
    for _ in range(2):
        with Session(engine) as session:
            run = session.exec(
                select(NightlyRun).where(NightlyRun.kind == kind, NightlyRun.as_of == as_of)
            ).first()
            if run is None:
                run = NightlyRun(
                    kind=kind, as_of=as_of, model_label=model_label, generation=new_generation()
                )
            else:
                run.attempts += 1
                run.status = RUNNING
                run.finished_at = None
                run.model_label = model_label
                if run.id is not None and _book_replaced(session, run.id):
                    session.execute(
                        delete(NightlyAccount).where(col(NightlyAccount.run_id) == run.id)
                    )
                    run.generation = new_generation()
                    run.attempts = 1
            session.add(run)
            try:
                session.commit()
            except IntegrityError:  # another process created it first: reopen that one
                session.rollback()
                continue
            session.refresh(run)
            session.expunge(run)
            return run
    raise RuntimeError(f"could not open the {kind} run for {as_of}")


def _book_replaced(session: Session, run_id: int) -> bool:
    """Whether most accounts the run recorded are no longer in the book as they were (gone,
    or their id now names another external id or another name): the book was replaced."""
    from keel.memory.models import Account

    recorded = session.exec(
        select(
            NightlyAccount.account_id, NightlyAccount.external_id, NightlyAccount.account_name
        ).where(NightlyAccount.run_id == run_id)
    ).all()
    if not recorded:
        return False
    ids = [account_id for account_id, _, _ in recorded]
    now: dict[int, tuple[str, str]] = {}
    for k in range(0, len(ids), 1_000):
        for account_id, external_id, name in session.exec(
            select(Account.id, Account.external_id, Account.name).where(
                col(Account.id).in_(ids[k : k + 1_000])
            )
        ).all():
            now[int(account_id or 0)] = (external_id, name)
    changed = 0
    for account_id, external_id, name in recorded:
        found = now.get(account_id)
        if found is None or found[0] != external_id or (name and found[1] != name):
            changed += 1
    # A re-seed replaces the whole book; an import renaming or removing an account or two
    # is the same book, and its night must resume, not start over (that would draft again).
    return changed * 2 > len(recorded)


def account_rows(engine: Engine, run_id: int) -> dict[int, NightlyAccount]:
    """The run's account rows by account id."""
    with Session(engine) as session:
        rows = session.exec(select(NightlyAccount).where(NightlyAccount.run_id == run_id)).all()
        for row in rows:
            session.expunge(row)
    return {row.account_id: row for row in rows}


def mark_started(
    engine: Engine,
    *,
    run_id: int,
    account_id: int,
    external_id: str,
    owner_csm: str,
    thread_id: str,
    account_name: str = "",
) -> None:
    """Record that an account's review starts (before any of its work is written)."""
    with Session(engine) as session:
        row = session.exec(
            select(NightlyAccount).where(
                NightlyAccount.run_id == run_id, NightlyAccount.account_id == account_id
            )
        ).first()
        if row is None:
            row = NightlyAccount(
                run_id=run_id,
                account_id=account_id,
                external_id=external_id,
                account_name=account_name,
                owner_csm=owner_csm,
                thread_id=thread_id,
            )
        else:
            row.status = RUNNING
            row.started_at = _utcnow()
        session.add(row)
        session.commit()


def mark_finished(
    engine: Engine,
    *,
    run_id: int,
    account_id: int,
    status: str,
    reason: str = "",
    drafts: int = 0,
    capped: bool = False,
    model_calls: int = 0,
    model_tokens: int = 0,
    seconds: float = 0.0,
) -> None:
    """Record how an account's review ended (done or failed, and why)."""
    with Session(engine) as session:
        row = session.exec(
            select(NightlyAccount).where(
                NightlyAccount.run_id == run_id, NightlyAccount.account_id == account_id
            )
        ).one()
        row.status = status
        row.reason = reason
        row.drafts = drafts
        row.capped = capped
        row.model_calls = model_calls
        row.model_tokens = model_tokens
        row.seconds = seconds
        row.finished_at = _utcnow()
        session.add(row)
        session.commit()


def attach_snapshot(engine: Engine, run_id: int, snapshot_id: int) -> None:
    """Name the scored snapshot the run reviews (as soon as it is known, so what the run
    records before it finishes can find the night's scores)."""
    with Session(engine) as session:
        run = session.get(NightlyRun, run_id)
        if run is None:
            raise KeyError(run_id)
        run.snapshot_id = snapshot_id
        session.add(run)
        session.commit()


def finish_run(engine: Engine, run_id: int, **values: Any) -> None:
    """Write the run's counts and phase times and mark it finished."""
    phases: Mapping[str, float] = values.pop("phases", {})
    with Session(engine) as session:
        run = session.get(NightlyRun, run_id)
        if run is None:
            raise KeyError(run_id)
        for name, value in values.items():
            setattr(run, name, value)
        run.phases_json = json.dumps({k: round(v, 3) for k, v in phases.items()})
        run.finished_at = _utcnow()
        session.add(run)
        session.commit()


# ------------------------------------------------------------------------------ reading


def list_runs(engine: Engine, *, limit: int = 20) -> list[NightlyRun]:
    """The latest runs first."""
    with Session(engine) as session:
        rows = session.exec(
            select(NightlyRun).order_by(col(NightlyRun.as_of).desc()).limit(limit)
        ).all()
        for row in rows:
            session.expunge(row)
    return list(rows)


def get_run(
    engine: Engine, *, run_id: int | None = None, as_of: dt.date | None = None, kind: str = NIGHTLY
) -> NightlyRun | None:
    """A run by id, or by its as-of date."""
    with Session(engine) as session:
        if run_id is not None:
            run = session.get(NightlyRun, run_id)
        else:
            run = session.exec(
                select(NightlyRun).where(NightlyRun.kind == kind, NightlyRun.as_of == as_of)
            ).first()
        if run is not None:
            session.expunge(run)
    return run


def previous_run(engine: Engine, *, before: dt.date, kind: str = NIGHTLY) -> NightlyRun | None:
    """The latest run of ``kind`` dated before ``before``."""
    with Session(engine) as session:
        run = session.exec(
            select(NightlyRun)
            .where(NightlyRun.kind == kind, col(NightlyRun.as_of) < before)
            .order_by(col(NightlyRun.as_of).desc())
        ).first()
        if run is not None:
            session.expunge(run)
    return run


def run_accounts(engine: Engine, run_id: int) -> Sequence[NightlyAccount]:
    """The run's account rows, in the order they were started."""
    with Session(engine) as session:
        rows = session.exec(
            select(NightlyAccount)
            .where(NightlyAccount.run_id == run_id)
            .order_by(col(NightlyAccount.id))
        ).all()
        for row in rows:
            session.expunge(row)
    return list(rows)
