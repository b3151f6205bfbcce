"""Interventions and their outcomes (issue 21 item 4).

The executor writes an :class:`~keel.memory.actions.Intervention` row when an action is
sent. This module keeps what is needed to judge it later:

- :class:`InterventionRecord`, one per sent action: the account, play, channel, the data
  date it was proposed for (``on``), who approved it (or ``policy`` for the AI-led tier),
  and **the signal that prompted it**: the account's risk flag, probability, band and
  reason in the scored snapshot of that date, and when the current run of flagged
  snapshots began (``first_signal_on``);
- :class:`InterventionOutcome`, one per (record, window of 30/60/90 days) once it is
  known: ``recovered`` (a snapshot in the window shows the account no longer flagged at
  risk), ``not_recovered`` (the window has closed and none did), ``unmeasured`` (the
  window closed with no snapshot inside it), or ``no_signal`` (the account was not flagged
  when the action went out: there was no risk signal to recover). An open window has no
  row;
- the renewal outcome on the record: the first renewal on or after ``on`` once decided
  (renewed, expanded, contracted, churned), seen only when its decision date is on or
  before the measuring run's date (no peeking past the night).

Rows are written by the nightly review (:mod:`keel.api.services.nightly`); each write is
idempotent (unique keys), so a resumed night records nothing twice.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Column, ForeignKey, Integer, Text, UniqueConstraint
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from keel.memory.actions import ActionDecision, Intervention, ProposedAction
from keel.memory.models import Account, Renewal, RenewalOutcome

WINDOWS: Final = (30, 60, 90)

RECOVERED: Final = "recovered"
NOT_RECOVERED: Final = "not_recovered"
UNMEASURED: Final = "unmeasured"
NO_SIGNAL: Final = "no_signal"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class InterventionRecord(SQLModel, table=True):
    """One executed action as an intervention, with the signal that prompted it."""

    __tablename__ = "intervention_record"

    id: int | None = Field(default=None, primary_key=True)
    intervention_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("intervention.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        )
    )
    action_id: str = Field(max_length=32, unique=True)
    account_id: int = Field(index=True)
    external_id: str = Field(max_length=128)
    owner_csm: str = Field(default="", max_length=256)
    play_id: str = Field(max_length=64)
    play_kind: str = Field(default="", max_length=16)
    channel: str = Field(max_length=32)
    thread_id: str = Field(max_length=256)
    # The data date the action was proposed for (the review's as-of date).
    on: dt.date = Field(index=True)
    sent_at: dt.datetime
    proposed_at: dt.datetime
    decided_at: dt.datetime | None = None
    # Who approved: a named user, or ``policy`` when the AI-led tier sent it alone.
    approved_by: str = Field(default="", max_length=256)
    decision: str = Field(default="", max_length=16)
    ai_led: bool = False
    # The signal: the account's score in the snapshot dated ``on`` (None: not scored).
    flagged: bool = False
    flag: str = Field(default="", max_length=128)
    probability: float | None = None
    band: str = Field(default="", max_length=16)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # The earliest date of the unbroken run of flagged snapshots ending at ``on``.
    first_signal_on: dt.date | None = None
    # The first renewal on or after ``on``, once decided: renewed/expanded/contracted/churned.
    renewal_outcome: str = Field(default="", max_length=16)
    renewal_decided_on: dt.date | None = None
    recorded_at: dt.datetime = Field(default_factory=_utcnow)


class InterventionOutcome(SQLModel, table=True):
    """What happened after one intervention within one window (written once known)."""

    __tablename__ = "intervention_outcome"
    __table_args__ = (
        UniqueConstraint("record_id", "window_days", name="uq_intervention_outcome_window"),
    )

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("intervention_record.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    window_days: int
    status: str = Field(max_length=16)
    # The snapshot date that showed the recovery, or the date the window was judged closed.
    observed_on: dt.date
    # The risk in that snapshot (None when no snapshot was seen).
    probability_after: float | None = None
    snapshots_seen: int = 0
    # The nightly run that wrote this row.
    run_id: int | None = None
    recorded_at: dt.datetime = Field(default_factory=_utcnow)


# ---------------------------------------------------------------------------- the signal


@dataclass(frozen=True)
class Point:
    """An account's score on one nightly run's date."""

    on: dt.date
    flagged: bool
    flag: str
    probability: float
    band: str
    reason: str


Series = dict[int, list[Point]]  # account id -> points in date order


def signal_series(
    engine: Engine, *, account_ids: Iterable[int], until: dt.date | None = None
) -> Series:
    """Each account's score on every nightly run's date (its snapshot), oldest first."""
    from keel.memory.runs import NightlyRun
    from keel.memory.snapshots import AccountHealthRow

    wanted = sorted(set(account_ids))
    out: Series = defaultdict(list)
    if not wanted:
        return out
    with Session(engine) as session:
        query = select(col(NightlyRun.as_of), col(NightlyRun.snapshot_id)).where(
            col(NightlyRun.snapshot_id).is_not(None)
        )
        if until is not None:
            query = query.where(col(NightlyRun.as_of) <= until)
        nights = {int(sid): day for day, sid in session.exec(query).all() if sid is not None}
        if not nights:
            return out
        for k in range(0, len(wanted), 1_000):
            rows = session.exec(
                select(AccountHealthRow).where(
                    col(AccountHealthRow.snapshot_id).in_(list(nights)),
                    col(AccountHealthRow.account_id).in_(wanted[k : k + 1_000]),
                )
            ).all()
            for r in rows:
                out[r.account_id].append(
                    Point(
                        on=nights[r.snapshot_id],
                        flagged=r.flagged,
                        flag=r.flag,
                        probability=r.probability,
                        band=r.band,
                        reason=r.reason,
                    )
                )
    for points in out.values():
        points.sort(key=lambda p: p.on)
    return out


def point_on(points: Sequence[Point], day: dt.date) -> Point | None:
    return next((p for p in points if p.on == day), None)


def first_signal(points: Sequence[Point], day: dt.date) -> dt.date | None:
    """The start of the unbroken run of flagged points ending on ``day`` (None: not
    flagged on ``day``)."""
    start: dt.date | None = None
    for p in reversed([p for p in points if p.on <= day]):
        if not p.flagged:
            break
        start = p.on
    return start


# ---------------------------------------------------------------------------- recording


@dataclass(frozen=True)
class NewIntervention:
    """A sent action not recorded yet, with what the caller resolved about it."""

    intervention_id: int
    action_id: str
    account_id: int
    external_id: str
    owner_csm: str
    play_id: str
    play_kind: str
    channel: str
    thread_id: str
    on: dt.date
    sent_at: dt.datetime
    proposed_at: dt.datetime
    decided_at: dt.datetime | None
    approved_by: str
    decision: str
    ai_led: bool


@dataclass(frozen=True)
class Unrecorded:
    """A sent action (its intervention row) that has no record yet."""

    intervention: Intervention
    action: ProposedAction
    external_id: str
    owner_csm: str
    approved_by: str
    decision: str
    decided_at: dt.datetime | None


APPROVING: Final = ("approve", "edit", "auto")


def unrecorded(engine: Engine) -> list[Unrecorded]:
    """Sent actions without an intervention record, oldest first."""
    with Session(engine) as session:
        found = session.exec(
            select(Intervention, ProposedAction, Account.external_id, Account.owner_csm)
            .join(ProposedAction, col(ProposedAction.id) == col(Intervention.action_id))
            .join(Account, col(Account.id) == col(Intervention.account_id))
            .outerjoin(
                InterventionRecord,
                col(InterventionRecord.intervention_id) == col(Intervention.id),
            )
            .where(col(InterventionRecord.id).is_(None))
            .order_by(col(Intervention.sent_at), col(Intervention.id))
        ).all()
        out: list[Unrecorded] = []
        for intervention, action, external_id, owner in found:
            decision = session.exec(
                select(ActionDecision)
                .where(
                    ActionDecision.action_id == action.id,
                    col(ActionDecision.decision).in_(APPROVING),
                )
                .order_by(col(ActionDecision.at).desc(), col(ActionDecision.id).desc())
            ).first()
            session.expunge(intervention)
            session.expunge(action)
            out.append(
                Unrecorded(
                    intervention=intervention,
                    action=action,
                    external_id=str(external_id),
                    owner_csm=str(owner),
                    approved_by=decision.user if decision else (action.decided_by or ""),
                    decision=decision.decision if decision else "",
                    decided_at=decision.at if decision else action.decided_at,
                )
            )
    return out


def record(engine: Engine, items: Sequence[NewIntervention]) -> int:
    """Write a record per item with its signal; one already written is left (idempotent).
    Returns how many were written."""
    if not items:
        return 0
    series = signal_series(engine, account_ids=[i.account_id for i in items])
    written = 0
    for item in items:
        points = series.get(item.account_id, [])
        point = point_on(points, item.on)
        row = InterventionRecord(
            intervention_id=item.intervention_id,
            action_id=item.action_id,
            account_id=item.account_id,
            external_id=item.external_id,
            owner_csm=item.owner_csm,
            play_id=item.play_id,
            play_kind=item.play_kind,
            channel=item.channel,
            thread_id=item.thread_id,
            on=item.on,
            sent_at=item.sent_at,
            proposed_at=item.proposed_at,
            decided_at=item.decided_at,
            approved_by=item.approved_by,
            decision=item.decision,
            ai_led=item.ai_led,
            flagged=point.flagged if point else False,
            flag=point.flag if point else "",
            probability=point.probability if point else None,
            band=point.band if point else "",
            reason=point.reason if point else "",
            first_signal_on=first_signal(points, item.on),
        )
        with Session(engine) as session:
            session.add(row)
            try:
                session.commit()
                written += 1
            except IntegrityError:  # another attempt recorded it first
                session.rollback()
    return written


# ---------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Measured:
    outcomes: int
    renewals: int


def measure(engine: Engine, *, as_of: dt.date, run_id: int | None = None) -> Measured:
    """Judge every window that is now known and every renewal now decided, as of ``as_of``.

    A window is judged on the nightly snapshots dated after ``on`` and within the window
    (never after ``as_of``): recovered as soon as one shows the account not flagged;
    otherwise, once ``as_of`` reaches the window's end, not recovered (or unmeasured when
    no snapshot fell inside it).
    """
    with Session(engine) as session:
        records = session.exec(
            select(InterventionRecord).where(col(InterventionRecord.on) < as_of)
        ).all()
        known = {
            (r, w)
            for r, w in session.exec(
                select(InterventionOutcome.record_id, InterventionOutcome.window_days)
            ).all()
        }
        for r in records:
            session.expunge(r)
    todo = [r for r in records if any((r.id, w) not in known for w in WINDOWS)]
    series = signal_series(engine, account_ids=[r.account_id for r in todo], until=as_of)
    outcomes: list[InterventionOutcome] = []
    for r in todo:
        assert r.id is not None
        points = series.get(r.account_id, [])
        for window in WINDOWS:
            if (r.id, window) in known:
                continue
            judged = _judge(r, points, window, as_of)
            if judged is not None:
                status, observed, probability, seen = judged
                outcomes.append(
                    InterventionOutcome(
                        record_id=r.id,
                        window_days=window,
                        status=status,
                        observed_on=observed,
                        probability_after=probability,
                        snapshots_seen=seen,
                        run_id=run_id,
                    )
                )
    written = 0
    for outcome in outcomes:
        with Session(engine) as session:
            session.add(outcome)
            try:
                session.commit()
                written += 1
            except IntegrityError:  # judged by a concurrent attempt
                session.rollback()
    return Measured(outcomes=written, renewals=_renewals(engine, as_of=as_of))


def _judge(
    r: InterventionRecord, points: Sequence[Point], window: int, as_of: dt.date
) -> tuple[str, dt.date, float | None, int] | None:
    end = r.on + dt.timedelta(days=window)
    inside = [p for p in points if r.on < p.on <= min(end, as_of)]
    closed = as_of >= end
    if r.probability is None:
        return (UNMEASURED, end, None, len(inside)) if closed else None
    if not r.flagged:
        return (NO_SIGNAL, r.on, r.probability, 0)
    recovered = next((p for p in inside if not p.flagged), None)
    if recovered is not None:
        return (RECOVERED, recovered.on, recovered.probability, len(inside))
    if not closed:
        return None
    if not inside:
        return (UNMEASURED, end, None, 0)
    return (NOT_RECOVERED, end, inside[-1].probability, len(inside))


def _renewals(engine: Engine, *, as_of: dt.date) -> int:
    """Record the outcome of each record's first renewal on or after ``on``, once decided
    on or before ``as_of``."""
    written = 0
    with Session(engine) as session:
        open_records = session.exec(
            select(InterventionRecord).where(InterventionRecord.renewal_outcome == "")
        ).all()
        for r in open_records:
            first = session.exec(
                select(Renewal)
                .where(Renewal.account_id == r.account_id, col(Renewal.renewal_date) >= r.on)
                .order_by(col(Renewal.renewal_date))
            ).first()
            if first is None or first.outcome == RenewalOutcome.PENDING:
                continue
            if first.decided_on is None or first.decided_on > as_of:
                continue
            r.renewal_outcome = str(first.outcome)
            r.renewal_decided_on = first.decided_on
            session.add(r)
            written += 1
        session.commit()
    return written


def records(engine: Engine) -> list[InterventionRecord]:
    with Session(engine) as session:
        rows = session.exec(select(InterventionRecord).order_by(col(InterventionRecord.id))).all()
        for row in rows:
            session.expunge(row)
    return list(rows)


def outcomes(engine: Engine) -> list[InterventionOutcome]:
    with Session(engine) as session:
        rows = session.exec(select(InterventionOutcome).order_by(col(InterventionOutcome.id))).all()
        for row in rows:
            session.expunge(row)
    return list(rows)
