"""The daily priority list: which accounts need attention today, and why.

Every active account is scored by the scoring job (:mod:`keel.tools.health.snapshot`),
which also ranks the book (:mod:`keel.tools.health.ranking`: accounts flagged at risk
first, each part by expected ARR loss; expansion strength, then ARR, among accounts with no
open risk) and writes a one-line reason per account. The list here is read from that
snapshot: the book's order, cut to a CSM's accounts and to the top ``N``. Items flagged at
risk are the ones that **need attention**; the others after them are shown as "watch".

A CSM is named the way the book stores them (usually an e-mail) or by name as briefings
show it (``maya.chen@x`` is "Maya Chen"), in any case; an unknown name is an error that
lists the known owners.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Iterable

from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from keel.errors import KeelError
from keel.memory.snapshots import AccountHealthRow
from keel.text import money
from keel.tools.health.explain import ModelInfo
from keel.tools.health.ranking import URGENCY_WINDOW_DAYS, expansion_strength, urgency
from keel.tools.health.service import DEFAULT_HORIZON_DAYS
from keel.tools.health.snapshot import current_snapshot, scored_accounts, snapshot_model
from keel.tools.risk_language import TEXT_UNAVAILABLE, PrototypeMatcher, refresh_if_needed

__all__ = [
    "ATTENTION_RULE",
    "URGENCY_WINDOW_DAYS",
    "ExpansionItem",
    "PriorityItem",
    "PriorityList",
    "compute_priorities",
    "expansion_strength",
    "health_standing",
    "match_owner",
    "owner_name",
    "urgency",
    "urgency_label",
]

ATTENTION_RULE = "flagged at risk; each part ranked by expected ARR loss (p(risk) x ARR)"
# ARR bands (lower edges) within which a lower-risk account ranked above a higher-risk one
# is said why: two accounts of like size are expected to be ordered by risk.
ARR_BAND_EDGES: tuple[float, ...] = (25_000.0, 100_000.0, 250_000.0, 1_000_000.0)


def urgency_label(days_to_renewal: int | None, horizon_days: int) -> str:
    """How soon the next renewal is, in words: the urgency column beside the ARR at risk."""
    if days_to_renewal is None:
        return "unknown"
    if days_to_renewal <= 30:
        return "high (<= 30 d)"
    if days_to_renewal <= 90:
        return "medium (<= 90 d)"
    if days_to_renewal <= horizon_days:
        return f"low (<= {horizon_days} d)"
    return f"later (> {horizon_days} d)"


def health_standing(percentile: float, probability: float) -> str:
    """An account's place in the book and its own risk, each said for what it is: the
    band is relative (a percentile of the book), the risk absolute, so "at risk (10%
    risk)" read as a contradiction. ``health in the lowest 13% of the book, 10% churn
    risk``; ``health in the top 40% of the book, 2% churn risk``."""
    pct = float(percentile)
    if pct < 50:
        place = f"health in the lowest {min(max(math.ceil(pct), 1), 50)}% of the book"
    else:
        place = f"health in the top {min(max(math.ceil(100.0 - pct), 1), 50)}% of the book"
    return f"{place}, {float(probability):.0%} churn risk"


def _fold(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join(plain.casefold().split())


def owner_name(owner: str) -> str:
    """The owner as briefings show them: ``maya.chen@x`` -> ``Maya Chen``; a name as is."""
    if "@" not in owner:
        return owner.strip()
    local = owner.split("@", 1)[0]
    parts = [p for p in re.split(r"[._\-+]+", local) if p]
    return " ".join(p.capitalize() for p in parts) or owner


def match_owner(query: str, owners: Iterable[str]) -> str:
    """The stored owner ``query`` names: the stored value (an e-mail, usually) or the name
    briefings show, case- and accent-insensitive.

    Raises:
        KeelError: no owner matches; the message lists the known owners.
    """
    known = sorted({o for o in owners if o})
    wanted = _fold(query)
    for stored in known:
        if wanted in (_fold(stored), _fold(owner_name(stored))):
            return stored
    shown = ", ".join(f"{owner_name(o)} ({o})" if owner_name(o) != o else o for o in known)
    raise KeelError(
        f"no accounts owned by '{query.strip()}' in the scored book; use a name or e-mail "
        f"as listed: {shown or 'no owners recorded'}"
    )


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
    # How soon the renewal is, in words (high: within 30 days, ...).
    urgency_label: str = ""
    priority_score: float
    reason: str
    # Flagged at risk by the flag rule (tools.health.flags), and why ("" when not).
    flagged: bool = False
    flag: str = ""
    # Above the list's floor (flagged at risk); the others are on watch.
    needs_attention: bool = False
    # The account's ARR band (ARR_BAND_EDGES), and why it sits above a higher-risk account
    # of the same band ("" when it does not): larger expected loss, flagged, sooner renewal.
    arr_band: str = ""
    order_note: str = ""


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
    # Who needs attention and in what order (ATTENTION_RULE).
    attention_rule: str = ATTENTION_RULE


def arr_band(arr: float) -> str:
    """The ARR band an amount falls in: ``$100,000-$250,000``, ``under $25,000``, ..."""
    lower = [e for e in ARR_BAND_EDGES if arr >= e]
    if not lower:
        return f"under {money(ARR_BAND_EDGES[0])}"
    lo = lower[-1]
    above = [e for e in ARR_BAND_EDGES if e > lo]
    return f"{money(lo)}-{money(above[0])}" if above else f"{money(lo)} and over"


def order_notes(rows: list[AccountHealthRow]) -> list[str]:
    """Per row (in list order), why it sits above a higher-risk account of the same ARR band
    ranked below it ("" when none does): the list ranks by expected ARR loss, not by risk, so
    within a band it says so, naming the account, the flag and renewals that decide it."""
    notes: list[str] = []
    for i, row in enumerate(rows):
        band = arr_band(row.arr)
        below = [
            (rank, other)
            for rank, other in enumerate(rows[i + 1 :], start=i + 2)
            if other.probability > row.probability and arr_band(other.arr) == band
        ]
        if not below:
            notes.append("")
            continue
        rank, other = max(below, key=lambda b: (b[1].probability, -b[0]))
        if row.flagged and not other.flagged:
            why = "flagged at risk, it is not"
        else:
            why = f"larger expected loss ({money(row.arr_at_risk)} vs {money(other.arr_at_risk)})"
        if (
            row.days_to_renewal is not None
            and other.days_to_renewal is not None
            and row.days_to_renewal < other.days_to_renewal
        ):
            why += f"; renews in {row.days_to_renewal} d vs {other.days_to_renewal} d"
        more = f"; {len(below) - 1} more like it" if len(below) > 1 else ""
        # One decimal when whole percents would read equal ("6% vs 6%").
        spec = ".1%" if f"{other.probability:.0%}" == f"{row.probability:.0%}" else ".0%"
        notes.append(
            f"above higher-risk #{rank} {other.name} ({other.probability:{spec}} vs "
            f"{row.probability:{spec}}, same ARR band {band}{more}): {why}"
        )
    return notes


def _risk_item(
    rank: int, row: AccountHealthRow, horizon_days: int, order_note: str = ""
) -> PriorityItem:
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
        urgency_label=urgency_label(row.days_to_renewal, horizon_days),
        priority_score=row.priority_score,
        reason=row.reason,
        flagged=row.flagged,
        flag=row.flag,
        needs_attention=row.flagged,
        arr_band=arr_band(row.arr),
        order_note=order_note,
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
        owner: only list this CSM's accounts (flags are still decided over the whole book),
            named by e-mail or by name (see :func:`match_owner`).

    Raises:
        KeelError: ``owner`` owns no account in the scored book.
    """
    busy_note = refresh_if_needed(engine, vector_store)
    snapshot = current_snapshot(engine, as_of, horizon_days=horizon_days)
    rows = [a.row for a in scored_accounts(engine, snapshot)]
    if owner:
        # The owner as the book stores them (shown as a name by the CLI).
        owner = match_owner(owner, (r.owner_csm for r in rows))
        rows = [r for r in rows if r.owner_csm == owner]
    notes = order_notes(rows)
    risks = [
        _risk_item(rank, row, horizon_days, notes[rank - 1])
        for rank, row in enumerate(rows[:top], start=1)
    ]
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
