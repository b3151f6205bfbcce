"""Outcome labels, activity and cut dates for fitting and backtesting on a book's own history.

An account is *positive* at a cut date if a renewal with outcome churned or contracted
became known (``decided_on``, else the renewal date) within (cut, cut + horizon]. Only
accounts active at the cut count: they existed, and no churn was known yet.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from keel.tools.signals.book import Book
from keel.tools.signals.windows import FloatArray, IntArray, WindowIndex, day_number

NEGATIVE_OUTCOMES: tuple[str, ...] = ("churned", "contracted")


def outcome_events(book: Book, outcomes: tuple[str, ...] = NEGATIVE_OUTCOMES) -> pd.DataFrame:
    """Renewals with one of ``outcomes``, dated when the outcome became known.

    Columns: account_id, day (decided, else renewal), outcome, renewal (day), external_id,
    arr_before, arr_after.
    """
    ren = book.renewals
    rows = ren[ren["outcome"].astype(str).isin(outcomes)].copy()
    rows["day"] = rows["decided"].fillna(rows["renewal"])
    return rows[
        ["account_id", "day", "outcome", "renewal", "external_id", "arr_before", "arr_after"]
    ].reset_index(drop=True)


def outcome_index(book: Book, outcomes: tuple[str, ...] = NEGATIVE_OUTCOMES) -> WindowIndex:
    """Renewals with one of ``outcomes`` by account, dated as :func:`outcome_events` does
    (cached on the book)."""
    key = "label_index:" + ",".join(outcomes)
    cached = book.cache.get(key)
    if isinstance(cached, WindowIndex):
        return cached
    events = outcome_events(book, outcomes)
    index = WindowIndex(events["account_id"].to_numpy(), events["day"].to_numpy(np.int64))
    book.cache[key] = index
    return index


def labels(book: Book, account_ids: IntArray, as_of: IntArray, horizon_days: int) -> IntArray:
    """1 where a churn or contraction became known within (as_of, as_of + horizon]."""
    hits = outcome_index(book, NEGATIVE_OUTCOMES).count(account_ids, as_of, as_of + horizon_days)
    return (hits > 0).astype(np.int64)


def next_event_day(book: Book, account_ids: IntArray, as_of: IntArray) -> FloatArray:
    """Day of the next churn or contraction after ``as_of`` (NaN when none)."""
    return outcome_index(book, NEGATIVE_OUTCOMES).first_day_after(account_ids, as_of)


def churned_by(book: Book, account_ids: IntArray, as_of: IntArray) -> np.ndarray:
    """Whether the account was churned on ``as_of``: a churn known by then, and no return.

    An account that churned and came back (billed again after the churned contract
    ended: a win-back, or a gap of a few days between billing periods) is active again
    from its return; the churn stays in its history (a label for earlier cuts). See
    :func:`churn_spans`.
    """
    starts, ends = churn_spans(book)
    # Day numbers are positive: (-1, as_of] is all of an account's history, and no other's.
    never = np.full(len(account_ids), -1, dtype=np.int64)
    return np.asarray(
        starts.count(account_ids, never, as_of) > ends.count(account_ids, never, as_of)
    )


def churn_spans(book: Book) -> tuple[WindowIndex, WindowIndex]:
    """When each churn began (known) and ended (the account's return), by account.

    A churn is in force from the day it became known until the first sign, dated after
    the churned contract's end (its renewal date), that the account is a customer again:
    an invoice issued (not void), a contract start (``Account.contract_start``: the start
    of the current run of billing periods), or a later renewal decided with an outcome
    other than churn (dated when decided). Each sign is dated when it happened, so as of
    an earlier date the account is still churned. Cached on the book.
    """
    cached = book.cache.get("churn_spans")
    if isinstance(cached, tuple):
        return cached
    churns = outcome_events(book, ("churned",))
    acc = churns["account_id"].to_numpy(np.int64)
    known = churns["day"].to_numpy(np.int64)
    back = _return_days(book, churns)
    # A return before the churn was even known leaves an empty span (never churned).
    ends = np.maximum(back, known)  # NaN (no return) stays NaN
    came_back = ~np.isnan(ends)
    spans = (WindowIndex(acc, known), WindowIndex(acc[came_back], ends[came_back]))
    book.cache["churn_spans"] = spans
    return spans


def _return_days(book: Book, churns: pd.DataFrame) -> FloatArray:
    """Per churn, the first day the account was a customer again (NaN: never, so far)."""
    if churns.empty:
        return np.zeros(0, dtype=np.float64)
    inv = book.invoices
    owed = inv[inv["status"].astype(str).str.lower() != "void"]
    accounts = book.accounts
    ren = book.renewals
    kept = ren[ren["decided"].notna() & ~ren["outcome"].astype(str).isin(("churned", "pending"))]
    # (account, day of the sign, day it must come after the churned contract's end by).
    signs = pd.concat(
        [
            pd.DataFrame(
                {"account_id": owed["account_id"], "day": owed["issued"], "ref": owed["issued"]}
            ),
            pd.DataFrame(
                {
                    "account_id": accounts["account_id"],
                    "day": accounts["contract_start"],
                    "ref": accounts["contract_start"],
                }
            ),
            pd.DataFrame(
                {"account_id": kept["account_id"], "day": kept["decided"], "ref": kept["renewal"]}
            ),
        ],
        ignore_index=True,
    ).dropna()
    events = churns[["account_id", "renewal", "day"]].reset_index(names="event")
    events["end"] = events["renewal"].fillna(events["day"])
    pairs = events.merge(signs, on="account_id", how="inner", suffixes=("", "_sign"))
    after = pairs[pairs["ref"] > pairs["end"]]
    first = after.groupby("event")["day_sign"].min()
    return first.reindex(range(len(churns))).to_numpy(dtype=np.float64)


def outcome_pending(book: Book, account_ids: IntArray, as_of: IntArray) -> np.ndarray:
    """Whether a churn or contraction was known by ``as_of`` but its renewal is still ahead.

    Such an account has nothing left to predict for that renewal: the customer has told
    us. Labelled panels (fitting, backtests) leave these rows out, as they leave out
    accounts whose churn is known; otherwise a decided contraction would count as a
    false alarm at every cut between the decision and the renewal, and as a lesson that
    bad signals mean no churn.
    """
    key = "pending_index"
    cached = book.cache.get(key)
    if not isinstance(cached, tuple):
        events = outcome_events(book)
        acc = events["account_id"].to_numpy(np.int64)
        known = events["day"].to_numpy(np.int64)
        ends = np.maximum(known, events["renewal"].fillna(events["day"]).to_numpy(np.int64))
        cached = (WindowIndex(acc, known), WindowIndex(acc, ends))
        book.cache[key] = cached
    by_known, by_end = cached
    never = np.full(len(account_ids), -(10**9), dtype=np.int64)
    known_by = by_known.count(account_ids, never, as_of)
    ended_by = by_end.count(account_ids, never, as_of)
    return np.asarray(known_by > ended_by)


def monthly_cuts(first: dt.date, last: dt.date) -> list[dt.date]:
    """The first day of every month in [first, last]."""
    cuts: list[dt.date] = []
    year, month = first.year, first.month
    if first.day != 1:
        month += 1
        if month > 12:
            year, month = year + 1, 1
    while True:
        cut = dt.date(year, month, 1)
        if cut > last:
            return cuts
        cuts.append(cut)
        month += 1
        if month > 12:
            year, month = year + 1, 1


def panel(book: Book, cuts: list[dt.date]) -> tuple[IntArray, IntArray]:
    """(account, cut day) pairs for every account at every cut (before activity filtering)."""
    ids = book.accounts["account_id"].to_numpy(np.int64)
    days = np.array([day_number(c) for c in cuts], dtype=np.int64)
    return np.tile(ids, len(days)), np.repeat(days, len(ids))
