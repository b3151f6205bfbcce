"""A small hand-built book for the insight tests: known behaviour, written fast.

Not the synthetic book (``keel.memory.synth``): accounts whose behaviour the tests control
exactly, inserted with bulk statements so building one takes about a second.

Each account has *symptoms* switched on from an onset day: ``usage`` (engagement and
outcome volume fall), ``quality`` (outcome quality falls), ``seats`` (seats used fall,
outcomes a little), ``adoption`` (no features beyond the first), ``champion`` (the champion leaves),
``sponsor`` (the sponsor stops attending), ``tickets`` (many more tickets), ``urgent``
(open urgent tickets), ``sentiment`` (angry ticket text), ``csat`` (low CSAT), ``nps``
(low NPS), ``billing`` (unpaid invoices), ``ai`` (engagement falls while outcomes rise).

Kinds: ``healthy`` (sometimes one harmless symptom, renews), ``decline`` (three random
symptoms from ~200 days before a renewal, churns or contracts at it), ``ai`` (renews),
and *probes*: deterministic accounts with exactly the symptoms the test names, onset
``PROBE_ONSET_DAYS`` before the end, renewal after the end (outcome unknown).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from keel.memory.intel_tables import RiskLanguageMatch, RiskLanguageScan
from keel.memory.models import (
    Account,
    CallNote,
    Contact,
    FeatureAdoption,
    Invoice,
    NpsResponse,
    Renewal,
    Ticket,
    UsageDaily,
)

START = dt.date(2025, 1, 1)
DAYS = 540
END = START + dt.timedelta(days=DAYS - 1)
PROBE_ONSET_DAYS = 150
# Ticket surges come late in an episode (a change in volume is what the signal measures).
TICKET_SURGE_DELAY_DAYS = 40
# A healthy account's harmless symptom lasts this long.
HEALTHY_BLIP_DAYS = 90
SYMPTOMS = (
    "usage",
    "quality",
    "seats",
    "adoption",
    "champion",
    "sponsor",
    "tickets",
    "urgent",
    "sentiment",
    "csat",
    "nps",
    "billing",
    "risk_language",
)
# Risk language written straight into the match cache, as a vector-store scan would.
RISK_LABELS_USED = ("competitor_evaluation", "budget_cut")
ALL_PROBES: dict[str, set[str]] = (
    {"probe-base": set()}
    | {f"probe-{symptom}": {symptom} for symptom in SYMPTOMS}
    | {"probe-ai": {"ai"}}
)
FEATURES = ("search", "reports", "automation", "api", "alerts", "sso")
UTC = dt.UTC


@dataclass
class MiniBook:
    ids: dict[str, int] = field(default_factory=dict)  # external id -> internal id
    kinds: dict[str, str] = field(default_factory=dict)  # external id -> kind
    symptoms: dict[str, set[str]] = field(default_factory=dict)
    events: dict[str, dt.date] = field(default_factory=dict)  # churn/contraction known on
    renewals: dict[str, list[dt.date]] = field(default_factory=dict)


def _insert(engine: Engine, model: type, rows: list[dict[str, object]]) -> None:
    if rows:
        with engine.begin() as conn:
            for start in range(0, len(rows), 20_000):
                conn.execute(insert(model), rows[start : start + 20_000])


def _at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, tzinfo=UTC))


class _Writer:
    def __init__(self, days: int) -> None:
        self.days = days
        self.end = START + dt.timedelta(days=days - 1)
        self.rows: dict[type, list[dict[str, object]]] = {}
        self.next_contact = 1

    def add(self, model: type, row: dict[str, object]) -> None:
        self.rows.setdefault(model, []).append(row)

    def flush(self, engine: Engine) -> None:
        for model in (
            Account,
            Contact,
            UsageDaily,
            CallNote,
            Ticket,
            NpsResponse,
            Invoice,
            FeatureAdoption,
            Renewal,
            RiskLanguageMatch,
        ):
            _insert(engine, model, self.rows.get(model, []))


def _write_account(
    w: _Writer,
    aid: int,
    ext: str,
    *,
    kind: str,
    symptoms: set[str],
    onset: dt.date,
    until: dt.date | None,
    renewals: list[dt.date],
    outcome_at: dict[dt.date, str],
    rng: np.random.Generator | None,
    segment: str,
    arr: float,
    owner: str,
) -> None:
    """Write one account's rows; ``rng`` None means no noise (probes)."""

    def noise(scale: float = 0.05) -> float:
        return float(rng.normal(1.0, scale)) if rng is not None else 1.0

    created = renewals[0] - dt.timedelta(days=365)
    # The account row describes the current term: it began at the last renewal so far.
    contract_start = max((r for r in renewals if r <= w.end), default=created)
    w.add(
        Account,
        {
            "id": aid,
            "external_id": ext,
            "name": f"Account {ext}",
            "segment": segment,
            "arr": arr,
            "pricing_model": "SEAT",
            "contract_start": contract_start,
            "renewal_date": renewals[-1],
            "owner_csm": owner,
            "lifecycle_stage": "MATURE",
            "seats_purchased": 50,
            "outcome_ceiling_monthly": 3000.0,
            "created_on": created,
            "plan": "pro",
            "industry": "",
            "region": "",
            "outcome_unit": "tasks",
        },
    )
    churn_day = next((r for r, o in outcome_at.items() if o == "CHURNED"), None)
    last_day = churn_day if churn_day is not None else w.end
    champ, sponsor = w.next_contact, w.next_contact + 1
    w.next_contact += 2
    left_on = onset + dt.timedelta(days=30) if "champion" in symptoms else None
    for cid, role, name in (
        (champ, "CHAMPION", "Champ"),
        (sponsor, "EXECUTIVE_SPONSOR", "Sponsor"),
    ):
        left = left_on if cid == champ and left_on is not None and left_on <= w.end else None
        w.add(
            Contact,
            {
                "id": cid,
                "external_id": f"c-{cid}",
                "account_id": aid,
                "name": f"{name} {ext}",
                "email": f"{name.lower()}.{ext}@example.com",
                "title": "",
                "role": role,
                "left_company": left is not None,
                "left_on": left,
                "added_on": START - dt.timedelta(days=400),
            },
        )

    def active(day: dt.date) -> bool:
        return onset <= day and (until is None or day < until)

    def ramp(day: dt.date, symptom: str) -> float:
        """0 outside the episode, rising to 1 over 150 days after onset, for its symptoms."""
        if symptom not in symptoms or not active(day):
            return 0.0
        return min((day - onset).days / 150.0, 1.0)

    base_users = 30.0 * noise(0.15)
    # Each account keeps its own calendar (meetings, tickets, surveys): shared cadences
    # would make unrelated signals move together from one cut date to the next.
    phase = int(rng.integers(0, 90)) if rng is not None else 0
    for d in range(w.days):
        day = START + dt.timedelta(days=d)
        if day > last_day:
            break
        engagement = 1.0 - 0.6 * ramp(day, "usage")
        # Unused seats mean less work done too (a seat drop with steady outcomes would be
        # the AI-product pattern, which is not risk).
        outcomes = (1.0 - 0.5 * ramp(day, "usage")) * (1.0 - 0.2 * ramp(day, "seats"))
        if "ai" in symptoms:
            engagement = 1.0 - 0.5 * d / w.days
            outcomes = 1.0 + 0.6 * d / w.days
        quality = 0.9 - 0.25 * ramp(day, "quality")
        users = max(round(base_users * engagement * noise()), 0)
        seats_used = round(40 * (1.0 - 0.5 * ramp(day, "seats")) * noise(0.02))
        w.add(
            UsageDaily,
            {
                "account_id": aid,
                "day": day,
                "active_users": users,
                "sessions": users * 3,
                "key_feature_events": users * 2,
                "outcome_count": round(80 * outcomes * noise()),
                "outcome_quality": quality,
                "seats_purchased": 50,
                "seats_used": min(seats_used, 50),
                "active_teams": 3,
            },
        )
    for m in range(phase % 30, w.days, 30):
        day = START + dt.timedelta(days=m)
        if day > last_day:
            break
        who = []
        if (m - phase) % 90 < 30 and not ("sponsor" in symptoms and active(day)):
            who.append(f"sponsor.{ext}@example.com")
        if left_on is None or day < left_on:
            who.append(f"champ.{ext}@example.com")
        w.add(
            CallNote,
            {
                "external_id": f"n-{ext}-{m}",
                "account_id": aid,
                "occurred_on": day,
                "kind": "call",
                "author": "csm",
                "attendees": ",".join(who),
                "text": "Regular check-in.",
            },
        )
    # Tickets: a calm one every 45 days, more and angrier ones with symptoms.
    for m in range(10 + phase % 45, w.days, 5):
        day = START + dt.timedelta(days=m)
        if day > last_day:
            break
        after = active(day)
        surge = onset + dt.timedelta(days=TICKET_SURGE_DELAY_DAYS)
        busy = "tickets" in symptoms and after and day >= surge
        if (m - 10 - phase % 45) % 45 != 0 and not busy:
            continue
        urgent = "urgent" in symptoms and after
        angry = "sentiment" in symptoms and after
        low_csat = "csat" in symptoms and after
        closed = None if urgent else _at(day + dt.timedelta(days=2))
        w.add(
            Ticket,
            {
                "external_id": f"t-{ext}-{m}",
                "account_id": aid,
                "requester_contact_id": champ if left_on is None or day < left_on else None,
                "opened_at": _at(day),
                "closed_at": closed,
                "priority": "URGENT" if urgent else "NORMAL",
                "category": "QUALITY" if angry else "HOW_TO",
                "status": "OPEN" if urgent else "CLOSED",
                "subject": "Still broken, unacceptable" if angry else "Question about reports",
                "body": "This is frustrating and the results are wrong again."
                if angry
                else "Thanks, great help as always.",
                "csat": None if urgent else (1 if low_csat else 5),
            },
        )
    for m in range(20 + phase % 45, w.days, 45):
        day = START + dt.timedelta(days=m)
        if day > last_day:
            break
        w.add(
            NpsResponse,
            {
                "external_id": f"nps-{ext}-{m}",
                "account_id": aid,
                "contact_id": champ,
                "responded_on": day,
                "score": 3 if "nps" in symptoms and active(day) else 9,
                "comment": "",
            },
        )
    for m in range(0, w.days, 30):
        issued = START + dt.timedelta(days=m)
        if issued > last_day:
            break
        due = issued + dt.timedelta(days=30)
        late = "billing" in symptoms and active(issued)
        w.add(
            Invoice,
            {
                "external_id": f"inv-{ext}-{m}",
                "account_id": aid,
                "issued_on": issued,
                "due_on": due,
                "amount": arr / 12,
                "status": "LATE" if late else "PAID",
                "paid_on": None if late else due - dt.timedelta(days=2),
            },
        )
    if "risk_language" in symptoms:
        from keel.tools.risk_language import PROTOTYPE_VERSION

        for k, m in enumerate(range(phase % 30, w.days, 30)):
            day = START + dt.timedelta(days=m)
            if day > last_day:
                break
            if not active(day):
                continue
            w.add(
                RiskLanguageMatch,
                {
                    "source_kind": "note",
                    "source_id": 900_000 + aid * 100 + k,
                    "external_id": f"n-{ext}-{m}",
                    "account_id": aid,
                    "day": day,
                    "label": RISK_LABELS_USED[k % 2],
                    "score": 0.7,
                    "snippet": "We are evaluating other vendors before the renewal.",
                    "prototype_version": PROTOTYPE_VERSION,
                },
            )
    # Features: one new feature every 40 days, unless adoption stalls.
    for k, feature in enumerate(FEATURES):
        day = START + dt.timedelta(days=40 * k + 5)
        if "adoption" in symptoms and day >= onset - dt.timedelta(days=200):
            break
        w.add(
            FeatureAdoption,
            {
                "external_id": f"f-{ext}-{k}",
                "account_id": aid,
                "feature": feature,
                "day": day,
                "users": 3,
            },
        )
    for k, rdate in enumerate(renewals):
        outcome = outcome_at.get(rdate, "RENEWED")
        decided: dt.date | None = rdate - dt.timedelta(days=20)
        if decided is not None and decided > w.end:
            outcome, decided = "PENDING", None
        if churn_day is not None and rdate > churn_day:
            break
        w.add(
            Renewal,
            {
                "external_id": f"r-{ext}-{k}",
                "account_id": aid,
                "renewal_date": rdate,
                "outcome": outcome,
                "decided_on": decided,
                "arr_before": arr,
                "arr_after": arr * 0.6 if outcome == "CONTRACTED" else None,
            },
        )


