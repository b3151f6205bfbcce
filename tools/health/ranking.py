"""Where each scored account stands in the book: ARR at risk, urgency, flags, expansion.

Risks are ranked by ARR at risk (probability of churn or contraction within the horizon
times ARR) weighted by urgency: the weight rises linearly from 1 for a renewal
``URGENCY_WINDOW_DAYS`` or more away to 2 for a renewal due today, so of two equal
exposures the one renewing sooner comes first. Expansion opportunities are accounts not
flagged at risk with expansion signals (seats near the ceiling, new teams, fast adoption,
outcome volume near the contracted ceiling), ranked by the strength of those signals,
then ARR.

The scoring job ranks the whole book once (:func:`rank_book`) and stores each account's
place; a list cut to one CSM keeps the book's order (the sorts are stable), so it is the
book's order filtered.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from keel.tools.health.flags import FlagRule, flag
from keel.tools.health.service import BookScores
from keel.tools.signals.expansion import expansion_terms

URGENCY_WINDOW_DAYS = 180


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


def book_arr(scores: BookScores) -> np.ndarray:
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


def flag_rule(scores: BookScores) -> FlagRule:
    """The flag rule at the model's absolute threshold."""
    return FlagRule(threshold=scores.model.threshold)


def percentiles(p: np.ndarray) -> np.ndarray:
    """Health percentile (100 = healthiest) of each row among all rows."""
    n = len(p)
    out = np.empty(n, dtype=np.float64)
    for i, value in enumerate(p):
        riskier = float(np.sum(p > value))
        ties = float(np.sum(p == value)) - 1.0
        out[i] = 100.0 * (riskier + 0.5 * ties) / max(n - 1, 1)
    return out


def band(percentile: float) -> str:
    return "at risk" if percentile < 25 else "watch" if percentile < 50 else "healthy"


def rank_book(scores: BookScores) -> pd.DataFrame:
    """Every scored account with its flag, ARR at risk, urgency, expansion strength and its
    place in the book's risk order (``risk_rank``) and expansion order (``expansion_rank``,
    0 when it is no expansion candidate)."""
    frame = scores.frame.copy()
    accounts = scores.book.accounts.set_index("account_id")
    rule = flag_rule(scores)
    flags = flag(frame["p"].to_numpy(dtype=np.float64), rule)
    frame["flagged"] = flags.any
    frame["flag"] = [flags.reason(i, rule) for i in range(len(frame))]
    frame["arr"] = book_arr(scores)
    frame["arr_at_risk"] = frame["p"] * frame["arr"]
    frame["urgency"] = urgency(frame["days_to_renewal"].to_numpy(dtype=np.float64))
    frame["priority"] = frame["arr_at_risk"] * frame["urgency"]
    frame["owner"] = frame["account_id"].map(accounts["owner_csm"]).fillna("").astype(str)
    frame = frame.reset_index(drop=True)
    order = frame.sort_values(["priority", "p"], ascending=False).index
    frame.loc[order, "risk_rank"] = np.arange(1, len(frame) + 1)
    strength, reasons = expansion_strength(frame)
    frame["expansion"] = strength
    frame["expansion_reason"] = reasons
    # Expansion is offered to accounts not flagged at risk.
    candidates = frame[~frame["flagged"] & (frame["expansion"] > 0)]
    best = candidates.sort_values(["expansion", "arr"], ascending=False).index
    frame["expansion_rank"] = 0
    frame.loc[best, "expansion_rank"] = np.arange(1, len(best) + 1)
    frame["risk_rank"] = frame["risk_rank"].astype(np.int64)
    frame["expansion_rank"] = frame["expansion_rank"].astype(np.int64)
    return frame
