"""Portfolio: the priority list and the book's health distribution, read from the scored book.

Used by ``keel priorities`` and ``keel demo`` and, next, by the nightly run and the web
app. Both read the snapshot for the date (:mod:`keel.tools.health.snapshot`); the scoring
job runs first only when the date has none fresh. Before that, the risk-language cache is
brought up to date when the text index changed (a scan, itself a job): see
:func:`refresh_risk_language`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from keel.tools.health.explain import ModelInfo
from keel.tools.health.service import DEFAULT_HORIZON_DAYS
from keel.tools.priorities import PriorityList

if TYPE_CHECKING:
    from keel.app import App

__all__ = [
    "BandCount",
    "DistributionQuery",
    "HealthDistribution",
    "PriorityList",
    "PriorityQuery",
    "health_distribution",
    "priority_list",
    "refresh_risk_language",
]

# Called just before a risk-language scan starts (it can take a while on a large index).
ScanHook = Callable[[], None]


def refresh_risk_language(app: App, *, on_scan: ScanHook | None = None) -> str | None:
    """Bring the risk-language cache up to date when the text index changed.

    Returns:
        A note when it could not be (another process is writing the index), else None.
    """
    from keel.tools.risk_language import needs_refresh, refresh_if_needed

    if not needs_refresh(app.engine):
        return None
    if on_scan is not None:
        on_scan()
    return refresh_if_needed(app.engine, app.vector_store)


class PriorityQuery(BaseModel):
    model_config = ConfigDict(frozen=True)

    top: int = Field(default=10, ge=1)
    owner: str | None = None
    """Only this CSM's accounts (flags are still decided over the whole book), by e-mail or by
    name as briefings show it, in any case; an unknown owner is a KeelError listing the known
    ones."""
    as_of: dt.date | None = None
    """Default: the latest day in the data."""
    horizon_days: int = DEFAULT_HORIZON_DAYS


def priority_list(
    app: App, query: PriorityQuery, *, on_scan: ScanHook | None = None
) -> PriorityList:
    """Who needs attention as of the date, and why; then expansion opportunities."""
    from keel.tools.priorities import compute_priorities

    busy = refresh_risk_language(app, on_scan=on_scan)
    result = compute_priorities(
        app.engine,
        as_of=query.as_of,
        top=query.top,
        owner=query.owner,
        horizon_days=query.horizon_days,
    )
    if busy:
        result.text_note = busy
    return result


class DistributionQuery(BaseModel):
    model_config = ConfigDict(frozen=True)

    owner: str | None = None
    as_of: dt.date | None = None
    horizon_days: int = DEFAULT_HORIZON_DAYS


class BandCount(BaseModel):
    band: str
    """``at risk`` (bottom quarter by health), ``watch`` (second quarter), ``healthy``."""
    accounts: int
    arr: float
    arr_at_risk: float


class HealthDistribution(BaseModel):
    """How the book (or one CSM's part of it) spreads over the health bands."""

    as_of: dt.date
    horizon_days: int
    owner: str | None
    scored: int
    flagged: int
    flag_rule: str
    mean_risk: float
    arr: float
    arr_at_risk: float
    bands: list[BandCount]
    model: ModelInfo
    text_evidence: bool


BANDS = ("at risk", "watch", "healthy")


def health_distribution(app: App, query: DistributionQuery) -> HealthDistribution:
    """Accounts, ARR and ARR at risk per health band, from the scored book."""
    from keel.tools.health.snapshot import current_snapshot, scored_accounts, snapshot_model
    from keel.tools.priorities import match_owner

    snapshot = current_snapshot(app.engine, query.as_of, horizon_days=query.horizon_days)
    rows = [a.row for a in scored_accounts(app.engine, snapshot)]
    if query.owner:
        wanted = match_owner(query.owner, (r.owner_csm for r in rows))
        rows = [r for r in rows if r.owner_csm == wanted]
    bands = [
        BandCount(
            band=name,
            accounts=sum(1 for r in rows if r.band == name),
            arr=sum(r.arr for r in rows if r.band == name),
            arr_at_risk=sum(r.arr_at_risk for r in rows if r.band == name),
        )
        for name in BANDS
    ]
    return HealthDistribution(
        as_of=snapshot.as_of,
        horizon_days=snapshot.horizon_days,
        owner=query.owner,
        scored=len(rows),
        flagged=sum(1 for r in rows if r.flagged),
        flag_rule=snapshot.flag_rule,
        mean_risk=sum(r.probability for r in rows) / len(rows) if rows else 0.0,
        arr=sum(r.arr for r in rows),
        arr_at_risk=sum(r.arr_at_risk for r in rows),
        bands=bands,
        model=snapshot_model(snapshot),
        text_evidence=snapshot.text_evidence,
    )
