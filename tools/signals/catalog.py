"""What each signal is: its readable name, the factor it belongs to, and how to word it.

Signals are grouped into *factors* (engagement, outcomes, support, ...): an explanation
adds the contributions of a factor's signals into one readable line. ``usage`` marks the
signals of the usage-only baseline (raw engagement, no outcome gating). ``prior`` is the
documented default weight (logit change per standard deviation of the signal) used when a
book has too little labelled history to fit on; see ``keel.tools.health.priors``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from keel.tools.signals.constants import RENEWAL_TIMING_BINS
from keel.tools.signals.expansion import EXPANSION_LANGUAGE_SIGNAL

FACTOR_LABELS: dict[str, str] = {
    "baseline": "Baseline",
    "engagement": "Engagement",
    "product_events": "Product event volumes",
    "outcomes": "Outcomes",
    "adoption": "Feature adoption",
    "seats": "Seat utilisation",
    "relationships": "Champion and sponsor",
    "support": "Support tickets",
    "sentiment": "Ticket sentiment and CSAT",
    "nps": "NPS",
    "billing": "Billing",
    "renewal": "Renewal",
    "tenure": "Tenure",
    "risk_language": "Risk language in notes and tickets",
    "expansion_language": "Expansion language in notes and tickets",
}

# Changes are modelled as log-ratios and shown as percentages.
LOG_PCT = "log_pct"
# Counts are modelled as log(1 + count) and shown as the count.
LOG_COUNT = "log_count"
# 0/1 indicators are shown as yes/no.
INDICATOR = "indicator"
EVENT_PREFIX = "event:"
RAW_EVENT_PREFIX = "usage_event:"
RISK_PREFIX = "risk:"
# Default weights of the renewal-timing bins, nearest first.
RENEWAL_TIMING_PRIORS: tuple[float, ...] = (0.1, 0.3, 0.3, 0.1)


def renewal_timing_signal(lo: int, hi: int) -> str:
    """Name of the indicator 'the next renewal is in (lo, hi] days'."""
    return f"renewal_in_{lo}_{hi}d"


@dataclass(frozen=True)
class SignalSpec:
    """One signal column.

    Attributes:
        name: column name in the signal frame.
        factor: key into :data:`FACTOR_LABELS`.
        label: readable name of the value, e.g. "active users (28-day mean)".
        fmt: how to print the raw value.
        usage: part of the usage-only baseline.
        multi: part of the multi-signal model.
        prior: default weight per standard deviation (positive = more risk).
    """

    name: str
    factor: str
    label: str
    fmt: str = "{:.2f}"
    usage: bool = False
    multi: bool = True
    prior: float = 0.0

    def format(self, value: float) -> str:
        text = self._format(value)
        # "-0%" and "+0.00" read as a change; a value that rounds to zero has no sign.
        if text[:1] in "+-" and not text.strip("+-0.,%"):
            return text[1:]
        return text

    def _format(self, value: float) -> str:
        if value != value:  # NaN
            return "no data"
        if self.fmt == LOG_PCT:
            return f"{math.expm1(value):+.0%}"
        if self.fmt == LOG_COUNT:
            count = math.expm1(value)
            whole = abs(count - round(count)) < 0.05
            return f"{count:.1f}" if abs(count) < 10 and not whole else f"{count:,.0f}"
        if self.fmt == INDICATOR:
            return "yes" if value >= 0.5 else "no"
        return self.fmt.format(value)


def _raw(name: str, factor: str, label: str, fmt: str = "{:.2f}", prior: float = 0.0) -> SignalSpec:
    """A raw-usage signal: in the usage-only baseline, not in the multi-signal model."""
    return SignalSpec(name, factor, label, fmt, usage=True, multi=False, prior=prior)


_SPECS: tuple[SignalSpec, ...] = (
    # Engagement as the multi-signal model reads it: neutral while outcomes hold (the
    # AI-product rule, see tools.signals.compute).
    SignalSpec(
        "active_users_level", "engagement", "active users (28-day mean)", LOG_COUNT, prior=-0.3
    ),
    SignalSpec("sessions_level", "engagement", "sessions (28 days)", LOG_COUNT, prior=-0.1),
    SignalSpec(
        "key_events_level", "engagement", "key-feature events (28 days)", LOG_COUNT, prior=-0.1
    ),
    SignalSpec("active_days", "engagement", "share of days active (28 days)", "{:.0%}", prior=-0.2),
    SignalSpec("engagement_change", "engagement", "engagement change", LOG_PCT, prior=-0.4),
    SignalSpec("engagement_slope", "engagement", "active-user slope per month", "{:+.0%}"),
    # The same, raw: the usage-only baseline.
    _raw("usage_active_users_level", "engagement", "active users", LOG_COUNT, prior=-0.3),
    _raw("usage_sessions_level", "engagement", "sessions", LOG_COUNT, prior=-0.1),
    _raw("usage_key_events_level", "engagement", "key events", LOG_COUNT, prior=-0.1),
    _raw("usage_active_days", "engagement", "share of days active", "{:.0%}", prior=-0.2),
    SignalSpec(
        "usage_engagement_change",
        "engagement",
        "engagement change",
        LOG_PCT,
        usage=True,
        multi=False,
        prior=-0.4,
    ),
    SignalSpec(
        "usage_engagement_slope",
        "engagement",
        "active-user slope",
        "{:+.0%}",
        usage=True,
        multi=False,
    ),
    SignalSpec("outcome_level", "outcomes", "outcomes delivered (28 days)", LOG_COUNT, prior=-0.1),
    SignalSpec("outcome_change", "outcomes", "outcome volume change", LOG_PCT, prior=-0.3),
    SignalSpec(
        "outcome_quality", "outcomes", "outcome quality (28-day mean)", "{:.2f}", prior=-0.2
    ),
    SignalSpec("quality_change", "outcomes", "outcome quality change", "{:+.2f}", prior=-0.3),
    # An expansion signal, shown and used for expansion hypotheses, not a risk input.
    SignalSpec(
        "outcome_ceiling_use",
        "outcomes",
        "share of contracted outcome volume",
        "{:.0%}",
        multi=False,
    ),
    SignalSpec("adoption_breadth", "adoption", "features adopted", "{:.0f}", prior=-0.1),
    SignalSpec(
        "adoption_velocity", "adoption", "features adopted in 90 days", "{:.0f}", prior=-0.1
    ),
    SignalSpec("seat_utilisation", "seats", "seat utilisation", "{:.0%}", prior=-0.2),
    SignalSpec(
        "seat_utilisation_change", "seats", "seat utilisation change", "{:+.0%}", prior=-0.2
    ),
    _raw("usage_seat_utilisation", "seats", "seat utilisation", "{:.0%}", prior=-0.2),
    _raw("usage_seat_utilisation_change", "seats", "seat utilisation change", "{:+.0%}"),
    SignalSpec("team_growth", "seats", "active teams change", "{:+.1f}"),
    SignalSpec("champion_present", "relationships", "champion in place", INDICATOR, prior=-0.2),
    SignalSpec(
        "champion_left",
        "relationships",
        "champions who left, not yet replaced (180 days)",
        "{:.0f}",
        prior=0.5,
    ),
    SignalSpec(
        "champion_days_since", "relationships", "days since champion engaged", "{:.0f}", prior=0.3
    ),
    SignalSpec(
        "sponsor_days_since", "relationships", "days since sponsor engaged", "{:.0f}", prior=0.2
    ),
    SignalSpec("tickets_recent", "support", "tickets in 30 days", LOG_COUNT, prior=0.1),
    SignalSpec("ticket_change", "support", "ticket volume change", LOG_PCT, prior=0.2),
    SignalSpec("open_high_priority", "support", "open high-priority tickets", "{:.0f}", prior=0.3),
    SignalSpec(
        "ticket_sentiment", "sentiment", "ticket sentiment (90 days)", "{:+.2f}", prior=-0.2
    ),
    SignalSpec("sentiment_change", "sentiment", "ticket sentiment change", "{:+.2f}", prior=-0.2),
    SignalSpec("csat", "sentiment", "CSAT (90 days)", "{:.1f}", prior=-0.2),
    SignalSpec("nps", "nps", "NPS score (180-day mean)", "{:.1f}", prior=-0.4),
    SignalSpec("nps_change", "nps", "NPS change", "{:+.1f}", prior=-0.2),
    SignalSpec(
        "payment_problems", "billing", "late or failed payments (12 months)", "{:.0f}", prior=0.3
    ),
    SignalSpec("overdue_invoices", "billing", "invoices overdue now", "{:.0f}", prior=0.3),
    SignalSpec("days_to_renewal", "renewal", "days to renewal", "{:.0f}", prior=-0.2),
    SignalSpec(
        "last_renewal_contracted", "renewal", "last renewal contracted", INDICATOR, prior=0.2
    ),
    # Renewal timing bins (tools.signals.constants.RENEWAL_TIMING_EDGES): outcomes are
    # decided in the months before a renewal, so risk rises as it nears, then falls once
    # the decision is usually made.
    *(
        SignalSpec(
            renewal_timing_signal(lo, hi),
            "renewal",
            f"renewal in {lo + 1}-{hi} days",
            INDICATOR,
            prior=prior,
        )
        for (lo, hi), prior in zip(RENEWAL_TIMING_BINS, RENEWAL_TIMING_PRIORS, strict=True)
    ),
    SignalSpec("tenure", "tenure", "tenure (days)", LOG_COUNT, prior=-0.1),
    # An expansion signal (tools.signals.expansion), shown and used for expansion picks and
    # hypotheses, not a risk input.
    SignalSpec(
        EXPANSION_LANGUAGE_SIGNAL,
        "expansion_language",
        "expansion language mentions (90 days)",
        "{:.0f}",
        multi=False,
    ),
)

RISK_LABELS: tuple[str, ...] = (
    "competitor_evaluation",
    "budget_cut",
    "reorg",
    "champion_leaving",
    "quality_complaint",
)

# When the next renewal falls: context for a score, shown on its own wherever renewal
# dates are (the priority list has a renewal column), not a reason in itself.
RENEWAL_TIMING_SIGNALS: frozenset[str] = frozenset(
    {"days_to_renewal", *(renewal_timing_signal(lo, hi) for lo, hi in RENEWAL_TIMING_BINS)}
)

SPECS: dict[str, SignalSpec] = {s.name: s for s in _SPECS}
for _label in RISK_LABELS:
    SPECS[RISK_PREFIX + _label] = SignalSpec(
        RISK_PREFIX + _label,
        "risk_language",
        f"{_label.replace('_', ' ')} mentions (90 days)",
        "{:.0f}",
        prior=0.4,
    )


def spec_for(name: str) -> SignalSpec:
    """The spec of a signal column, including per-event columns made up at run time."""
    if name in SPECS:
        return SPECS[name]
    if name.startswith(EVENT_PREFIX):
        event = name[len(EVENT_PREFIX) :]
        return SignalSpec(
            name, "product_events", f"'{event}' events (28 days)", LOG_COUNT, prior=-0.1
        )
    if name.startswith(RAW_EVENT_PREFIX):
        event = name[len(RAW_EVENT_PREFIX) :]
        return _raw(name, "product_events", f"'{event}' events (28 days)", LOG_COUNT, prior=-0.1)
    raise KeyError(name)


def model_features(columns: list[str], *, kind: str) -> list[str]:
    """The columns of a signal frame that a model of ``kind`` uses.

    Args:
        columns: the signal frame's columns.
        kind: ``multi_signal`` (everything CS can see, engagement gated by outcomes) or
            ``usage_only`` (raw engagement and product events only).
    """
    out: list[str] = []
    for name in columns:
        try:
            spec = spec_for(name)
        except KeyError:
            continue
        if (kind == "usage_only" and spec.usage) or (kind == "multi_signal" and spec.multi):
            out.append(name)
    if kind not in ("usage_only", "multi_signal"):
        raise ValueError(f"unknown model kind {kind!r}")
    return out
