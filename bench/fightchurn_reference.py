"""The book's model, run here on the same data, beside Keel: scikit-learn, no Keel code.

The book ("Fighting Churn with Data", listing 9.5) fits an L1 logistic regression on the
28-day counts of the 8 events plus tenure, and reports the mean AUC over out-of-time
cross-validation (``TimeSeriesSplit(2)``) at the regularisation that scored best on those
same test folds. This module computes those features straight from the CSVs and scores
the model two ways, so that a gap between Keel and the book's published figure can be
read as model or as protocol:

* **the book's protocol**: as above (the test folds also choose C; training rows may end
  within a month of the test rows, before their labels could have been known);
* **Keel's protocol**: Keel's own out-of-time blocks, training only on observations whose
  label window had closed by the block's start, C chosen by cross-validation inside the
  training rows; pooled AUC and lift over the blocks, as Keel reports.

Run by ``bench/fightchurn.py``; not a test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

WINDOW_DAYS = 28
C_GRID: tuple[float, ...] = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64)
EPOCH = pd.Timestamp("2000-01-01")


@dataclass(frozen=True)
class ReferenceResult:
    label: str
    auc: float
    lift: float
    n: int = 0


def _days(values: pd.Series) -> np.ndarray:
    return np.asarray((pd.to_datetime(values) - EPOCH).dt.days, dtype=np.int64)


def book_features(data: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(log 28-day event counts + log tenure, labels, observation day) per observation."""
    obs = pd.read_csv(data / "observation.csv")
    obs_day = _days(obs["observation_date"])
    acc = obs["account_id"].to_numpy(np.int64)
    events = pd.read_csv(data / "event_daily.csv.gz", usecols=[0, 1, 2, 3])
    events["day"] = _days(events["event_date"])
    columns: dict[str, np.ndarray] = {}
    for name, rows in events.groupby("event_type_name"):
        key = rows["account_id"].to_numpy(np.int64) * 100_000 + rows["day"].to_numpy(np.int64)
        order = np.argsort(key)
        key = key[order]
        cum = np.concatenate(([0.0], np.cumsum(rows["n_events"].to_numpy(float)[order])))
        hi = np.searchsorted(key, acc * 100_000 + obs_day, side="right")
        lo = np.searchsorted(key, acc * 100_000 + obs_day - WINDOW_DAYS, side="right")
        columns[str(name)] = np.log1p(cum[hi] - cum[lo])
    subs = pd.read_csv(data / "subscription.csv")
    first = subs.assign(day=_days(subs["start_date"])).groupby("account_id")["day"].min()
    start = first.reindex(acc).to_numpy(dtype=float)
    columns["tenure"] = np.log1p(np.clip(obs_day - start, 0, None))
    x = pd.DataFrame(columns)
    return x, obs["is_churn"].to_numpy(np.int64), obs_day


def plain_features(data: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The plain baseline's features: every event's log 28-day count, log tenure, log MRR
    and renewal timing (log days to the end of the current term, and whether it ends
    within 35 days), per observation.

    MRR is the sum over the subscription rows in force on the observation date (plan and
    add-ons); the term is the one of the row in force that ends last. On a book with one
    monthly plan both are constant and the model ignores them.
    """
    x, y, day = book_features(data)
    obs = pd.read_csv(data / "observation.csv")
    subs = pd.read_csv(data / "subscription.csv")
    subs["s"] = _days(subs["start_date"])
    subs["e"] = _days(subs["end_date"].fillna("2999-01-01"))
    rows = obs[["account_id"]].assign(day=day, row=np.arange(len(obs)))
    joined = rows.merge(subs[["account_id", "s", "e", "mrr"]], on="account_id")
    live = joined[(joined["s"] <= joined["day"]) & (joined["day"] < joined["e"])]
    per_row = live.groupby("row").agg(mrr=("mrr", "sum"), term_end=("e", "max"))
    mrr = per_row["mrr"].reindex(range(len(obs))).to_numpy(dtype=float)
    to_end = (per_row["term_end"].reindex(range(len(obs))).to_numpy(dtype=float)) - day
    x = x.copy()
    x["mrr"] = np.log1p(np.nan_to_num(mrr))
    to_end = np.clip(np.nan_to_num(to_end, nan=0.0), 0, 365)
    x["days_to_renewal"] = np.log1p(to_end)
    x["renewal_within_35d"] = (to_end <= 35).astype(float)
    return x, y, day


def _lift(y: np.ndarray, p: np.ndarray) -> float:
    top = np.argsort(-p, kind="stable")[: max(1, len(p) // 10)]
    return float(y[top].mean() / y.mean())


def _l1_logistic() -> LogisticRegression:
    """L1 logistic regression, spelled for scikit-learn before and after 1.8."""
    major, minor = (int(v) for v in sklearn.__version__.split(".")[:2])
    if (major, minor) >= (1, 8):
        return LogisticRegression(l1_ratio=1.0, solver="liblinear", max_iter=1000)
    return LogisticRegression(penalty="l1", solver="liblinear", max_iter=1000)


def _model() -> GridSearchCV:
    pipe = make_pipeline(StandardScaler(), _l1_logistic())
    return GridSearchCV(
        pipe,
        {"logisticregression__C": list(C_GRID)},
        scoring="roc_auc",
        cv=TimeSeriesSplit(n_splits=2),
    )


def book_protocol(x: pd.DataFrame, y: np.ndarray, day: np.ndarray) -> ReferenceResult:
    """Mean test AUC of the best C over TimeSeriesSplit(2), as the book reports it."""
    order = np.argsort(day, kind="stable")
    search = _model().fit(x.iloc[order], y[order])
    best = int(search.best_index_)
    folds = [search.cv_results_[f"split{k}_test_score"][best] for k in range(2)]
    # Lift on the same folds, from refits at the chosen C.
    lifts = []
    for train, test in TimeSeriesSplit(n_splits=2).split(order):
        model = search.best_estimator_.fit(x.iloc[order[train]], y[order[train]])
        lifts.append(_lift(y[order[test]], model.predict_proba(x.iloc[order[test]])[:, 1]))
    return ReferenceResult(
        "book's protocol (TimeSeriesSplit(2), C picked on the test folds)",
        float(np.mean(folds)),
        float(np.mean(lifts)),
    )


def keel_protocol(
    x: pd.DataFrame,
    y: np.ndarray,
    day: np.ndarray,
    blocks: Sequence[tuple[dt.date, dt.date]],
    label_window_days: int,
    label: str = "Keel's protocol (Keel's blocks, known labels only, C by inner CV)",
) -> ReferenceResult:
    """Pooled AUC and lift over Keel's blocks, trained on labels known at each block start."""
    scores: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for start, end in blocks:
        lo = int((pd.Timestamp(start) - EPOCH).days)
        hi = int((pd.Timestamp(end) - EPOCH).days)
        known = np.flatnonzero(day + label_window_days <= lo)
        known = known[np.argsort(day[known], kind="stable")]
        test = np.flatnonzero((day >= lo) & (day <= hi))
        model = _model().fit(x.iloc[known], y[known]).best_estimator_
        scores.append(model.predict_proba(x.iloc[test])[:, 1])
        labels.append(y[test])
    p, yy = np.concatenate(scores), np.concatenate(labels)
    return ReferenceResult(
        label,
        float(roc_auc_score(yy, p)),
        _lift(yy, p),
        len(yy),
    )
