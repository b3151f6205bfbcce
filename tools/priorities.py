"""The daily priority list: which accounts need attention today, and why.

Every active account is scored every run. Risks are ranked by ARR at risk (probability of
churn or contraction within the horizon times ARR) weighted by urgency: the weight rises
linearly from 1 for a renewal ``URGENCY_WINDOW_DAYS`` or more away to 2 for a renewal
due today, so of two equal exposures the one renewing sooner comes first. Expansion
opportunities are accounts not flagged at risk with expansion signals (seats near the
ceiling, new teams, fast adoption, outcome volume near the contracted ceiling), ranked
by the strength of those signals, then ARR. Each line carries a one-line reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from keel.tools.health.explain import ModelInfo, model_info, one_line_reason
from keel.tools.health.flags import FlagRule, flag
from keel.tools.health.service import DEFAULT_HORIZON_DAYS, BookScores, score_book
from keel.tools.risk_language import TEXT_UNAVAILABLE, PrototypeMatcher, refresh_if_needed
from keel.tools.signals.catalog import RENEWAL_TIMING_SIGNALS
from keel.tools.signals.expansion import expansion_terms
from keel.tools.signals.windows import day_date

URGENCY_WINDOW_DAYS = 180


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


def urgency(days_to_renewal: np.ndarray) -> np.ndarray:
    """1 for renewals URGENCY_WINDOW_DAYS or more away (or unknown), up to 2 when due."""
    days = np.nan_to_num(days_to_renewal, nan=float(URGENCY_WINDOW_DAYS))
    return 1.0 + np.clip((URGENCY_WINDOW_DAYS - days) / URGENCY_WINDOW_DAYS, 0.0, 1.0)


def expansion_strength(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Strength of expansion signals per row and the strongest one's reason."""

    def col(name: str) -> np.ndarray:
        if name not in frame.columns:
            return np.full(len(frame), np.nan)
        return frame[name].to_numpy(dtype=np.float64)

    util, teams = col("usage_seat_utilisation"), col("team_growth")
    velocity, ceiling = col("adoption_velocity"), col("outcome_ceiling_use")
    # The thresholds every view uses (tools.signals.expansion): an opportunity listed
    # here is one the account's hypotheses name too.
    terms = expansion_terms(seats=util, teams=teams, adoption=velocity, ceiling=ceiling)
    stacked = np.vstack(list(terms.values()))
    total = stacked.sum(axis=0)
    best = np.argmax(stacked, axis=0)
    reasons: list[str] = []
    for i in range(len(frame)):
        key = list(terms)[int(best[i])]
        if key == "seats":
            reasons.append(f"seats near the ceiling: {util[i]:.0%} of purchased seats in use")
        elif key == "teams":
            reasons.append(f"new teams invited: {teams[i]:+.1f} active teams vs the prior quarter")
        elif key == "adoption":
            reasons.append(f"fast adoption: {velocity[i]:.0f} new features in 90 days")
        else:
            reasons.append(f"outcome volume at {ceiling[i]:.0%} of the contracted ceiling")
    return total, reasons


def _arr(scores: BookScores) -> np.ndarray:
    """ARR as of the date: the contract value going into the next renewal, else current."""
    book = scores.book
    frame = scores.frame
    accounts = book.accounts.set_index("account_id")
    current = frame["account_id"].map(accounts["arr"]).to_numpy(dtype=np.float64)
    ren = book.renewals
    upcoming = ren[ren["renewal"] >= frame["as_of"].max()].sort_values("renewal")
    next_arr = upcoming.groupby("account_id")["arr_before"].first()
    value = frame["account_id"].map(next_arr).to_numpy(dtype=np.float64)
    return np.where(np.isnan(value) | (value <= 0), current, value)


