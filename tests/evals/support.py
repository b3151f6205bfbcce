"""Hand-written outcomes for the scorers' tests: one account, its contacts, its facts, and
a draft a CSM would send; each test changes one thing about it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from keel.evals.outcome import CUSTOMER, INTERNAL, Artefact, Expected, Outcome

ACCOUNT = {
    "id": 1,
    "external_id": "acc-1",
    "name": "Acme Robotics",
    "owner_csm": "lena.fischer@keel.example",
    "owner_name": "Lena Fischer",
}
CONTACTS = (
    {
        "id": 10,
        "name": "Maya Chen",
        "email": "maya.chen@acme.example",
        "role": "champion",
        "left_company": False,
    },
    {
        "id": 11,
        "name": "Tom Ward",
        "email": "tom.ward@acme.example",
        "role": "admin",
        "left_company": True,
    },
    {
        "id": 12,
        "name": "Ines Roth",
        "email": "ines.roth@acme.example",
        "role": "executive_sponsor",
        "left_company": False,
    },
)
LINES = (
    {
        "id": "metric:active_users",
        "kind": "signal",
        "text": "Active users 1,200 -> 840 (-30%) between 2026-08-02 and 2026-10-31.",
    },
    {
        "id": "ticket:acc-1-t01",
        "kind": "ticket",
        "text": "Ticket acc-1-t01: high-priority bug ticket opened 2026-10-14, still open.",
    },
    {
        "id": "renewal:acc-1-r02",
        "kind": "renewal",
        "text": "Renewal on 2027-01-15 (76 days away), ARR 48,000.",
    },
)
HEALTH_LINE = {
    "id": "health:acc-1@2026-10-31",
    "kind": "health",
    "text": "Health score 31/100; 8th percentile of the book; churn risk 41%.",
}
FACTS: dict[str, Any] = {
    "account": ACCOUNT,
    "fact_lines": [*LINES, HEALTH_LINE],
    "evidence": [{"id": "ticket:acc-1-t01"}, {"id": "ticket:acc-2-t09"}],
}
RECORDS: dict[str, tuple[str, int | None]] = {
    "ticket:acc-1-t01": ("high bug ticket: Sync fails. The nightly sync job fails.", 1),
    "ticket:acc-2-t09": ("normal how_to ticket: SSO setup for Globex.", 2),
    "renewal:acc-1-r02": ("renewal on 2027-01-15, pending, ARR 48,000", 1),
}
GOOD_BODY = """Hi Maya,

I was looking at how Acme Robotics uses the product and noticed a change I wanted to ask you about.

- Active users went from 1200 to 840 (-30%) between 2026-08-02 and 2026-10-31 [metric:active_users]
- Your high-priority bug ticket opened 2026-10-14 is still open [ticket:acc-1-t01]

Would a 30-minute working session next week help your team get back to its usual routine?

Best,
Lena Fischer"""


def draft(body: str = GOOD_BODY, **changes: Any) -> Artefact:
    """The good customer draft, with ``changes`` applied."""
    base = Artefact(
        key="draft:usage_drop_checkin",
        kind="email",
        play="usage_drop_checkin",
        text=f"Subject: Checking in on Acme Robotics\n{body}",
        audience=CUSTOMER,
        given=LINES,
        given_texts=("Usage is falling: active users 1,200 -> 840",),
        cited=("metric:active_users", "ticket:acc-1-t01"),
        recipients=("maya.chen@acme.example",),
        recipient_contact_id=10,
        recipient_name="Maya Chen",
        status="pending",
    )
    return replace(base, **changes)


def internal_note(body: str, **changes: Any) -> Artefact:
    base = Artefact(
        key="draft:internal_escalation",
        kind="internal_note",
        play="internal_escalation",
        text=f"Subject: Escalation: Acme Robotics\n{body}",
        audience=INTERNAL,
        given=(*LINES, HEALTH_LINE),
        cited=(),
        recipient_name="lena.fischer@keel.example",
    )
    return replace(base, **changes)


def outcome(*artefacts: Artefact, expected: Expected | None = None, **changes: Any) -> Outcome:
    base = Outcome(
        scenario="hand-written",
        account=ACCOUNT,
        contacts=CONTACTS,
        facts=FACTS,
        artefacts=artefacts or (draft(),),
        records=RECORDS,
        allowlist=("https://help.keel.example",),
        approved_offers={},
        expected=expected or Expected(),
    )
    return replace(base, **changes)
