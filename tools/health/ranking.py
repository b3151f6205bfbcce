"""Where each scored account stands in the book: expected ARR loss, urgency, flags, expansion.

Risks are ranked the way a CS leader reads a book: first the accounts that **need
attention** (flagged at risk by the flag rule, :mod:`keel.tools.health.flags`), then the
rest; within each, by **expected ARR loss** (probability of churn or contraction within the
horizon times ARR, ``arr_at_risk``), largest first, so that column reads in order. Urgency
(days to the next renewal) is shown beside it, not folded in: the probability is already
that of a loss within the horizon. A big healthy account with a small probability never
outranks one flagged at risk.

Expansion opportunities are accounts with **no open risk** (not flagged, risk not above
the book's mean, no risk language in the last 90 days, no departed champion left unreplaced,
no churn or contraction at a renewal in the last year) and expansion signals (seats near
the ceiling, new teams, fast adoption, outcome volume near the contracted ceiling), ranked
by the strength of those signals, then ARR.

The scoring job ranks the whole book once (:func:`rank_book`) and stores each account's
place; a list cut to one CSM keeps the book's order (the sorts are stable), so it is the
book's order filtered.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from keel.tools.health.flags import FlagRule, flag
from keel.tools.health.service import BookScores
from keel.tools.signals.catalog import RISK_LABELS, RISK_PREFIX
from keel.tools.signals.expansion import expansion_strength as signal_expansion_strength

URGENCY_WINDOW_DAYS = 180
# A churn or contraction at a renewal this recent is an open risk (no expansion pick).
RECENT_LOSS_DAYS = 365


def urgency(days_to_renewal: np.ndarray) -> np.ndarray:
    """1 for renewals URGENCY_WINDOW_DAYS or more away (or unknown), up to 2 when due."""
    days = np.nan_to_num(days_to_renewal, nan=float(URGENCY_WINDOW_DAYS))
    return 1.0 + np.clip((URGENCY_WINDOW_DAYS - days) / URGENCY_WINDOW_DAYS, 0.0, 1.0)


def expansion_strength(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Strength of expansion signals per row and the strongest one's reason.

    The thresholds and words every view uses (``tools.signals.expansion``): an
    opportunity listed here is one the account's hypotheses name too.
    """
    return signal_expansion_strength(frame)


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


def open_risks(scores: BookScores, frame: pd.DataFrame) -> list[str]:
    """Per row, the open risks that rule an account out as an expansion pick ("" if none),
    joined by "; ": flagged (or risk above the book's mean), risk language in the last 90
    days, a departed champion not yet replaced, a churn or contraction at a renewal in the
    last year.

    The one open-risk rule: the scoring job stores it with each account
    (``account_health.open_risk``), the list keeps such accounts out of its expansion
    picks, and the planner reads it from the health tool and refuses them growth plays
    (:mod:`keel.agents.selection`)."""

    def col(name: str) -> np.ndarray:
        if name not in frame.columns:
            return np.zeros(len(frame))
        return np.nan_to_num(frame[name].to_numpy(dtype=np.float64), nan=0.0)

    p = frame["p"].to_numpy(dtype=np.float64)
    mean = float(np.mean(p)) if len(p) else 0.0
    language = {
        label: col(RISK_PREFIX + label) for label in RISK_LABELS if RISK_PREFIX + label in frame
    }
    champions = col("champion_left")
    recent = _recent_losses(scores, frame)
    out: list[str] = []
    for i in range(len(frame)):
        mentioned = [k.replace("_", " ") for k, v in language.items() if v[i] > 0]
        reasons: list[str] = []
        if bool(frame["flagged"].iat[i]):
            reasons.append("flagged at risk")
        elif p[i] > mean:
            # One decimal when whole percents would read equal ("8% above the mean (8%)").
            spec = ".1%" if f"{p[i]:.0%}" == f"{mean:.0%}" else ".0%"
            reasons.append(f"risk {p[i]:{spec}} above the book's mean ({mean:{spec}})")
        # Every reason that holds, not only the first: the reviewer reads why a growth
        # play was withheld, and "flagged at risk" alone hides a budget cut said aloud.
        if mentioned:
            reasons.append(", ".join(mentioned) + " mentioned in the last 90 days")
        if champions[i] > 0:
            reasons.append("a champion left and is not yet replaced")
        if recent[i]:
            reasons.append(recent[i])
        out.append("; ".join(reasons))
    return out


