"""Account view: one account's profile, health and its explanation, hypotheses and timeline.

Used by ``keel health`` and, next, by the chat and the account page. Health, explanation
and hypotheses are read from the scored book (:mod:`keel.tools.health.snapshot`), the
same rows the priority list and the analyst's tools read; the scoring job runs first
only when the date has no fresh snapshot. Profile and timeline are read from the
account's records.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from keel.api.services.portfolio import ScanHook, refresh_risk_language
from keel.errors import KeelError
from keel.text import money
from keel.tools.health.explain import Explanation
from keel.tools.health.service import DEFAULT_HORIZON_DAYS
from keel.tools.hypotheses import AccountHypotheses

if TYPE_CHECKING:
    from keel.app import App

TIMELINE_DAYS = 90
TIMELINE_MAX = 50


class AccountQuery(BaseModel):
    model_config = ConfigDict(frozen=True)

    account: str
    """External id, name or internal id."""
    as_of: dt.date | None = None
    """Default: the latest day in the data."""
    horizon_days: int = DEFAULT_HORIZON_DAYS
    hypotheses: bool = True
    timeline: bool = False
    timeline_days: int = Field(default=TIMELINE_DAYS, ge=1)


class AccountProfile(BaseModel):
    account_id: int
    external_id: str
    name: str
    industry: str
    segment: str
    arr: float
    plan: str
    owner_csm: str
    lifecycle_stage: str
    region: str
    renewal_date: dt.date | None
    customer_since: dt.date | None


class AccountHealth(BaseModel):
    """The account's place in the scored book and the explanation of its score."""

    probability: float
    percentile: float
    """Among the scored accounts; 100 = healthiest."""
    band: str
    risk_rank: int
    """Its place in the book's priority list."""
    arr_at_risk: float
    flagged: bool
    flag: str
    reason: str
    explanation: Explanation


TimelineKind = Literal["ticket", "note", "nps", "invoice", "renewal"]


class TimelineEntry(BaseModel):
    date: dt.date
    kind: TimelineKind
    external_id: str
    title: str
    """What happened, in Keel's words (no customer-written text)."""


class AccountView(BaseModel):
    as_of: dt.date
    horizon_days: int
    profile: AccountProfile
    health: AccountHealth
    hypotheses: AccountHypotheses | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)
    text_evidence: bool
    """Whether risk-language signals were read (else they are zero)."""
    scan_note: str | None = None
    """Why the risk-language cache could not be brought up to date, if it could not."""


def _profile(app: App, reference: str) -> AccountProfile:
    """The account given by external id, then name (case-insensitive, exactly one), then id."""
    from keel.memory.models import Account

    text = reference.strip()
    with Session(app.engine) as session:
        accounts = list(session.exec(select(Account).order_by(col(Account.id))).all())
    found: Account | None = None
    for field in ("external_id", "name"):
        hits = [a for a in accounts if str(getattr(a, field)).lower() == text.lower()]
        if len(hits) == 1:
            found = hits[0]
            break
    if found is None and text.isdigit():
        found = next((a for a in accounts if a.id == int(text)), None)
    if found is None or found.id is None:
        raise KeelError(f"no account matches {reference!r} (give its external id, name or id)")
    return AccountProfile(
        account_id=found.id,
        external_id=found.external_id,
        name=found.name,
        industry=found.industry,
        segment=str(found.segment),
        arr=found.arr,
        plan=found.plan,
        owner_csm=found.owner_csm,
        lifecycle_stage=str(found.lifecycle_stage),
        region=found.region,
        renewal_date=found.renewal_date,
        customer_since=found.contract_start,
    )


def _timeline(app: App, account_id: int, as_of: dt.date, days: int) -> list[TimelineEntry]:
    """Dated records of the last ``days`` days up to ``as_of``, newest first."""
    from keel.memory.models import CallNote, Invoice, NpsResponse, Renewal, Ticket

    since = as_of - dt.timedelta(days=days)
    out: list[TimelineEntry] = []
    with Session(app.engine) as session:
        for ticket in session.exec(select(Ticket).where(Ticket.account_id == account_id)):
            day = ticket.opened_at.date()
            if since <= day <= as_of:
                title = f"{ticket.priority.value} {ticket.category.value} ticket opened"
                out.append(
                    TimelineEntry(
                        date=day, kind="ticket", external_id=ticket.external_id, title=title
                    )
                )
        for note in session.exec(select(CallNote).where(CallNote.account_id == account_id)):
            if since <= note.occurred_on <= as_of:
                out.append(
                    TimelineEntry(
                        date=note.occurred_on,
                        kind="note",
                        external_id=note.external_id,
                        title=f"{note.kind} note by {note.author or 'unknown'}",
                    )
                )
        for nps in session.exec(select(NpsResponse).where(NpsResponse.account_id == account_id)):
            if since <= nps.responded_on <= as_of:
                out.append(
                    TimelineEntry(
                        date=nps.responded_on,
                        kind="nps",
                        external_id=nps.external_id,
                        title=f"NPS response {nps.score}",
                    )
                )
        for invoice in session.exec(select(Invoice).where(Invoice.account_id == account_id)):
            if since <= invoice.issued_on <= as_of:
                out.append(
                    TimelineEntry(
                        date=invoice.issued_on,
                        kind="invoice",
                        external_id=invoice.external_id,
                        title=f"invoice of {money(invoice.amount)} issued ({invoice.status.value})",
                    )
                )
        for renewal in session.exec(select(Renewal).where(Renewal.account_id == account_id)):
            if since <= renewal.renewal_date <= as_of + dt.timedelta(days=days):
                out.append(
                    TimelineEntry(
                        date=renewal.renewal_date,
                        kind="renewal",
                        external_id=renewal.external_id,
                        title=f"renewal ({renewal.outcome.value})",
                    )
                )
    out.sort(key=lambda e: (e.date, e.kind, e.external_id), reverse=True)
    return out[:TIMELINE_MAX]


def account_view(app: App, query: AccountQuery, *, on_scan: ScanHook | None = None) -> AccountView:
    """One account as of the date: profile, health and explanation, hypotheses, timeline.

    Raises:
        KeelError: no account matches, it is not active on the date (churned or not yet
            started), or the book has no telemetry.
    """
    from keel.tools.health.snapshot import current_snapshot, scored_account, stored_hypotheses

    scan_note = refresh_risk_language(app, on_scan=on_scan)
    snapshot = current_snapshot(app.engine, query.as_of, horizon_days=query.horizon_days)
    profile = _profile(app, query.account)
    scored = scored_account(app.engine, snapshot, profile.account_id)
    if scored is None:
        raise KeelError(
            f"account {query.account!r} is not active on {snapshot.as_of} "
            "(churned or not yet started)"
        )
    row = scored.row
    hypotheses = None
    if query.hypotheses:
        stored = stored_hypotheses(app.engine, snapshot, profile.account_id)
        hypotheses = stored.hypotheses if stored is not None else None
    return AccountView(
        as_of=snapshot.as_of,
        horizon_days=snapshot.horizon_days,
        profile=profile,
        health=AccountHealth(
            probability=row.probability,
            percentile=row.percentile,
            band=row.band,
            risk_rank=row.risk_rank,
            arr_at_risk=row.arr_at_risk,
            flagged=row.flagged,
            flag=row.flag,
            reason=row.reason,
            explanation=scored.explanation(),
        ),
        hypotheses=hypotheses,
        timeline=(
            _timeline(app, profile.account_id, snapshot.as_of, query.timeline_days)
            if query.timeline
            else []
        ),
        text_evidence=snapshot.text_evidence,
        scan_note=scan_note,
    )
