"""Expansion signals: the one threshold set every view reads.

``keel priorities`` (the expansion list), ``keel health --hypotheses`` and the analyst's
briefs (expansion hypotheses) call an account's seats "near the ceiling", its team growth
or adoption "fast", its outcome volume "near the contracted ceiling" and its notes
"expansion language" by these numbers and no others, so one view never names an
opportunity that another leaves out.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from keel.tools.signals.windows import FloatArray

# Seats in use of seats purchased (28-day mean) at which seats are near the ceiling.
SEATS_NEAR_CEILING = 0.9
# Active teams more than the prior quarter.
TEAM_GROWTH_MIN = 1.0
# New features first used in the last 90 days.
FAST_ADOPTION_MIN = 2.0
# Monthly outcome volume of the contracted ceiling (outcome-priced contracts).
OUTCOME_CEILING_NEAR = 0.85
# Records with expansion language (new teams, more seats, a new use case, budget
# approved, a rollout) in the last 90 days: one is worth a conversation.
EXPANSION_LANGUAGE_MIN = 1.0
# The signal column counting them (keel.tools.signals.compute).
EXPANSION_LANGUAGE_SIGNAL = "expansion_language"

# What a record's matched text must say to count as expansion language: the semantic
# match finds candidates, and a record counts (and is cited) only when it names growth:
# more or new seats, people, teams, sites or use cases, money approved for it, a rollout.
# Seats alone are not growth: a status line ("184 of 227 seats assigned", "we pay for 40
# seats") sits near the seat prototypes in meaning, and on the seeded demo book such
# lines made half the active accounts "say" expansion (49 of 100 in 90 days, 9 of the 13
# truly expansion-ready among them); with growth words required, 26 (7 of the 13).
EXPANSION_CUES = (
    r"\bmore\b|additional|\bextra\b|\bnew (?:team|studio|office|site|hub|region|countr|"
    r"department|group|division|business unit|use case|module|channel|market|hire|starter|"
    r"staff|people|user|agent)|\banother\b|\bsecond\b|\badd(?:s|ing|ed)?\b|expan|extend|"
    r"roll(?:ing|s)? (?:\w+ ){0,2}?out|rollout|launch|upgrade|\bgrow|headcount|hiring|"
    r"\bhires?\b|doubl|company-wide|group-wide|"
    r"across the (?:company|group|business|organi[sz]ation)|\bstandard\b|approv|signed off|"
    r"purchase order|budget for|funds|own (?:workspace|instance)|as well|\btoo\b|\bjoin|"
    r"phase two|next phase|to onboard|\bbring\b|start using|want\w* (?:to use|the|our|it)|"
    r"waiting for|(?:get|need) access|will need|on the platform|run on our|also handle|"
    r"\ball (?:\w+ ){0,2}(?:branches|sites|offices|regions|teams|subsidiaries)|"
    r"every (?:\w+ ){0,2}(?:team|subsidiary|site|office|region|branch)|"
    r"enterprise (?:tier|plan)|\bchannel\b"
)
_EXPANSION_CUE = re.compile(EXPANSION_CUES, re.IGNORECASE)


def says_expansion(text: str) -> bool:
    """Whether a matched text names growth (:data:`EXPANSION_CUES`)."""
    return bool(text) and _EXPANSION_CUE.search(text) is not None


# Where each strength reaches 1 (a strength is the signal's share of this, from its
# threshold on; 0 below the threshold).
_FULL = {"seats": 1.0, "teams": 2.0, "adoption": 3.0, "ceiling": 1.0, "language": 2.0}
_THRESHOLDS = {
    "seats": SEATS_NEAR_CEILING,
    "teams": TEAM_GROWTH_MIN,
    "adoption": FAST_ADOPTION_MIN,
    "ceiling": OUTCOME_CEILING_NEAR,
    "language": EXPANSION_LANGUAGE_MIN,
}
# The signal column each expansion term reads.
SIGNAL_OF: dict[str, str] = {
    "seats": "usage_seat_utilisation",
    "teams": "team_growth",
    "adoption": "adoption_velocity",
    "ceiling": "outcome_ceiling_use",
    "language": EXPANSION_LANGUAGE_SIGNAL,
}


def expansion_terms(
    *,
    seats: FloatArray,
    teams: FloatArray,
    adoption: FloatArray,
    ceiling: FloatArray,
    language: FloatArray | None = None,
) -> dict[str, FloatArray]:
    """Strength in (0, 1] of each expansion signal at or past its threshold, else 0.

    Args:
        seats: seat utilisation; teams: active-team growth; adoption: new features in 90
            days; ceiling: outcome volume as a share of the contracted ceiling (NaN: none);
            language: records with expansion language in 90 days (None: not read).
    """
    values = {"seats": seats, "teams": teams, "adoption": adoption, "ceiling": ceiling}
    if language is not None:
        values["language"] = language
    out: dict[str, FloatArray] = {}
    for key, raw in values.items():
        x = np.nan_to_num(np.asarray(raw, dtype=np.float64), nan=-np.inf)
        out[key] = np.where(x >= _THRESHOLDS[key], np.clip(x / _FULL[key], 0.0, 1.0), 0.0)
    return out


def _reason(key: str, value: float) -> str:
    if key == "seats":
        return f"seats near the ceiling: {value:.0%} of purchased seats in use"
    if key == "teams":
        return f"new teams invited: {value:+.1f} active teams vs the prior quarter"
    if key == "adoption":
        return f"fast adoption: {value:.0f} new features in 90 days"
    if key == "language":
        what = "record" if round(value) == 1 else "records"
        return f"expansion language: {value:.0f} {what} in 90 days"
    return f"outcome volume at {value:.0%} of the contracted ceiling"


def expansion_strength(frame: pd.DataFrame) -> tuple[FloatArray, list[str]]:
    """Strength of expansion signals per row of a signal frame (their sum) and its reason:
    each signal at or past its threshold in its own words, strongest first ("seats near
    the ceiling: 95% of purchased seats in use; expansion language: 1 record in 90 days")."""

    def col(name: str) -> FloatArray:
        if name not in frame.columns:
            return np.full(len(frame), np.nan)
        return frame[name].to_numpy(dtype=np.float64)

    values = {key: col(name) for key, name in SIGNAL_OF.items()}
    terms = expansion_terms(**values)
    keys = list(terms)
    stacked = np.vstack([terms[k] for k in keys])
    reasons: list[str] = []
    for i in range(stacked.shape[1]):
        # Stable: ties keep the order of SIGNAL_OF (seats first).
        order = sorted(range(len(keys)), key=lambda j: -stacked[j, i])
        held = [_reason(keys[j], float(values[keys[j]][i])) for j in order if stacked[j, i] > 0]
        reasons.append("; ".join(held))
    return stacked.sum(axis=0), reasons


def near_ceiling(key: str, value: float) -> bool:
    """Whether one account's expansion signal ``key`` is at or past its threshold."""
    return value == value and value >= _THRESHOLDS[key]


def seats_in_use(usage: pd.DataFrame, accounts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Seats in use and seats purchased per usage row, as the seat signals read them.

    An export's own seats-used column wins. Where a row has none, its active users stand
    for the seats in use (each active user holds a seat, so it is a floor on the seats
    assigned): a usage export with ``active_users`` and ``seats`` but no daily seats-used
    column still shows seats near the ceiling. Where a row has no seats purchased, the
    account's own ``seats_purchased`` serves, for rows in its current term only (the
    account's contract fields describe that term: an earlier term may have had other
    seats). A row with neither figure has no utilisation.

    Args:
        usage: usage rows (``account_id``, ``day``, ``active_users``, ``seats_used``,
            ``seats_purchased``), as ``keel.tools.signals.book.load_book`` reads them.
        accounts: the book's accounts (``account_id``, ``seats_purchased``,
            ``contract_start``), or None for usage rows alone.

    Returns:
        One row per usage row (same index): ``used``, ``bought`` (NaN where unknown) and
        ``derived`` (True where active users stood for seats used).
    """
    bought = usage["seats_purchased"].astype(float)
    if accounts is not None and len(accounts) and not usage.empty:
        acc = accounts.set_index("account_id")
        term_seats = usage["account_id"].map(acc["seats_purchased"]).astype(float)
        start = usage["account_id"].map(acc["contract_start"]).astype(float)
        in_term = start.isna() | (usage["day"].astype(float) >= start)
        bought = bought.fillna(term_seats.where(in_term))
    reported = usage["seats_used"].astype(float)
    derived = reported.isna() & usage["active_users"].notna()
    used = reported.where(~derived, usage["active_users"].astype(float))
    ok = used.notna() & bought.notna() & (bought > 0)
    return pd.DataFrame(
        {
            "used": used.where(ok),
            "bought": bought.where(ok),
            "derived": derived & ok,
        },
        index=usage.index,
    )
