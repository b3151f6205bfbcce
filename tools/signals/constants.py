"""Window lengths and thresholds of the signals, named once so loader and features agree."""

from __future__ import annotations

import itertools

# Usage and outcome levels: the last 28 days (four whole weeks, so weekday mix is stable).
RECENT_DAYS = 28
# Trend baseline: the 90 days before the recent window.
BASELINE_DAYS = 90
# Usage slope: least-squares slope of daily active users over the last 90 days.
SLOPE_DAYS = 90
# Tickets: volume over the last 30 days against the 90 before; sentiment and CSAT over 90.
TICKET_RECENT_DAYS = 30
SENTIMENT_DAYS = 90
# Feature adoption velocity: new features in the last 90 days.
ADOPTION_VELOCITY_DAYS = 90
# NPS: mean over the last 180 days against the 180 before.
NPS_DAYS = 180
# A champion who left in the last 180 days.
CONTACT_LEFT_DAYS = 180
# Engagement recency is capped: "over a year ago" and "never" read the same.
RECENCY_CAP_DAYS = 365
# Late or failed payments over the last year.
PAYMENT_DAYS = 365
# Risk language counted over the last 90 days.
RISK_LANGUAGE_DAYS = 90
# Days to renewal are capped: beyond a year it carries no urgency.
RENEWAL_CAP_DAYS = 365

# "Outcomes are holding" (the AI-product rule): outcome volume has not fallen by more than
# 10% (log-ratio above -0.105) and outcome quality has not fallen by more than 0.05.
OUTCOME_HOLD_MIN_LOG_CHANGE = -0.105
OUTCOME_HOLD_MIN_QUALITY_CHANGE = -0.05

# Lifecycle stage derived as of a date (the account's stored stage is a snapshot of today).
ONBOARDING_DAYS = 90
RENEWAL_STAGE_DAYS = 90
# Renewal timing as bins (days to the next renewal): risk is not monotone in it. With
# annual contracts a churn or contraction is decided in the months before a renewal, so an
# account whose renewal is most of a year away rarely has an outcome within the horizon,
# and one whose renewal is days away has usually decided already. A linear term cannot
# express that hump; one indicator per bin can. Beyond the last edge is the reference.
RENEWAL_TIMING_EDGES: tuple[int, ...] = (0, 30, 90, 180, 270)
# The bins as (lo, hi] pairs, nearest first.
RENEWAL_TIMING_BINS: tuple[tuple[int, int], ...] = tuple(itertools.pairwise(RENEWAL_TIMING_EDGES))
ADOPTION_DAYS = 365

# How far back each table is read for a given earliest as-of date (the longest window that
# uses it, plus a day).
LOOKBACK_DAYS: dict[str, int] = {
    "usage": RECENT_DAYS + BASELINE_DAYS + 1,
    "events": RECENT_DAYS + BASELINE_DAYS + 1,
    # Tickets also date champion engagement (the requester), capped at a year.
    "tickets": max(2 * SENTIMENT_DAYS, RECENCY_CAP_DAYS) + 1,
    "notes": RECENCY_CAP_DAYS + 1,
    "nps": 2 * NPS_DAYS + 1,
    "invoices": PAYMENT_DAYS + 1,
    "risk": RISK_LANGUAGE_DAYS + 1,
}