def build_minibook(
    engine: Engine,
    *,
    n_healthy: int = 90,
    n_decline: int = 60,
    n_ai: int = 10,
    probes: Mapping[str, set[str]] | None = None,
    seed: int = 0,
    days: int = DAYS,
    text_scanned: bool = True,
) -> MiniBook:
    """Write a small book into ``engine`` and return what was written."""
    rng = np.random.default_rng(seed)
    w = _Writer(days)
    book = MiniBook()
    kinds = ["healthy"] * n_healthy + ["decline"] * n_decline + ["ai"] * n_ai
    aid = 0
    for i, kind in enumerate(kinds):
        aid += 1
        ext = f"acc-{i:03d}"
        first_renewal = START + dt.timedelta(days=int(rng.integers(30, 365)))
        renewals = [first_renewal + dt.timedelta(days=365 * k) for k in range(2)]
        symptoms: set[str] = set()
        outcome_at: dict[dt.date, str] = {}
        until: dt.date | None = None
        # The decline targets a renewal with at least 200 days of data before it.
        target = next((r for r in renewals if (r - START).days > 230 and r <= w.end), None)
        onset = (target or renewals[-1]) - dt.timedelta(days=200)
        if kind == "decline" and target is not None:
            symptoms = set(rng.choice(SYMPTOMS, size=3, replace=False).tolist())
            outcome_at[target] = "CHURNED" if i % 2 == 0 else "CONTRACTED"
            book.events[ext] = target - dt.timedelta(days=20)
            until = target  # a contracted account settles after its renewal
        elif kind == "decline":
            kind = "healthy"
        if kind == "healthy" and rng.random() < 0.3:
            symptoms = {str(rng.choice(SYMPTOMS))}
            onset = START + dt.timedelta(days=int(rng.integers(60, days - 60)))
            until = onset + dt.timedelta(days=HEALTHY_BLIP_DAYS)
        if kind == "ai":
            symptoms = {"ai"}
        _write_account(
            w,
            aid,
            ext,
            kind=kind,
            symptoms=symptoms,
            onset=onset,
            until=until,
            renewals=renewals,
            outcome_at=outcome_at,
            rng=rng,
            segment=["SMB", "MID_MARKET", "ENTERPRISE"][i % 3],
            arr=float(rng.integers(20, 200)) * 1000,
            owner="csm-a" if i % 2 == 0 else "csm-b",
        )
        book.ids[ext], book.kinds[ext], book.symptoms[ext] = aid, kind, symptoms
        book.renewals[ext] = renewals
    for ext, symptoms in (probes or {}).items():
        aid += 1
        # Probes renew 60 days after the end: near enough to matter, outcome unknown.
        renewal = w.end + dt.timedelta(days=60)
        _write_account(
            w,
            aid,
            ext,
            kind="probe",
            symptoms=set(symptoms),
            onset=w.end - dt.timedelta(days=PROBE_ONSET_DAYS),
            until=None,
            renewals=[renewal - dt.timedelta(days=365), renewal],
            outcome_at={},
            rng=None,
            segment="MID_MARKET",
            arr=100_000.0,
            owner="csm-probe",
        )
        book.ids[ext], book.kinds[ext], book.symptoms[ext] = aid, "probe", set(symptoms)
        book.renewals[ext] = [renewal - dt.timedelta(days=365), renewal]
    w.flush(engine)
    if text_scanned:
        from keel.tools.risk_language import PROTOTYPE_VERSION

        _insert(
            engine,
            RiskLanguageScan,
            [
                {
                    "prototype_version": PROTOTYPE_VERSION,
                    "scanned_at": dt.datetime.now(UTC),
                    "n_documents": 0,
                    "n_matches": len(w.rows.get(RiskLanguageMatch, [])),
                    "min_score": 0.5,
                }
            ],
        )
    return book


def write_observations(mini: MiniBook, path: Path, window: int = 60) -> pd.DataFrame:
    """Monthly observations per account, written as a CSV at ``path`` and returned.

    Labelled 1 when the account's churn or contraction becomes known within ``window``
    days; an account's observations stop once it is known.
    """
    rows = []
    for ext in mini.ids:
        event = mini.events.get(ext)
        for m in range(4, 18):
            day = START + dt.timedelta(days=30 * m)
            if event is not None and event <= day:
                break
            label = int(event is not None and day < event <= day + dt.timedelta(days=window))
            rows.append({"account_id": ext, "observation_date": day.isoformat(), "is_churn": label})
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    return frame


@dataclass
class ProbeBook:
    """A mini book with every probe, scored as of its last day (shared by test modules)."""

    engine: Engine
    book: MiniBook
    end: dt.date


def make_probe_book(path: str) -> ProbeBook:
    from keel.memory.db import init_db, make_engine

    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    book = build_minibook(engine, probes=ALL_PROBES)
    return ProbeBook(engine=engine, book=book, end=END)
