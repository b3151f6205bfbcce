"""Backtest metrics: AUC, top-decile lift, flag precision/recall, lead time, calibration."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, Field
from sklearn.metrics import roc_auc_score

from keel.tools.health.calibration import (
    ReliabilityBin,
    expected_calibration_error,
    reliability_table,
)
from keel.tools.health.flags import FlagRule, flag
from keel.tools.signals.windows import day_date

# Lead time counts the first flag within this many days before the event.
LEAD_LOOKBACK_DAYS = 365


class ModelMetrics(BaseModel):
    """How one model did on the scored rows."""

    kind: str
    n: int
    n_positive: int
    base_rate: float
    auc: float | None
    top_decile_lift: float | None
    top_decile_rate: float | None
    threshold: float
    flagged: int
    precision: float | None
    recall: float | None
    # The flag rule when flags are relative to the book as well (``keel.tools.health.flags``);
    # then the figures above are the rule's, and these the absolute threshold's alone.
    flag_rule: str | None = None
    flagged_absolute: int | None = None
    precision_absolute: float | None = None
    recall_absolute: float | None = None
    account_precision: float | None = None
    # The "risk-flag accuracy": of accounts flagged, the share that churned or
    # contracted at a renewal within a year of a flag (see ``flag_accuracy``).
    flag_accuracy: float | None = None
    flag_accuracy_accounts: int | None = None
    events: int | None = None
    events_flagged_before: int | None = None
    median_lead_days: float | None = None
    median_lead_to_decision_days: float | None = None
    share_flagged_90d_ahead: float | None = None
    ece: float | None
    reliability: list[ReliabilityBin] = Field(default_factory=list)


def add_flag_columns(scored: pd.DataFrame, kinds: Sequence[str], rule: FlagRule) -> None:
    """``flag_<kind>``: each row flagged by ``rule`` among the rows of its calendar month
    (a walk-forward cut, or observations dated that month: the book as it stood then)."""
    days = scored["as_of"].to_numpy(dtype=np.int64)
    months = {d: day_date(int(d)).year * 12 + day_date(int(d)).month for d in np.unique(days)}
    groups = np.array([months[d] for d in days], dtype=np.int64)
    for kind in kinds:
        scored["flag_" + kind] = flag(scored["p_" + kind], rule, groups=groups).any


def _none(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def auc(y: npt.ArrayLike, p: npt.ArrayLike) -> float | None:
    yy = np.asarray(y)
    if len(yy) == 0 or yy.min() == yy.max():
        return None
    return float(roc_auc_score(yy, np.asarray(p)))


def top_decile_positions(p: npt.ArrayLike) -> np.ndarray:
    """Positions of the 10% of rows scored riskiest (at least one; ties by row order)."""
    pp = np.asarray(p, dtype=float)
    k = max(math.ceil(0.1 * len(pp)), 1)
    return np.argsort(-pp, kind="stable")[:k]


def top_decile(y: npt.ArrayLike, p: npt.ArrayLike) -> tuple[float | None, float | None]:
    """(lift, rate) of the 10% of rows scored riskiest (ties broken by row order)."""
    yy = np.asarray(y, dtype=float)
    if len(yy) == 0 or yy.sum() == 0:
        return None, None
    top = top_decile_positions(p)
    rate = float(yy[top].mean())
    return rate / float(yy.mean()), rate


def flag_metrics(
    y: npt.ArrayLike, p: npt.ArrayLike, threshold: float, flags: npt.ArrayLike | None = None
) -> tuple[int, float | None, float | None]:
    """(flagged, precision, recall) of ``flags`` (default: ``p >= threshold``)."""
    yy = np.asarray(y, dtype=bool)
    flags = np.asarray(p) >= threshold if flags is None else np.asarray(flags, dtype=bool)
    flagged = int(flags.sum())
    precision = float(yy[flags].mean()) if flagged else None
    recall = float(flags[yy].mean()) if yy.any() else None
    return flagged, precision, recall


def lead_times(
    scored: pd.DataFrame,
    events: pd.DataFrame,
    *,
    p_column: str,
    threshold: float,
    min_event_day: int,
    lookback_days: int = LEAD_LOOKBACK_DAYS,
    to_column: str = "renewal",
    flag_column: str | None = None,
) -> tuple[int, int, list[int]]:
    """Days between the first flag and each churn or contraction.

    A flag counts only if it was raised before the outcome became known (``day``: the
    decision) and within ``lookback_days`` of the churn date.

    Args:
        scored: rows with ``account_id``, ``as_of`` (day) and the probability column.
        events: rows with ``account_id``, ``day`` (decision) and ``renewal`` (the churn or
            contraction date: the contract end).
        min_event_day: decisions before this day are skipped (too few scored cuts before).
        to_column: measure the lead to ``renewal`` (the churn date) or ``day`` (decision).
        flag_column: a boolean column of flags (default: ``p_column >= threshold``).

    Returns:
        (events considered, events flagged before their decision, lead times in days).
    """
    flagged = scored[_flagged(scored, p_column, threshold, flag_column)][["account_id", "as_of"]]
    considered = events[events["day"] >= min_event_day]
    if considered.empty:
        return 0, 0, []
    target = considered[to_column].fillna(considered["day"])
    frame = considered.assign(target=target).reset_index(names="event")
    merged = frame.merge(flagged, on="account_id", how="left")
    window = (merged["as_of"] < merged["day"]) & (
        merged["as_of"] >= merged["target"] - lookback_days
    )
    hits = merged[window]
    first = hits.groupby("event").agg(first=("as_of", "min"), target=("target", "first"))
    leads = (first["target"] - first["first"]).astype(int).tolist()
    return len(considered), len(first), leads


def _flagged(
    scored: pd.DataFrame, p_column: str, threshold: float, flag_column: str | None
) -> np.ndarray:
    if flag_column is not None:
        return scored[flag_column].to_numpy(dtype=bool)
    return (scored[p_column] >= threshold).to_numpy(dtype=bool)


def account_precision(
    scored: pd.DataFrame, *, p_column: str, threshold: float, flag_column: str | None = None
) -> float | None:
    """Of accounts flagged at least once, the share with a positive label at a flagged cut."""
    flagged = scored[_flagged(scored, p_column, threshold, flag_column)]
    if flagged.empty:
        return None
    return float(flagged.groupby("account_id")["y"].max().mean())


def flag_accuracy(
    scored: pd.DataFrame,
    events: pd.DataFrame,
    *,
    p_column: str,
    threshold: float,
    data_end_day: int,
    lookback_days: int = LEAD_LOOKBACK_DAYS,
    flag_column: str | None = None,
) -> tuple[int, float | None]:
    """Of accounts flagged, the share that churned or contracted after a flag.

    A flag at a cut is borne out when the account's churn or contraction became known
    after the cut (``day`` > cut) at a renewal within ``lookback_days`` of it: the same
    window in which lead time credits a flag, i.e. the renewal the flag warned about with
    annual contracts. A flag whose year has not passed by the end of the data and that
    nothing has borne out yet cannot be judged and is left out. An account counts as
    correctly flagged if any of its judged flags was borne out.

    Returns:
        (accounts judged, share borne out; None when no account could be judged).
    """
    flags = scored.loc[
        _flagged(scored, p_column, threshold, flag_column), ["account_id", "as_of"]
    ].reset_index(drop=True)
    if flags.empty:
        return 0, None
    pairs = flags.reset_index(names="flag").merge(
        events[["account_id", "day", "renewal"]], on="account_id", how="left"
    )
    target = pairs["renewal"].fillna(pairs["day"])
    borne = (pairs["day"] > pairs["as_of"]) & (target <= pairs["as_of"] + lookback_days)
    hit = borne.groupby(pairs["flag"]).any().reindex(flags.index, fill_value=False)
    judged = hit | (flags["as_of"] + lookback_days <= data_end_day)
    by_account = hit[judged].groupby(flags.loc[judged, "account_id"]).any()
    if by_account.empty:
        return 0, None
    return len(by_account), float(by_account.mean())


def model_metrics(
    kind: str,
    scored: pd.DataFrame,
    *,
    p_column: str,
    threshold: float,
    events: pd.DataFrame | None = None,
    min_event_day: int | None = None,
    data_end_day: int | None = None,
    flag_column: str | None = None,
    flag_rule: str | None = None,
) -> ModelMetrics:
    """All metrics of one model over ``scored`` rows (columns: account_id, as_of, y, p).

    Args:
        flag_column: a boolean column of flags (the book-relative rule); default flags are
            ``p >= threshold``, whose figures are then reported beside the rule's too.
        flag_rule: how ``flag_column`` was decided, for the report.
    """
    y = scored["y"].to_numpy()
    p = scored[p_column].to_numpy()
    lift, rate = top_decile(y, p)
    flags = _flagged(scored, p_column, threshold, flag_column)
    flagged, precision, recall = flag_metrics(y, p, threshold, flags)
    metrics = ModelMetrics(
        kind=kind,
        n=len(y),
        n_positive=int(y.sum()),
        base_rate=float(y.mean()) if len(y) else 0.0,
        auc=auc(y, p),
        top_decile_lift=lift,
        top_decile_rate=rate,
        threshold=threshold,
        flagged=flagged,
        precision=precision,
        recall=recall,
        account_precision=account_precision(
            scored, p_column=p_column, threshold=threshold, flag_column=flag_column
        ),
        ece=_none(expected_calibration_error(y, p)) if len(y) else None,
        reliability=reliability_table(y, p) if len(y) else [],
    )
    if flag_column is not None:
        metrics.flag_rule = flag_rule
        (
            metrics.flagged_absolute,
            metrics.precision_absolute,
            metrics.recall_absolute,
        ) = flag_metrics(y, p, threshold)
    if events is not None and min_event_day is not None:
        n_events, n_caught, leads = lead_times(
            scored,
            events,
            p_column=p_column,
            threshold=threshold,
            min_event_day=min_event_day,
            flag_column=flag_column,
        )
        metrics.events = n_events
        if data_end_day is not None:
            metrics.flag_accuracy_accounts, metrics.flag_accuracy = flag_accuracy(
                scored,
                events,
                p_column=p_column,
                threshold=threshold,
                data_end_day=data_end_day,
                flag_column=flag_column,
            )
        metrics.events_flagged_before = n_caught
        metrics.median_lead_days = float(np.median(leads)) if leads else None
        metrics.share_flagged_90d_ahead = (
            float(np.mean([d >= 90 for d in leads])) if leads else None
        )
        _, _, to_decision = lead_times(
            scored,
            events,
            p_column=p_column,
            threshold=threshold,
            min_event_day=min_event_day,
            to_column="day",
            flag_column=flag_column,
        )
        metrics.median_lead_to_decision_days = (
            float(np.median(to_decision)) if to_decision else None
        )
    return metrics
