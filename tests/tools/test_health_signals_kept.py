"""What the health model keeps: every event type an export has, and real signals that only
look like copies because a small book has one account behind each (issue 20 item 4)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

from keel.tools.health.model import MIN_COPY_ACCOUNTS, fit_model
from keel.tools.signals.book import Book
from keel.tools.signals.compute import event_names_by_coverage

FITTED_ON = dt.date(2026, 1, 1)


def _small_book(n_accounts: int, hit: list[int], seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Monthly rows of ``n_accounts``; the accounts in ``hit`` carry two distinct risks
    (a budget cut said in a note, late invoices) at once, and churn."""
    rng = np.random.default_rng(seed)
    rows = 6
    acc = np.repeat(np.arange(n_accounts), rows)
    flagged = np.isin(acc, hit).astype(float)
    users = rng.normal(2.0, 0.5, len(acc))
    y = ((flagged == 1) | (rng.random(len(acc)) < 0.03)).astype(np.int64)
    frame = pd.DataFrame(
        {
            "account_id": acc,
            "segment": "smb",
            "stage": "mature",
            "active_users_level": users,
            "risk:budget_cut": flagged,
            "payment_problems": flagged * 2.0,
        }
    )
    return frame, y


FEATURES = ["active_users_level", "risk:budget_cut", "payment_problems"]


def _fit(frame: pd.DataFrame, y: np.ndarray) -> list[str]:
    model = fit_model(
        frame, y, kind="multi_signal", features=FEATURES, horizon_days=90, fitted_on=FITTED_ON
    )
    return model.features


def test_two_risks_on_the_same_single_account_are_both_kept() -> None:
    frame, y = _small_book(40, hit=[7])
    # Perfectly correlated on this book: before, the second was dropped as a copy.
    assert np.corrcoef(frame["risk:budget_cut"], frame["payment_problems"])[0, 1] > 0.999
    assert _fit(frame, y) == FEATURES


def test_a_copy_on_enough_accounts_is_still_left_out() -> None:
    hit = list(range(0, 2 * MIN_COPY_ACCOUNTS))
    frame, y = _small_book(400, hit=hit)
    assert _fit(frame, y) == ["active_users_level", "risk:budget_cut"]


def test_just_below_the_account_floor_both_stay() -> None:
    frame, y = _small_book(400, hit=list(range(MIN_COPY_ACCOUNTS - 1)))
    assert _fit(frame, y) == FEATURES


def _book_with_events(n_names: int) -> Book:
    empty = pd.DataFrame()
    rows = []
    for k in range(n_names):
        # Event k is used by n_names - k accounts: the rarest is used by one.
        for account in range(n_names - k):
            rows.append(
                {"account_id": account, "day": 100, "event_name": f"e{k:02d}", "n_events": 1}
            )
    return Book(
        accounts=empty,
        contacts=empty,
        usage=empty,
        events=pd.DataFrame(rows),
        features=empty,
        tickets=empty,
        notes=empty,
        invoices=empty,
        nps=empty,
        renewals=empty,
        risk_matches=empty,
    )


def test_every_event_type_is_read_not_the_most_common_twelve() -> None:
    book = _book_with_events(25)
    names = event_names_by_coverage(book)
    assert names == [f"e{k:02d}" for k in range(25)]  # most widely used first, all 25
    assert event_names_by_coverage(book, 3) == ["e00", "e01", "e02"]
    later = dataclasses.replace(book, events=book.events.assign(day=200))
    assert event_names_by_coverage(later, until_day=150) == []
