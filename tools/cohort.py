"""Pattern match: "this account now resembles accounts that churned".

An account's *trajectory* is its signals at three points (60 and 30 days ago, and now),
centred on the book's median account as of the date and scaled by the population's
spread: how the account deviates from the typical account (a typical one is near zero).
A churned account contributes its trajectories ending 30, 60 and 90 days before its
churn became known (the run-up, when it looked like a churner but a CSM could still act),
from when it existed; only churns known by the as-of date count.

Similarity is ``a . b / max(|a|, |b|, m)^2`` for two deviation trajectories, with ``m``
the median size of the churned run-ups: 1 for the same pattern at the same strength,
lower as direction or strength differ (two near-typical trajectories are not alike), 0
for unrelated and negative for opposite patterns. Each churned account is represented by
its best-aligned trajectory.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel

from keel.tools.health.labels import outcome_events
from keel.tools.signals.book import Book
from keel.tools.signals.catalog import model_features, spec_for
from keel.tools.signals.compute import compute_signals, event_names_by_coverage
from keel.tools.signals.windows import day_date, day_number

TRAJECTORY_OFFSETS: tuple[int, ...] = (60, 30, 0)
# The last quarter before the decision: earlier, a churned account often still looked
# healthy, and every healthy account would "resemble" it.
ALIGN_DAYS_BEFORE_EVENT: tuple[int, ...] = (30, 60, 90)
# Context, not behaviour: left out of the trajectory.
EXCLUDED_FACTORS = ("renewal", "tenure")
DEFAULT_TOP = 3
MIN_SIMILARITY = 0.5


class SimilarAccount(BaseModel):
    """A churned account whose run-up resembles this account's recent trajectory."""

    account_id: int
    external_id: str
    name: str
    similarity: float
    outcome: str
    event_date: dt.date
    aligned_days_before_event: int


def _trajectory_features(columns: list[str]) -> list[str]:
    return [
        f
        for f in model_features(columns, kind="multi_signal")
        if spec_for(f).factor not in EXCLUDED_FACTORS
    ]


def _stack(frame: pd.DataFrame, features: list[str], n_points: int) -> np.ndarray:
    """(rows / n_points) x (features * n_points): consecutive rows are one trajectory."""
    values = frame[features].to_numpy(dtype=np.float64)
    return values.reshape(len(frame) // n_points, n_points * len(features))


def similar_churned(
    book: Book,
    account_ids: Sequence[int],
    as_of: dt.date,
    *,
    top: int = DEFAULT_TOP,
    min_similarity: float = MIN_SIMILARITY,
    outcomes: tuple[str, ...] = ("churned",),
) -> dict[int, list[SimilarAccount]]:
    """The churned accounts each of ``account_ids`` most resembles now.

    Args:
        book: history up to ``as_of`` (earlier churns and their run-ups must be loaded).
        outcomes: which outcomes count as "churned" (add ``contracted`` to widen).
    """
    today = day_number(as_of)
    events = outcome_events(book, outcomes)
    events = events[events["day"] <= today]
    targets = [int(a) for a in account_ids]
    if events.empty or not targets:
        return {a: [] for a in targets}
    names = event_names_by_coverage(book, until_day=today)
    k = len(TRAJECTORY_OFFSETS)
    # Reference trajectories: each churned account at each alignment.
    ref_acc, ref_day, ref_meta = [], [], []
    for account, day, outcome in zip(
        events["account_id"].tolist(),
        events["day"].tolist(),
        events["outcome"].tolist(),
        strict=True,
    ):
        for align in ALIGN_DAYS_BEFORE_EVENT:
            end = int(day) - align
            for offset in TRAJECTORY_OFFSETS:
                ref_acc.append(int(account))
                ref_day.append(end - offset)
            ref_meta.append((int(account), str(outcome), int(day), align))
    tgt_acc = [a for a in targets for _ in TRAJECTORY_OFFSETS]
    tgt_day = [today - o for _ in targets for o in TRAJECTORY_OFFSETS]
    population = book.accounts["account_id"].to_numpy(np.int64)
    frame = compute_signals(
        book,
        np.concatenate([ref_acc, tgt_acc, population]).astype(np.int64),
        np.concatenate([ref_day, tgt_day, np.full(len(population), today)]).astype(np.int64),
        event_names=names,
    )
    features = _trajectory_features(list(frame.columns))
    n_ref, n_tgt = len(ref_acc), len(tgt_acc)
    pop = frame.iloc[n_ref + n_tgt :]
    pop = pop[pop["exists"]]
    values = pop[features].to_numpy(dtype=np.float64)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing signals: dropped below
        mean = (
            np.nan_to_num(np.nanmedian(values, axis=0)) if len(values) else np.zeros(len(features))
        )
        std = np.nan_to_num(np.nanstd(values, axis=0)) if len(values) else np.ones(len(features))
    keep = std > 1e-9
    features = [f for f, k_ in zip(features, keep, strict=True) if k_]
    mean, std = mean[keep], std[keep]
    z = (frame[features].to_numpy(dtype=np.float64) - mean) / std
    z = np.clip(np.nan_to_num(z, nan=0.0), -5, 5)
    zf = pd.DataFrame(z, columns=features)
    ref = _stack(zf.iloc[:n_ref], features, k)
    tgt = _stack(zf.iloc[n_ref : n_ref + n_tgt], features, k)
    # A run-up window before the churned account existed says nothing: leave it out.
    existed = np.asarray(frame["exists"].to_numpy(bool)[:n_ref].reshape(-1, k).all(axis=1))
    ref_norm = np.linalg.norm(ref, axis=1)
    tgt_norm = np.linalg.norm(tgt, axis=1)
    # Two near-typical trajectories are not "the same pattern": strengths are measured
    # against at least the typical size of a churned run-up's deviation.
    typical = float(np.median(ref_norm[existed])) if existed.any() else 0.0
    info = book.accounts.set_index("account_id")
    out: dict[int, list[SimilarAccount]] = {}
    for i, account in enumerate(targets):
        denom = np.maximum(np.maximum(ref_norm, tgt_norm[i]), typical) ** 2
        sims = np.where(denom > 1e-9, (ref @ tgt[i]) / np.where(denom > 1e-9, denom, 1.0), 0.0)
        best: dict[int, tuple[float, int]] = {}
        for j, (ref_account, _outcome, _day, _align) in enumerate(ref_meta):
            if ref_account == account or not existed[j]:
                continue
            if ref_account not in best or sims[j] > best[ref_account][0]:
                best[ref_account] = (float(sims[j]), j)
        ranked = sorted(best.items(), key=lambda kv: -kv[1][0])[:top]
        out[account] = [
            SimilarAccount(
                account_id=ref_account,
                external_id=str(info.at[ref_account, "external_id"]),
                name=str(info.at[ref_account, "name"]),
                similarity=round(sim, 3),
                outcome=ref_meta[j][1],
                event_date=day_date(ref_meta[j][2]),
                aligned_days_before_event=ref_meta[j][3],
            )
            for ref_account, (sim, j) in ranked
            if sim >= min_similarity
        ]
    return out
