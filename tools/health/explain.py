"""Per-account explanations: each factor's contribution to the logit, in words and numbers.

A signal's contribution is its effective weight (pooled + segment + stage deviations) times
its standardised value; a factor adds up its signals. The baseline is the intercept plus
the segment and stage intercepts. ``baseline + sum(factor contributions) == logit``
exactly, and ``probability == sigmoid(logit)``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from keel.tools.health.model import HealthModel
from keel.tools.signals.catalog import (
    EVENT_PREFIX,
    FACTOR_LABELS,
    INDICATOR,
    LOG_COUNT,
    RAW_EVENT_PREFIX,
    spec_for,
)

# A factor moving the logit by less than this is reported as neutral.
NEUTRAL_LOGIT = 0.05
# A model fitted longer ago than this is flagged stale.
STALE_AFTER_DAYS = 90
# A recent calibration error above this is flagged.
STALE_ECE = 0.10
# Factors whose volume counts (users, sessions, outcomes, events) grow with the account's
# size: a large account's counts sit far above the book's typical value whatever its health.
SIZE_SCALED_FACTORS = frozenset({"engagement", "outcomes", "product_events"})
# What a size-scaled count lowering the risk is said to be: the account's size, not health.
SIZE_NOTE = "reflects account size"
# What a signal read against its documented direction is said to be (see ``contrary``).
CONTRARY_NOTE = "weighed this way by this book's history"


class SignalContribution(BaseModel):
    name: str
    label: str
    value: float | None
    display: str
    # The training mean as displayed: the value that contributes nothing (None for yes/no).
    typical: str | None = None
    z: float
    weight: float
    contribution: float


class FactorContribution(BaseModel):
    factor: str
    label: str
    contribution: float
    direction: Literal["raises risk", "lowers risk", "neutral"]
    text: str
    signals: list[SignalContribution] = Field(default_factory=list)

    def acting(self) -> float:
        """The contribution of the signals read in their documented direction (see
        :func:`contrary`): what a claim or a reason about this factor may rest on."""
        return sum(s.contribution for s in self.signals if not contrary(s))


class ModelInfo(BaseModel):
    """What the score rests on, so a stale or badly calibrated model is visible."""

    kind: str
    source: str
    horizon_days: int
    fitted_on: dt.date
    days_since_fit: int
    train_start: dt.date | None
    train_end: dt.date | None
    n_rows: int
    n_positive: int
    calibration_ece: float | None
    stale: bool
    note: str


class Explanation(BaseModel):
    account_id: int
    as_of: dt.date
    probability: float
    logit: float
    baseline: float
    factors: list[FactorContribution]
    model: ModelInfo
    summary: str

    def top_risk_factors(self, n: int = 2) -> list[FactorContribution]:
        """The factors raising risk most, strongest first."""
        risky = [f for f in self.factors if f.direction == "raises risk"]
        return sorted(risky, key=lambda f: -f.contribution)[:n]

    def actionable_risk_factors(self, n: int = 2) -> list[FactorContribution]:
        """The factors raising risk most through signals read in their documented direction
        (see :func:`contrary`), strongest first: what a claim or a reason may rest on."""
        acting = [(f.acting(), f) for f in self.factors]
        ranked = sorted(
            (r for r in acting if _direction(r[0]) == "raises risk"), key=lambda r: -r[0]
        )
        return [f for _, f in ranked][:n]


def model_info(model: HealthModel, as_of: dt.date) -> ModelInfo:
    """Age, source and recent calibration of ``model``, with a plain-words note."""
    age = (as_of - model.fitted_on).days
    ece = model.calibration.ece if model.calibration else None
    stale = age > STALE_AFTER_DAYS or (ece is not None and ece > STALE_ECE)
    if model.source == "prior":
        note = "default weights: too little labelled history to fit on yet"
    else:
        note = (
            f"fitted on {model.fitted_on} ({age} days ago) on {model.n_rows:,} monthly account "
            f"snapshots, {model.n_positive:,} of them followed by a churn or contraction within "
            f"{model.horizon_days} days"
        )
        if ece is not None:
            note += f"; calibration error on recent outcomes {ece:.3f}"
    if stale:
        note += " (stale: refit recommended)"
    return ModelInfo(
        kind=model.kind,
        source=model.source,
        horizon_days=model.horizon_days,
        fitted_on=model.fitted_on,
        days_since_fit=age,
        train_start=model.train_start,
        train_end=model.train_end,
        n_rows=model.n_rows,
        n_positive=model.n_positive,
        calibration_ece=ece,
        stale=stale,
        note=note,
    )


def _direction(value: float) -> Literal["raises risk", "lowers risk", "neutral"]:
    if value > NEUTRAL_LOGIT:
        return "raises risk"
    if value < -NEUTRAL_LOGIT:
        return "lowers risk"
    return "neutral"


def size_scaled(signal: SignalContribution) -> bool:
    """Whether the signal is a raw count that grows with the account's size (active users,
    sessions, outcomes delivered, event counts), not a rate or a change."""
    spec = spec_for(signal.name)
    named_event = signal.name.startswith((EVENT_PREFIX, RAW_EVENT_PREFIX))
    return spec.fmt == LOG_COUNT and (spec.factor in SIZE_SCALED_FACTORS or named_event)


def _size_effect(signal: SignalContribution) -> bool:
    """A count above the book's typical value lowering the risk: what the model reads there
    is mostly how large the account is, so it is said as that, never as a sign of health."""
    return size_scaled(signal) and signal.contribution < 0 and signal.z > 0


def _phrase(signal: SignalContribution) -> str:
    """How a signal reads in a reason: an indicator that is on is just its label
    ("renewal in 91-180 days"); anything else is label and value, with the book's typical
    value beside it when they differ ("features adopted 17, typical 22"), since a number
    alone does not say why it moves the risk. A large account's counts lowering its risk
    say so ("outcomes delivered (28 days) 66,234, typical 4,269 (reflects account size)")."""
    if signal.display == "yes":
        return signal.label
    if signal.display == "no":
        return f"{signal.label}: no"
    size = f" ({SIZE_NOTE})" if _size_effect(signal) else ""
    if signal.typical is not None and signal.typical != signal.display:
        return f"{signal.label} {signal.display}, typical {signal.typical}{size}"
    return f"{signal.label} {signal.display}{size}"


def _factor_text(label: str, contribution: float, signals: list[SignalContribution]) -> str:
    """ "Outcomes (outcome quality change -0.20, typical +0.00) raises risk (+0.50 logit);
    outcome volume change +4%, typical +1% lowers it".

    The signals named beside the verb move the risk the way the factor does, read in their
    documented direction first (a weight the book's history turned around is named only
    when nothing else moves the factor, and then says so), so a rise never reads as the
    reason for a drop; the strongest documented signal pulling the other way follows,
    named as doing so.
    """
    verb = _direction(contribution)
    sign = -1.0 if contribution < 0 else 1.0
    readable = [s for s in signals if s.display != "no data"]
    if verb == "neutral":
        shown = sorted(readable, key=lambda s: -abs(s.contribution))[:2]
        against = None
    else:
        pushing = sorted(
            (s for s in readable if sign * s.contribution > 0), key=lambda s: -sign * s.contribution
        )
        documented = [s for s in pushing if not contrary(s)]
        shown = documented[:2] or pushing[:1]
        opposing = [
            s
            for s in readable
            if -sign * s.contribution > NEUTRAL_LOGIT and not contrary(s) and s.display != "no"
        ]
        against = min(opposing, key=lambda s: sign * s.contribution, default=None)
    detail = ", ".join(
        _phrase(s) + (f" ({CONTRARY_NOTE})" if contrary(s) and verb != "neutral" else "")
        for s in shown
    )
    detail = f" ({detail})" if detail else ""
    text = f"{label}{detail} {verb} ({contribution:+.2f} logit)"
    if against is not None:
        text += f"; {_phrase(against)} {'lowers' if sign > 0 else 'raises'} it"
    return text


def explain_rows(
    model: HealthModel, frame: pd.DataFrame, as_of: dt.date | None = None
) -> list[Explanation]:
    """Explanations for every row of a signal frame (rows need ``account_id``, ``as_of``)."""
    contrib, base = model.contributions(frame)
    z = model.standardise(frame)
    w, _ = model.weights(frame)
    factors_of = [spec_for(f).factor for f in model.features]
    typical = [_typical(f, m) for f, m in zip(model.features, model.means, strict=True)]
    order = [f for f in FACTOR_LABELS if f != "baseline"]
    out: list[Explanation] = []
    values = {
        f: (
            frame[f].to_numpy(dtype=np.float64)
            if f in frame.columns
            else np.full(len(frame), np.nan)
        )
        for f in model.features
    }
    for i in range(len(frame)):
        row_date = as_of or _row_date(frame, i)
        by_factor: dict[str, list[SignalContribution]] = {}
        for j, name in enumerate(model.features):
            spec = spec_for(name)
            raw = float(values[name][i])
            by_factor.setdefault(factors_of[j], []).append(
                SignalContribution(
                    name=name,
                    label=spec.label,
                    value=None if math.isnan(raw) else raw,
                    display=spec.format(raw),
                    typical=typical[j],
                    z=float(z[i, j]),
                    weight=float(w[i, j]),
                    contribution=float(contrib[i, j]),
                )
            )
        factors: list[FactorContribution] = []
        for key in order:
            signals = by_factor.get(key)
            if not signals:
                continue
            total = float(sum(s.contribution for s in signals))
            label = FACTOR_LABELS[key]
            factors.append(
                FactorContribution(
                    factor=key,
                    label=label,
                    contribution=total,
                    direction=_direction(total),
                    text=_factor_text(label, total, signals),
                    signals=signals,
                )
            )
        baseline = float(base[i])
        logit = baseline + sum(f.contribution for f in factors)
        p = 1.0 / (1.0 + math.exp(-logit))
        info = model_info(model, row_date)
        explanation = Explanation(
            account_id=int(frame["account_id"].iloc[i]),
            as_of=row_date,
            probability=p,
            logit=logit,
            baseline=baseline,
            factors=sorted(factors, key=lambda f: -abs(f.contribution)),
            model=info,
            summary="",
        )
        explanation.summary = _summary(explanation, model.horizon_days)
        out.append(explanation)
    return out


def _typical(name: str, mean: float) -> str | None:
    spec = spec_for(name)
    return None if spec.fmt == INDICATOR else spec.format(mean)


def _row_date(frame: pd.DataFrame, i: int) -> dt.date:
    from keel.tools.signals.windows import day_date

    return day_date(int(frame["as_of"].iloc[i]))


def _summary(explanation: Explanation, horizon_days: int) -> str:
    top = explanation.top_risk_factors(2)
    drivers = "; ".join(f.text for f in top) if top else "no factor raises risk"
    return (
        f"{explanation.probability:.0%} chance of churn or contraction within {horizon_days} "
        f"days (logit {explanation.logit:+.2f} = baseline {explanation.baseline:+.2f} + factors). "
        f"Main drivers: {drivers}."
    )


def one_line_reason(explanation: Explanation, *, shown: Collection[str] = ()) -> str:
    """A one-line reason from the strongest signals of the top explanation factors.

    Args:
        shown: signals the caller already shows in their own column (the priority list
            shows days to renewal): they are left out of the reason, which then names what
            is happening at the customer, unless nothing else raises the risk.
    """
    parts = _reason_parts(explanation, set(shown))
    if not parts and shown:
        parts = _reason_parts(explanation, set())
    if not parts:
        return "no single factor stands out; overall risk from the baseline"
    return "; ".join(parts[:2])


def contrary(signal: SignalContribution) -> bool:
    """Whether the fitted weight points against the signal's documented direction.

    The book's history can give such a weight (more features adopted read as more risk,
    where large accounts both adopt more and contract more often); it stays in the score
    and the full explanation, but "17 features adopted, typical 9" is no reason a CSM can
    act on, so a one-line reason or a risk hypothesis does not rest on it.
    """
    prior = spec_for(signal.name).prior
    return prior * signal.weight < 0


def _reason_parts(explanation: Explanation, skip: set[str]) -> list[str]:
    """Factors raising risk without the ``skip`` signals, strongest first, as reason parts."""
    ranked: list[tuple[float, str]] = []
    for factor in explanation.factors:
        kept = [s for s in factor.signals if s.name not in skip and not contrary(s)]
        total = sum(s.contribution for s in kept)
        if kept and _direction(total) == "raises risk":
            best = max(kept, key=lambda s: s.contribution)
            ranked.append((total, _phrase(best)))
    return [part for _, part in sorted(ranked, key=lambda r: -r[0])]
