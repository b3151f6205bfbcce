"""Expansion signals: the one threshold set every view reads.

``keel priorities`` (the expansion list), ``keel health --hypotheses`` and the analyst's
briefs (expansion hypotheses) call an account's seats "near the ceiling", its team growth
or adoption "fast", and its outcome volume "near the contracted ceiling" by these numbers
and no others, so one view never names an opportunity that another leaves out.
"""

from __future__ import annotations

import numpy as np

from keel.tools.signals.windows import FloatArray

# Seats in use of seats purchased (28-day mean) at which seats are near the ceiling.
SEATS_NEAR_CEILING = 0.9
# Active teams more than the prior quarter.
TEAM_GROWTH_MIN = 1.0
# New features first used in the last 90 days.
FAST_ADOPTION_MIN = 2.0
# Monthly outcome volume of the contracted ceiling (outcome-priced contracts).
OUTCOME_CEILING_NEAR = 0.85

# Where each strength reaches 1 (a strength is the signal's share of this, from its
# threshold on; 0 below the threshold).
_FULL = {"seats": 1.0, "teams": 2.0, "adoption": 3.0, "ceiling": 1.0}
_THRESHOLDS = {
    "seats": SEATS_NEAR_CEILING,
    "teams": TEAM_GROWTH_MIN,
    "adoption": FAST_ADOPTION_MIN,
    "ceiling": OUTCOME_CEILING_NEAR,
}


def expansion_terms(
    *, seats: FloatArray, teams: FloatArray, adoption: FloatArray, ceiling: FloatArray
) -> dict[str, FloatArray]:
    """Strength in (0, 1] of each expansion signal at or past its threshold, else 0.

    Args:
        seats: seat utilisation; teams: active-team growth; adoption: new features in 90
            days; ceiling: outcome volume as a share of the contracted ceiling (NaN: none).
    """
    values = {"seats": seats, "teams": teams, "adoption": adoption, "ceiling": ceiling}
    out: dict[str, FloatArray] = {}
    for key, raw in values.items():
        x = np.nan_to_num(np.asarray(raw, dtype=np.float64), nan=-np.inf)
        out[key] = np.where(x >= _THRESHOLDS[key], np.clip(x / _FULL[key], 0.0, 1.0), 0.0)
    return out


def near_ceiling(key: str, value: float) -> bool:
    """Whether one account's expansion signal ``key`` is at or past its threshold."""
    return value == value and value >= _THRESHOLDS[key]
