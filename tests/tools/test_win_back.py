"""An account that churned and came back is active again and scored; its churn stays history.

The book is imported through ``keel import``'s function from a billing export (periods
with a churn and a win-back, and with a gap of a few days between periods) and a daily
events export, then scored by the real scoring path.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from keel.memory.importers import import_path
from keel.tools.health.labels import churned_by
from keel.tools.health.service import active_panel, score_book
from keel.tools.signals import day_number, load_book

FIRST = dt.date(2023, 1, 1)
LAST = dt.date(2024, 6, 30)
PERIODS = {
    # Churned at the end of 2023, won back on 1 March 2024.
    "W-winback": [("2023-01-01", "2024-01-01"), ("2024-03-01", "2025-03-01")],
    # Four days without a period between two annual terms.
    "G-gap": [("2023-01-01", "2024-01-01"), ("2024-01-05", "2025-01-05")],
    # Churned for good.
    "C-gone": [("2023-01-01", "2024-01-01")],
    # Billed all along.
    "S-steady": [("2023-01-01", "2024-01-01"), ("2024-01-01", "2025-01-01")],
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Engine:
    """The same test on SQLite and (when configured) on PostgreSQL."""
    engine: Engine = request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")
    return engine


@pytest.fixture()
def book(store: Engine, tmp_path: Path) -> Engine:
    engine = store
    folder = tmp_path / "export"
    folder.mkdir()
    subs = ["account_id,product,start_date,end_date,mrr,quantity"]
    for account, periods in PERIODS.items():
        subs += [f"{account},pro,{start},{end},1000,10" for start, end in periods]
    events = ["account_id,event_date,event_type_name,n_events,n_users"]
    day = FIRST
    while day <= LAST:
        events += [f"{a},{day},login,{3 + day.day % 4},2" for a in PERIODS]
        day += dt.timedelta(days=1)
    (folder / "account.csv").write_text(
        "account_id,country\n" + "".join(f"{a},DE\n" for a in PERIODS), encoding="utf-8"
    )
    (folder / "subscription.csv").write_text("\n".join(subs) + "\n", encoding="utf-8")
    (folder / "event_daily.csv").write_text("\n".join(events) + "\n", encoding="utf-8")
    import_path(engine, folder)
    return engine


def _scored(engine: Engine, as_of: dt.date) -> set[str]:
    scores = score_book(engine, as_of=as_of)
    names = scores.book.accounts.set_index("account_id")["external_id"]
    return {str(names[a]) for a in scores.frame["account_id"]}


def test_an_account_billed_again_after_a_churn_is_scored(book: Engine) -> None:
    assert _scored(book, LAST) == {"W-winback", "G-gap", "S-steady"}


def test_the_return_is_point_in_time(book: Engine) -> None:
    # Between the churn and the win-back the account is churned; after a 4-day gap it is not.
    assert _scored(book, dt.date(2024, 2, 1)) == {"G-gap", "S-steady"}
    history = load_book(book)
    ids = history.accounts.set_index("external_id")["account_id"]
    acc = np.array([ids["W-winback"]] * 4 + [ids["G-gap"]] * 2, dtype=np.int64)
    days = np.array(
        [
            day_number(d)
            for d in (
                dt.date(2023, 12, 31),
                dt.date(2024, 1, 1),
                dt.date(2024, 2, 29),
                dt.date(2024, 3, 1),
                dt.date(2024, 1, 3),
                dt.date(2024, 1, 5),
            )
        ],
        dtype=np.int64,
    )
    assert churned_by(history, acc, days).tolist() == [False, True, True, False, True, False]


def test_the_earlier_churn_stays_in_history(book: Engine) -> None:
    history = load_book(book)
    ids = history.accounts.set_index("external_id")["account_id"]
    panel = active_panel(history, [dt.date(2023, 10, 1)], horizon_days=180)
    labels = {
        a: int(panel.loc[panel["account_id"] == ids[a], "y"].iloc[0])
        for a in ("W-winback", "G-gap")
    }
    # Both churns were real endings of a contract: positives for the cut before them.
    assert labels == {"W-winback": 1, "G-gap": 1}
    assert int(panel.loc[panel["account_id"] == ids["S-steady"], "y"].iloc[0]) == 0
