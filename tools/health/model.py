"""The health model: regularised logistic regression with per-segment and per-stage weights.

Pooled weights are learnt on every row; each segment (smb, mid-market, enterprise), each
lifecycle stage (onboarding, adoption, mature, renewal) and each renewal window (the next
renewal within the horizon plus a quarter, or not) with enough history also gets a
deviation from the pooled weights. Deviations are fitted in the same L2-penalised problem
on interaction columns scaled by ``GROUP_SHRINK``, which multiplies their penalty by
``1 / GROUP_SHRINK**2``: this is hierarchical shrinkage toward the pooled weights, so a
small segment keeps (almost) the pooled model and a large one can differ.

Inputs are standardised with the training means and standard deviations (stored with the
model); a missing value is imputed at the mean, i.e. it contributes exactly nothing. A
signal that is constant in the training data, or that repeats one kept before it (see
``_duplicates``), is left out. The regularisation strength is chosen by grouped (by
account) cross-validated log loss, which also keeps the probabilities calibrated.

Books have few churns, so the fit shrinks toward the documented prior weights' direction
rather than toward zero: the prior score ``z . w0`` (``keel.tools.health.priors``) enters as one
column that is almost unpenalised, and each signal's own weight is an L2-shrunk deviation
from it. The effective pooled weight of signal ``j`` is ``a * w0_j + d_j``: with little
history the model is (a calibrated rescaling of) the prior, with plenty it follows the
data.

For one account in segment ``s``, stage ``t`` and renewal window ``r``::

    logit = intercept + b_s + b_t + b_r + sum_j (w_j + d_sj + d_tj + d_rj) * z_j

and the explanation lists each term, so the contributions add up to the logit exactly.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, Field
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GroupKFold

from keel.tools.health.calibration import ReliabilityBin
from keel.tools.health.priors import PRIOR_LOGIT_PER_SD, default_base_rate, logit
from keel.tools.signals.catalog import spec_for

DEFAULT_CS: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3)
DEFAULT_C = 0.1
GROUP_SHRINK = 0.5
# Choose C by the one-standard-error rule (see choose_c).
ONE_SE_RULE = True
# Standardised values are clipped so that no single outlying signal can dominate a score.
Z_CLIP = 3.0
# A segment or stage gets its own deviation only with this much history.
MIN_GROUP_ROWS = 200
MIN_GROUP_POSITIVES = 10
# The prior-score column is multiplied by this, so that L2 barely penalises its weight.
PRIOR_COLUMN_SCALE = 10.0
# Signals present (not missing) in fewer rows than this share are left out.
MIN_PRESENT_SHARE = 0.01
# A signal this correlated (positively) with one kept before it, in feature order, is a copy.
DUPLICATE_CORR = 0.995
# ... but only when both depart from their usual value for at least this many accounts: on a
# small book two real risks that happen to fall on the same one or two accounts (a budget
# cut and late invoices at one customer) correlate perfectly, and neither is a copy.
MIN_COPY_ACCOUNTS = 30
GROUP_COLUMNS = ("segment", "stage")
# Whether the next renewal falls within the horizon plus this slack (outcomes are often
# decided up to a quarter before the renewal date): a third grouping, because signals
# matter differently when the decision can happen within the horizon.
RENEWAL_WINDOW_SLACK_DAYS = 90


def group_keys(frame: pd.DataFrame, horizon_days: int) -> list[np.ndarray]:
    """Per-row group keys: segment, lifecycle stage and renewal window."""
    keys: list[np.ndarray] = []
    for column in GROUP_COLUMNS:
        if column in frame.columns:
            keys.append((column + ":" + frame[column].astype(str)).to_numpy())
    if "days_to_renewal" in frame.columns:
        days = frame["days_to_renewal"].to_numpy(dtype=np.float64)
        window = np.where(
            np.isnan(days),
            "renewal_window:unknown",
            np.where(
                days <= horizon_days + RENEWAL_WINDOW_SLACK_DAYS,
                "renewal_window:in",
                "renewal_window:out",
            ),
        )
        keys.append(window.astype(object))
    return keys


class Calibration(BaseModel):
    """How well the model's probabilities matched outcomes on the most recent labels."""

    ece: float
    n: int
    n_positive: int
    start: dt.date
    end: dt.date
    bins: list[ReliabilityBin] = Field(default_factory=list)