def rank_priorities(
    scores: BookScores, *, top: int = 10, owner: str | None = None
) -> tuple[list[PriorityItem], list[ExpansionItem]]:
    """Risks and expansion opportunities ranked from scored accounts.

    Flags are decided over the whole book (the relative rule compares an account with all
    of them), then the lists are cut to ``owner``'s accounts.
    """
    frame = scores.frame.copy()
    accounts = scores.book.accounts.set_index("account_id")
    rule = flag_rule(scores)
    flags = flag(frame["p"].to_numpy(dtype=np.float64), rule)
    frame["flagged"] = flags.any
    frame["flag"] = [flags.reason(i, rule) for i in range(len(frame))]
    frame["arr"] = _arr(scores)
    frame["arr_at_risk"] = frame["p"] * frame["arr"]
    frame["urgency"] = urgency(frame["days_to_renewal"].to_numpy(dtype=np.float64))
    frame["priority"] = frame["arr_at_risk"] * frame["urgency"]
    frame["owner"] = frame["account_id"].map(accounts["owner_csm"]).fillna("").astype(str)
    if owner:
        frame = frame[frame["owner"].str.lower() == owner.strip().lower()]
    frame = frame.reset_index(drop=True)
    risky = frame.sort_values(["priority", "p"], ascending=False).head(top)
    explanations = {e.account_id: e for e in scores.explain(risky["account_id"].tolist())}
    risks: list[PriorityItem] = []
    for rank, row in enumerate(_rows(risky), start=1):
        account = int(row["account_id"])
        dtr = row["days_to_renewal"]
        known = dtr == dtr
        risks.append(
            PriorityItem(
                rank=rank,
                account_id=account,
                external_id=str(accounts.at[account, "external_id"]),
                name=str(accounts.at[account, "name"]),
                owner_csm=str(row["owner"]),
                segment=str(row["segment"]),
                arr=float(row["arr"]),
                probability=float(row["p"]),
                arr_at_risk=float(row["arr_at_risk"]),
                days_to_renewal=int(dtr) if known else None,
                renewal_date=day_date(int(row["as_of"]) + int(dtr)) if known else None,
                urgency=float(row["urgency"]),
                priority_score=float(row["priority"]),
                reason=one_line_reason(explanations[account], shown=RENEWAL_TIMING_SIGNALS),
                flagged=bool(row["flagged"]),
                flag=str(row["flag"]),
            )
        )
    strength, reasons = expansion_strength(frame)
    frame["expansion"] = strength
    frame["expansion_reason"] = reasons
    # Expansion is offered to accounts not flagged at risk.
    candidates = frame[~frame["flagged"] & (frame["expansion"] > 0)]
    best = candidates.sort_values(["expansion", "arr"], ascending=False).head(top)
    expansions = [
        ExpansionItem(
            rank=rank,
            account_id=int(row["account_id"]),
            external_id=str(accounts.at[int(row["account_id"]), "external_id"]),
            name=str(accounts.at[int(row["account_id"]), "name"]),
            owner_csm=str(row["owner"]),
            arr=float(row["arr"]),
            probability=float(row["p"]),
            score=float(row["expansion"]),
            reason=str(row["expansion_reason"]),
        )
        for rank, row in enumerate(_rows(best), start=1)
    ]
    return risks, expansions


def flag_rule(scores: BookScores) -> FlagRule:
    """The flag rule at the model's absolute threshold."""
    return FlagRule(threshold=scores.model.threshold)


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def compute_priorities(
    engine: Engine,
    *,
    as_of: dt.date | None = None,
    top: int = 10,
    owner: str | None = None,
    vector_store: PrototypeMatcher | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> PriorityList:
    """Score every account as of ``as_of`` (default: the latest data) and rank them.

    Args:
        vector_store: when given and the index changed since the last risk-language scan,
            the scan is refreshed first; otherwise cached matches are used if any.
        owner: only list this CSM's accounts (every account is still scored).
    """
    busy_note = refresh_if_needed(engine, vector_store)
    scores = score_book(engine, as_of=as_of, horizon_days=horizon_days)
    risks, expansions = rank_priorities(scores, top=top, owner=owner)
    rule = flag_rule(scores)
    flagged = flag(scores.frame["p"].to_numpy(dtype=np.float64), rule).any
    if owner:
        owners = scores.frame["account_id"].map(
            scores.book.accounts.set_index("account_id")["owner_csm"]
        )
        flagged = (
            flagged
            & (owners.fillna("").astype(str).str.lower() == owner.strip().lower()).to_numpy()
        )
    active = int(scores.scored)
    total = scores.total_accounts
    inactive = total - active
    return PriorityList(
        as_of=scores.as_of,
        horizon_days=horizon_days,
        total_accounts=total,
        active_accounts=active,
        scored=scores.scored,
        coverage=(
            f"scored {scores.scored}/{active} active accounts "
            f"({inactive} churned or not yet started of {total})"
        ),
        owner=owner,
        model=model_info(scores.model, scores.as_of),
        text_evidence=scores.text_evidence,
        text_note=busy_note or (None if scores.text_evidence else TEXT_UNAVAILABLE),
        risks=risks,
        expansions=expansions,
        flag_rule=rule.describe(),
        flagged=int(flagged.sum()),
    )
