"""Assemble one account, or a whole book, as row dicts keyed by model field names.

Rows refer to their parents by external id (``account_external_id``,
``contact_external_id``, ``requester_contact_external_id``); the writer resolves those.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from keel.errors import KeelError
from keel.memory.synth.calendar import DEFAULT_END, DEFAULT_MONTHS, Window
from keel.memory.synth.contacts import Roster, roster_for
from keel.memory.synth.latent import latent_for
from keel.memory.synth.notes import notes_for
from keel.memory.synth.nps import nps_for
from keel.memory.synth.rng import Streams
from keel.memory.synth.telemetry import features_for, invoices_for, usage_for, usage_rows
from keel.memory.synth.tickets import tickets_for
from keel.memory.synth.trajectories import AccountPlan, plan_account
from keel.memory.synth.voice import Voice
from keel.memory.truth import AccountTruth

Row = dict[str, Any]

# Book attribute -> memory.models.ENTITY_TABLES key (the same names, listed for the writer).
ENTITIES: tuple[str, ...] = (
    "accounts",
    "contacts",
    "usage",
    "events",
    "features",
    "tickets",
    "notes",
    "invoices",
    "nps",
    "renewals",
)


@dataclass
class Book:
    """A synthetic book: one list of row dicts per entity, and the ground truth apart."""

    as_of: dt.date
    accounts: list[Row] = field(default_factory=list)
    contacts: list[Row] = field(default_factory=list)
    usage: list[Row] = field(default_factory=list)
    events: list[Row] = field(default_factory=list)  # ProductEventDaily: none in a synthetic book
    features: list[Row] = field(default_factory=list)
    tickets: list[Row] = field(default_factory=list)
    notes: list[Row] = field(default_factory=list)
    invoices: list[Row] = field(default_factory=list)
    nps: list[Row] = field(default_factory=list)
    renewals: list[Row] = field(default_factory=list)
    truth: list[AccountTruth] = field(default_factory=list)

    def extend(self, part: Book) -> None:
        for f in fields(self):
            if f.name != "as_of":
                getattr(self, f.name).extend(getattr(part, f.name))

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in ENTITIES}


def _lifecycle(plan: AccountPlan, as_of: dt.date) -> str:
    churned = plan.churned_on
    if churned and churned <= as_of:
        return "churned"
    if (as_of - plan.created_on).days < 90:
        return "onboarding"
    nxt = next((r.date for r in plan.renewals if r.date > as_of), None)
    if nxt and (nxt - as_of).days <= 90:
        return "renewal"
    if (as_of - plan.created_on).days < 365:
        return "adoption"
    return "mature"


def _account_row(plan: AccountPlan, as_of: dt.date) -> Row:
    churned = plan.churned_on is not None and plan.churned_on <= as_of
    arr, seats, ceiling = plan.term_at(as_of)
    past = [r for r in plan.renewals if r.date <= as_of]
    contract_start = past[-1].date if past and not churned else plan.created_on
    if churned and len(past) > 1:
        contract_start = past[-2].date
    nxt = next((r.date for r in plan.renewals if r.date > as_of), None)
    return {
        "external_id": plan.external_id,
        "name": plan.company.name,
        "industry": plan.company.industry,
        "segment": plan.segment,
        "arr": 0.0 if churned else arr,
        "plan": plan.plan_name,
        "pricing_model": plan.pricing_model,
        "contract_start": contract_start,
        "renewal_date": plan.churned_on if churned else nxt,
        "owner_csm": plan.csm_email,
        "lifecycle_stage": _lifecycle(plan, as_of),
        "region": plan.region,
        "seats_purchased": 0 if churned else seats,
        "outcome_unit": plan.outcome_unit,
        "outcome_ceiling_monthly": (0.0 if churned else ceiling) if ceiling is not None else None,
        "created_on": plan.created_on,
    }


def _renewal_rows(plan: AccountPlan, as_of: dt.date) -> list[Row]:
    rows = []
    for k, r in enumerate(plan.renewals, start=1):
        future = r.date > as_of
        rows.append(
            {
                "external_id": f"{plan.external_id}-r{k:02d}",
                "account_external_id": plan.external_id,
                "renewal_date": r.date,
                "outcome": "pending" if future else r.outcome,
                "decided_on": None if future else r.decided_on,
                "arr_before": r.arr_before,
                "arr_after": None if future else r.arr_after,
            }
        )
    return rows


def _contact_rows(
    account: str, roster: Roster, as_of: dt.date, seen: dict[str, dt.date]
) -> list[Row]:
    rows = []
    for m in roster.members:
        if m.added_on > as_of:
            continue
        left = m.left_on if m.left_on and m.left_on <= as_of else None
        rows.append(
            {
                "external_id": m.external_id,
                "account_external_id": account,
                "name": m.person.name,
                "email": m.email,
                "title": m.title,
                "role": m.role,
                "last_engagement": seen.get(m.external_id),
                "left_company": left is not None,
                "left_on": left,
                "added_on": m.added_on,
            }
        )
    return rows


def _last_seen(
    tickets: list[Row], notes: list[Row], nps: list[Row], roster: Roster
) -> dict[str, dt.date]:
    by_email = {m.email: m.external_id for m in roster.members}
    seen: dict[str, dt.date] = {}

    def touch(ext: str | None, day: dt.date) -> None:
        if ext and (ext not in seen or seen[ext] < day):
            seen[ext] = day

    for t in tickets:
        touch(t["requester_contact_external_id"], t["opened_at"].date())
    for n in notes:
        for email in filter(None, n["attendees"].split(",")):
            touch(by_email.get(email), n["occurred_on"])
    for r in nps:
        touch(r["contact_external_id"], r["responded_on"])
    return seen


def generate_account(index: int, seed: int, window: Window) -> Book:
    """Every row of account ``index``; identical whatever the size of the book."""
    streams = Streams(seed, index)
    plan = plan_account(streams, index, seed, window)
    profile_seed = int(streams.np("plan").integers(2**62))
    lat = latent_for(plan, window, streams.np("usage"))
    roster = roster_for(plan, window, streams.py("contacts"))
    features, adopted = features_for(plan, lat, window, streams.np("features"))
    usage = usage_for(plan, lat, window, adopted, streams.np("usage"))

    def voice(stream: str) -> Voice:
        return Voice(plan, roster, window, streams.py(stream), profile_seed=profile_seed)

    tickets = tickets_for(
        plan,
        lat,
        usage,
        roster,
        window,
        streams.np("tickets"),
        streams.py("tickets"),
        voice("tickets"),
    )
    subjects = {window.index(t["opened_at"].date()): t["subject"] for t in tickets}
    notes = notes_for(
        plan,
        lat,
        usage,
        roster,
        window,
        streams.np("notes"),
        streams.py("notes"),
        voice("notes"),
        subjects,
    )
    nps = nps_for(plan, lat, roster, window, streams.np("nps"), streams.py("nps"), voice("nps"))
    invoices = invoices_for(plan, lat, window, streams.np("invoices"))
    as_of = window.end
    return Book(
        as_of=as_of,
        accounts=[_account_row(plan, as_of)],
        contacts=_contact_rows(
            plan.external_id, roster, as_of, _last_seen(tickets, notes, nps, roster)
        ),
        usage=usage_rows(plan, usage, lat, window),
        features=features,
        tickets=tickets,
        notes=notes,
        invoices=invoices,
        nps=nps,
        renewals=_renewal_rows(plan, as_of),
        truth=[plan.truth(as_of)],
    )


def iter_accounts(
    n_accounts: int = 300,
    seed: int = 7,
    end: dt.date = DEFAULT_END,
    months: int = DEFAULT_MONTHS,
    *,
    start_index: int = 0,
) -> Iterator[Book]:
    """One small ``Book`` per account, lazily: memory stays bounded for large books."""
    window = Window.of(end, months)
    for i in range(start_index, n_accounts):
        yield generate_account(i, seed, window)


def generate_book(
    n_accounts: int = 300,
    seed: int = 7,
    end: dt.date = DEFAULT_END,
    months: int = DEFAULT_MONTHS,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Book:
    """The whole book in memory (pure and deterministic). Use ``seed_book`` for big books."""
    check_params(n_accounts, months)
    book = Book(as_of=end)
    for k, part in enumerate(iter_accounts(n_accounts, seed, end, months), start=1):
        book.extend(part)
        if progress:
            progress(k, n_accounts)
    return book


MAX_ACCOUNTS = 100_000


def check_params(n_accounts: int, months: int) -> None:
    """Reject sizes the generator does not support, with a message for the user."""
    if not 1 <= n_accounts <= MAX_ACCOUNTS:
        raise KeelError(f"--accounts must be between 1 and {MAX_ACCOUNTS:,}; got {n_accounts}")
    if not 13 <= months <= 60:
        raise KeelError(f"--months must be between 13 and 60 (renewals are annual); got {months}")