class HealthModel(BaseModel):
    """A fitted (or default) health model; JSON-serialisable for the model store."""

    kind: str
    horizon_days: int
    features: list[str]
    event_names: list[str] = Field(default_factory=list)
    means: list[float]
    scales: list[float]
    coef: list[float]
    intercept: float
    group_coef: dict[str, list[float]] = Field(default_factory=dict)
    group_intercept: dict[str, float] = Field(default_factory=dict)
    source: Literal["fitted", "prior"]
    C: float | None = None
    # Fitted weight of the documented prior direction (None: fitted without it).
    prior_scale: float | None = None
    fitted_on: dt.date
    train_start: dt.date | None = None
    train_end: dt.date | None = None
    n_rows: int = 0
    n_positive: int = 0
    calibration: Calibration | None = None
    threshold: float = 0.5

    def standardise(self, frame: pd.DataFrame) -> np.ndarray:
        """Standardised signal values (n x features), missing -> 0, clipped to +-Z_CLIP."""
        if not self.features:
            return np.zeros((len(frame), 0))
        cols = [
            frame[f].to_numpy(dtype=np.float64)
            if f in frame.columns
            else np.full(len(frame), np.nan)
            for f in self.features
        ]
        x = np.column_stack(cols)
        z = (x - np.asarray(self.means)) / np.asarray(self.scales)
        return np.clip(np.nan_to_num(z, nan=0.0), -Z_CLIP, Z_CLIP)

    def _groups(self, frame: pd.DataFrame) -> list[np.ndarray]:
        return group_keys(frame, self.horizon_days)

    def weights(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Per-row effective weights (n x features) and baselines (n)."""
        n = len(frame)
        w = np.tile(np.asarray(self.coef, dtype=np.float64), (n, 1))
        base = np.full(n, self.intercept, dtype=np.float64)
        for keys in self._groups(frame):
            for group, dev in self.group_coef.items():
                mask = keys == group
                if mask.any():
                    w[mask] += np.asarray(dev)
            for group, b in self.group_intercept.items():
                base[keys == group] += b
        return w, base

    def contributions(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Each signal's contribution to the logit (n x features) and the baseline (n)."""
        w, base = self.weights(frame)
        return self.standardise(frame) * w, base

    def logit(self, frame: pd.DataFrame) -> np.ndarray:
        contrib, base = self.contributions(frame)
        return base + contrib.sum(axis=1)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of churn or contraction within the horizon, per row."""
        return 1.0 / (1.0 + np.exp(-self.logit(frame)))


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        present = np.mean(~np.isnan(x), axis=0) if len(x) else np.zeros(x.shape[1])
        means = np.nan_to_num(np.nanmean(x, axis=0))
        scales = np.nan_to_num(np.nanstd(x, axis=0))
    return means, scales, present


def _standardisation(
    frame: pd.DataFrame, features: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Which feature columns are usable on ``frame``, their means and scales, their names."""
    x_all = (
        np.column_stack([frame[f].to_numpy(dtype=np.float64) for f in features])
        if features
        else np.zeros((len(frame), 0))
    )
    accounts = frame["account_id"].to_numpy() if "account_id" in frame.columns else None
    keep, means, scales = _usable(x_all, accounts)
    used = [f for f, k in zip(features, keep, strict=True) if k]
    return keep, means, scales, used


def _usable(
    x: np.ndarray, accounts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    means, scales, present = _stats(x)
    keep = (scales > 1e-9) & (present >= MIN_PRESENT_SHARE)
    scales = np.where(scales > 1e-9, scales, 1.0)
    return keep & ~_duplicates(x, means, scales, keep, accounts), means, scales


def _departing_accounts(column: np.ndarray, accounts: np.ndarray) -> int:
    """How many accounts have a row where ``column`` is off its most common value.

    For a sparse signal (champion left, late invoices, a rare event) the most common value
    is "nothing happened", so this counts the accounts it says something about.
    """
    ok = ~np.isnan(column)
    if not ok.any():
        return 0
    values, counts = np.unique(column[ok], return_counts=True)
    usual = values[int(np.argmax(counts))]
    return len(np.unique(accounts[ok][column[ok] != usual]))


def _duplicates(
    x: np.ndarray,
    means: np.ndarray,
    scales: np.ndarray,
    keep: np.ndarray,
    accounts: np.ndarray | None = None,
) -> np.ndarray:
    """Columns that repeat an earlier kept column (``correlation >= DUPLICATE_CORR``).

    Imports can derive one series several ways (a product-analytics export without session
    events gives sessions = active users = active days). A repeated signal adds nothing,
    yet under an L2 penalty k copies of it earn about k times its weight, and its
    documented prior counts k times. The first of the copies, in feature order, is kept.
    Opposites are not copies: "champion in place" and "champion left, not replaced" can
    mirror each other exactly in a small history, yet each is a different thing to show
    and carries its own prior. Nor is a signal a copy on evidence too thin to tell: both
    must depart from their usual value for at least ``MIN_COPY_ACCOUNTS`` accounts (rows
    when ``accounts`` is not given).
    """
    dup = np.zeros(x.shape[1], dtype=bool)
    cols = np.flatnonzero(keep)
    if len(cols) < 2 or len(x) < 3:
        return dup
    ids = np.arange(len(x)) if accounts is None else np.asarray(accounts)
    enough = np.array([_departing_accounts(x[:, c], ids) >= MIN_COPY_ACCOUNTS for c in cols])
    z = np.nan_to_num((x[:, cols] - means[cols]) / scales[cols])
    with np.errstate(all="ignore"):
        corr = np.nan_to_num(np.corrcoef(z, rowvar=False))
    kept: list[int] = []
    for i in range(len(cols)):
        if enough[i] and any(enough[j] and corr[i, j] >= DUPLICATE_CORR for j in kept):
            dup[cols[i]] = True
        else:
            kept.append(i)
    return dup


def _standardised_model(
    frame: pd.DataFrame,
    features: Sequence[str],
    *,
    kind: str,
    horizon_days: int,
    event_names: Sequence[str],
    **fields: object,
) -> HealthModel:
    """A model over ``frame``'s usable features, standardised on it, with zero weights."""
    keep, means, scales, used = _standardisation(frame, features)
    return HealthModel.model_validate(
        {
            "kind": kind,
            "horizon_days": horizon_days,
            "features": used,
            "event_names": list(event_names),
            "means": [float(v) for v in means[keep]],
            "scales": [float(v) for v in scales[keep]],
            "coef": [0.0] * len(used),
            **fields,
        }
    )


def _group_matrix(
    frame: pd.DataFrame, y: np.ndarray, *, horizon_days: int, min_rows: int, min_positives: int
) -> tuple[list[str], np.ndarray]:
    names: list[str] = []
    cols: list[np.ndarray] = []
    n = len(frame)
    for keys in group_keys(frame, horizon_days):
        for group in sorted(set(keys)):
            mask = keys == group
            rows, pos = int(mask.sum()), int(y[mask].sum())
            # A group that is (nearly) everyone adds nothing beyond the pooled weights.
            if (
                rows < min_rows
                or pos < min_positives
                or rows - pos < min_positives
                or rows > 0.95 * n
            ):
                continue
            names.append(group)
            cols.append(mask.astype(np.float64))
    return names, (np.column_stack(cols) if cols else np.zeros((n, 0)))


def _design(z: np.ndarray, g: np.ndarray, shrink: float) -> np.ndarray:
    parts = [z]
    for j in range(g.shape[1]):
        parts.append(z * g[:, [j]] * shrink)
    parts.append(g * shrink)
    return np.hstack(parts)


def _fit_lr(x: np.ndarray, y: np.ndarray, c: float) -> LogisticRegression:
    model = LogisticRegression(C=c, max_iter=1000, tol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y)
    return model


def choose_c(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    cs: Sequence[float] = DEFAULT_CS,
    *,
    one_se: bool = ONE_SE_RULE,
) -> float:
    """C by 3-fold cross-validated log loss, folds grouped by account.

    With ``one_se``, the smallest C (strongest regularisation) whose mean loss is within
    one standard error of the best: the usual guard against picking a C that only looks
    best by chance on a few churns.
    """
    n_groups = len(set(groups.tolist()))
    if n_groups < 3 or y.sum() < 6:
        return DEFAULT_C
    folds = list(GroupKFold(n_splits=3).split(x, y, groups))
    results: list[tuple[float, float, float]] = []
    for c in sorted(cs):
        losses = []
        for train, test in folds:
            if y[train].min() == y[train].max():
                continue
            model = _fit_lr(x[train], y[train], c)
            losses.append(log_loss(y[test], model.predict_proba(x[test])[:, 1], labels=[0, 1]))
        if losses:
            se = float(np.std(losses) / np.sqrt(len(losses)))
            results.append((c, float(np.mean(losses)), se))
    if not results:
        return DEFAULT_C
    best_c, best_loss, best_se = min(results, key=lambda r: r[1])
    if not one_se:
        return best_c
    return min(c for c, loss, _ in results if loss <= best_loss + best_se)


def fit_model(
    frame: pd.DataFrame,
    y: npt.ArrayLike,
    *,
    kind: str,
    features: Sequence[str],
    horizon_days: int,
    fitted_on: dt.date,
    event_names: Sequence[str] = (),
    c: float | None = None,
    cs: Sequence[float] = DEFAULT_CS,
    group_shrink: float = GROUP_SHRINK,
    min_group_rows: int = MIN_GROUP_ROWS,
    min_group_positives: int = MIN_GROUP_POSITIVES,
    account_column: str = "account_id",
    use_prior: bool = True,
) -> HealthModel:
    """Fit a health model on labelled rows of a signal frame.

    Args:
        frame: signal rows (with ``segment``, ``stage`` and ``account_id`` columns).
        y: 1 for a churn or contraction within the horizon, else 0.
        kind: ``multi_signal`` or ``usage_only`` (recorded; ``features`` decides).
        features: signal columns to use.
        horizon_days: the label horizon.
        fitted_on: the date the fit happens as of (only labels known then were used).
        event_names: the product-event names behind ``event:`` features.
        c: regularisation strength; chosen by cross-validation when ``None``.
        use_prior: shrink toward the documented prior direction rather than toward zero
            (see the module docstring); off, plain L2 toward zero.
    """
    yy = np.asarray(y, dtype=np.int64)
    model = _standardised_model(
        frame,
        features,
        kind=kind,
        horizon_days=horizon_days,
        event_names=event_names,
        intercept=logit(float(yy.mean()) if len(yy) else default_base_rate(horizon_days)),
        source="fitted",
        fitted_on=fitted_on,
        n_rows=len(yy),
        n_positive=int(yy.sum()),
    )
    used = model.features
    if len(yy) == 0 or yy.min() == yy.max():
        return model
    z = model.standardise(frame)
    group_names, g = _group_matrix(
        frame,
        yy,
        horizon_days=horizon_days,
        min_rows=min_group_rows,
        min_positives=min_group_positives,
    )
    design = _design(z, g, group_shrink)
    prior = np.asarray([spec_for(f).prior for f in used], dtype=np.float64)
    with_prior = use_prior and bool(np.any(prior != 0))
    if with_prior:
        # The prior score as one nearly unpenalised column: its fitted scale ``a`` sets how
        # far the documented direction is trusted; per-signal deviations stay shrunk.
        design = np.hstack([(z @ prior)[:, None] * PRIOR_COLUMN_SCALE, design])
    if c is None:
        accounts = (
            frame[account_column].to_numpy()
            if account_column in frame.columns
            else np.arange(len(yy))
        )
        c = choose_c(design, yy, accounts, cs)
    lr = _fit_lr(design, yy, c)
    w = lr.coef_[0]
    scale = 0.0
    if with_prior:
        scale, w = float(w[0]) * PRIOR_COLUMN_SCALE, w[1:]
    f = len(used)
    model.coef = [float(v) + scale * float(p0) for v, p0 in zip(w[:f], prior, strict=True)]
    model.prior_scale = scale if with_prior else None
    model.intercept = float(lr.intercept_[0])
    for j, group in enumerate(group_names):
        model.group_coef[group] = [float(v) * group_shrink for v in w[f * (j + 1) : f * (j + 2)]]
        model.group_intercept[group] = float(w[f * (len(group_names) + 1) + j]) * group_shrink
    model.C = float(c)
    return model


def prior_model(
    frame: pd.DataFrame,
    *,
    kind: str,
    features: Sequence[str],
    horizon_days: int,
    fitted_on: dt.date,
    event_names: Sequence[str] = (),
) -> HealthModel:
    """The default model (documented prior weights), standardised on ``frame``'s population.

    The prior direction is scaled so that one standard deviation of the prior score moves
    the log-odds by ``PRIOR_LOGIT_PER_SD`` (see ``keel.tools.health.priors``): a deliberately
    modest default that flags only accounts far out on several signals at once.
    """
    model = _standardised_model(
        frame,
        features,
        kind=kind,
        horizon_days=horizon_days,
        event_names=event_names,
        intercept=logit(default_base_rate(horizon_days)),
        source="prior",
        fitted_on=fitted_on,
    )
    model.coef = [spec_for(f).prior for f in model.features]
    score = model.standardise(frame) @ np.asarray(model.coef, dtype=np.float64)
    spread = float(np.std(score)) if len(score) else 0.0
    if spread > 1e-9:
        model.prior_scale = PRIOR_LOGIT_PER_SD / spread
        model.coef = [c * model.prior_scale for c in model.coef]
    return model
