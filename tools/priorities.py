"""The daily priority list: which accounts need attention today, and why.

Every active account is scored by the scoring job (:mod:`keel.tools.health.snapshot`),
which also ranks the book (:mod:`keel.tools.health.ranking`: ARR at risk weighted by
urgency; expansion strength, then ARR) and writes a one-line reason per account. The list
here is read from that snapshot: the book's order, cut to a CSM's accounts and to the top
``N``.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from keel.memory.snapshots import AccountHealthRow
from keel.tools.health.explain import ModelInfo
from keel.tools.health.ranking import URGENCY_WINDOW_DAYS, expansion_strength, urgency
from keel.tools.health.service import DEFAULT_HORIZON_DAYS
from keel.tools.health.snapshot import current_snapshot, scored_accounts, snapshot_model
from keel.tools.risk_language import TEXT_UNAVAILABLE, PrototypeMatcher, refresh_if_needed

__all__ = [
    "URGENCY_WINDOW_DAYS",
    "ExpansionItem",
    "PriorityItem",
    "PriorityList",
    "compute_priorities",
    "expansion_strength",
    "urgency",
]


class PriorityItem(BaseModel):
    rank: int
    account_id: int
    external_id: str
    name: str
    owner_csm: str
    segment: str
    arr: float
    probability: float
    arr_at_risk: float
    days_to_renewal: int | None
    renewal_date: dt.date | None
    urgency: float
    priority_score: float
    reason: str
    # Flagged at risk by the flag rule (tools.health.flags), and why ("" when not).
    flagged: bool = False
    flag: str = ""


class ExpansionItem(BaseModel):
    rank: int
    account_id: int
    external_id: str
    name: str
    owner_csm: str
    arr: float
    probability: float
    score: float
    reason: str


class PriorityList(BaseModel):
    as_of: dt.date
    horizon_days: int
    total_accounts: int
    active_accounts: int
    scored: int
    coverage: str
    owner: str | None
    model: ModelInfo
    text_evidence: bool
    text_note: str | None
    risks: list[PriorityItem] = Field(default_factory=list)
    expansions: list[ExpansionItem] = Field(default_factory=list)
    flag_rule: str = ""
    # Accounts flagged at risk in the whole book (or the owner's part of it).
    flagged: int = 0


def _risk_item(rank: int, row: AccountHealthRow) -> PriorityItem:
    return PriorityItem(
        rank=rank,
        account_id=row.account_id,
        external_id=row.external_id,
        name=row.name,
        owner_csm=row.owner_csm,
        segment=row.segment,
        arr=row.arr,
        probability=row.probability,
        arr_at_risk=row.arr_at_risk,
        days_to_renewal=row.days_to_renewal,
        renewal_date=row.renewal_date,
        urgency=row.urgency,
        priority_score=row.priority_score,
        reason=row.reason,
        flagged=row.flagged,
        flag=row.flag,
    )


def _expansion_item(rank: int, row: AccountHealthRow) -> ExpansionItem:
    return ExpansionItem(
        rank=rank,
        account_id=row.account_id,
        external_id=row.external_id,
        name=row.name,
        owner_csm=row.owner_csm,
        arr=row.arr,
        probability=row.probability,
        score=row.expansion_score,
        reason=row.expansion_reason,
    )


def compute_priorities(
    engine: Engine,
    *,
    as_of: dt.date | None = None,
    top: int = 10,
    owner: str | None = None,
    vector_store: PrototypeMatcher | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> PriorityList:
    """The priority list as of ``as_of`` (default: the latest data), from its snapshot.

    The book is scored (and the snapshot written) only when the date has no fresh one.

    Args:
        vector_store: when given and the index changed since the last risk-language scan,
            the scan is refreshed first; otherwise cached matches are used if any.
        owner: only list this CSM's accounts (flags are still decided over the whole book).
    """
    busy_note = refresh_if_needed(engine, vector_store)
    snapshot = current_snapshot(engine, as_of, horizon_days=horizon_days)
    rows = [a.row for a in scored_accounts(engine, snapshot)]
    if owner:
        wanted = owner.strip().lower()
        rows = [r for r in rows if r.owner_csm.lower() == wanted]
    risks = [_risk_item(rank, row) for rank, row in enumerate(rows[:top], start=1)]
    growth = sorted((r for r in rows if r.expansion_rank), key=lambda r: r.expansion_rank or 0)
    expansions = [_expansion_item(rank, row) for rank, row in enumerate(growth[:top], start=1)]
    active = snapshot.scored
    total = snapshot.total_accounts
    inactive = total - active
    return PriorityList(
        as_of=snapshot.as_of,
        horizon_days=horizon_days,
        total_accounts=total,
        active_accounts=active,
        scored=snapshot.scored,
        coverage=(
            f"scored {snapshot.scored}/{active} active accounts "
            f"({inactive} churned or not yet started of {total})"
        ),
        owner=owner,
        model=snapshot_model(snapshot),
        text_evidence=snapshot.text_evidence,
        text_note=busy_note or (None if snapshot.text_evidence else TEXT_UNAVAILABLE),
        risks=risks,
        expansions=expansions,
        flag_rule=snapshot.flag_rule,
        flagged=sum(1 for r in rows if r.flagged),
    )