def _recent_losses(scores: BookScores, frame: pd.DataFrame) -> list[str]:
    """Per row, why a contraction known by the date at a renewal less than RECENT_LOSS_DAYS
    ago (or still ahead), or a churn known and still ahead, is an open risk; "" when there
    is none."""
    ren = scores.book.renewals
    if ren.empty or frame.empty:
        return [""] * len(frame)
    today = int(frame["as_of"].max())
    outcome = ren["outcome"].astype(str).str.lower()
    known = ren["decided"].fillna(ren["renewal"]) if "decided" in ren else ren["renewal"]
    # A churn whose renewal has passed, on an account scored today, ended in a win-back:
    # only scored (active) accounts are in the frame, so it is history, not an open risk.
    # A churn still ahead (announced) and a recent contraction are.
    churn_ahead = (outcome == "churned") & (ren["renewal"] > today)
    lost = ren[
        (churn_ahead | (outcome == "contracted"))
        & (known <= today)
        & (ren["renewal"] > today - RECENT_LOSS_DAYS)
    ]
    last = lost.sort_values("renewal").groupby("account_id")["outcome"].last()
    return [
        f"{str(last[a]).lower()} at a recent renewal" if a in last.index else ""
        for a in frame["account_id"].tolist()
    ]


def rank_book(scores: BookScores) -> pd.DataFrame:
    """Every scored account with its flag, expected ARR loss, urgency, expansion strength and
    its place in the book's risk order (``risk_rank``: accounts needing attention first,
    then by expected ARR loss) and expansion order (``expansion_rank``, 0 when it is no
    expansion candidate: no signals, or an open risk)."""
    frame = scores.frame.copy()
    accounts = scores.book.accounts.set_index("account_id")
    rule = flag_rule(scores)
    flags = flag(frame["p"].to_numpy(dtype=np.float64), rule)
    frame["flagged"] = flags.any
    frame["flag"] = [flags.reason(i, rule) for i in range(len(frame))]
    frame["arr"] = book_arr(scores)
    frame["arr_at_risk"] = frame["p"] * frame["arr"]
    frame["urgency"] = urgency(frame["days_to_renewal"].to_numpy(dtype=np.float64))
    frame["owner"] = frame["account_id"].map(accounts["owner_csm"]).fillna("").astype(str)
    frame = frame.reset_index(drop=True)
    order = frame.sort_values(["flagged", "arr_at_risk", "p"], ascending=False, kind="stable").index
    frame.loc[order, "risk_rank"] = np.arange(1, len(frame) + 1)
    frame["risk_rank"] = frame["risk_rank"].astype(np.int64)
    # The list's sort key as one number, higher first: 1 + expected loss as a share of the
    # book's ARR for an account needing attention, the share alone for the others.
    total = float(frame["arr"].sum()) or 1.0
    frame["priority"] = frame["flagged"].astype(np.float64) + frame["arr_at_risk"] / total
    strength, reasons = expansion_strength(frame)
    frame["expansion"] = strength
    frame["expansion_reason"] = reasons
    frame["open_risk"] = open_risks(scores, frame)
    candidates = frame[(frame["open_risk"] == "") & (frame["expansion"] > 0)]
    best = candidates.sort_values(["expansion", "arr"], ascending=False).index
    frame["expansion_rank"] = 0
    frame.loc[best, "expansion_rank"] = np.arange(1, len(best) + 1)
    frame["expansion_rank"] = frame["expansion_rank"].astype(np.int64)
    return frame
