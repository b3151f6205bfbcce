"""Signals: point-in-time correctness, window arithmetic, the AI-product rule, missing channels."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert, update
from sqlalchemy.engine import Engine

from keel.memory.intel_tables import RiskLanguageMatch
from keel.memory.models import (
    Account,
    Contact,
    ContactRole,
    FeatureAdoption,
    Invoice,
    NpsResponse,
    ProductEventDaily,
    Renewal,
    RenewalOutcome,
    Ticket,
    UsageDaily,
)
from keel.tools.health.service import fit_on_history
from keel.tools.risk_language import PROTOTYPE_VERSION
from keel.tools.signals import WindowIndex, compute_signals, day_number, load_book
from tests.tools.minibook import START, build_minibook

AS_OF = START + dt.timedelta(days=330)


def _signals(engine: Engine, as_of: dt.date, **load: object) -> pd.DataFrame:
    book = load_book(engine, prototype_version=PROTOTYPE_VERSION, **load)  # type: ignore[arg-type]
    ids = book.accounts["account_id"].to_numpy()
    return compute_signals(book, ids, np.full(len(ids), day_number(as_of)))


def _add_future(engine: Engine, after: dt.date) -> None:
    """Rows dated after ``after`` in every table, for account 1 and a new account."""
    day = after + dt.timedelta(days=1)
    at = dt.datetime.combine(day, dt.time(9, tzinfo=dt.UTC))
    with engine.begin() as conn:
        conn.execute(
            insert(UsageDaily),
            [{"account_id": 1, "day": day + dt.timedelta(days=i), "active_users": 999,
              "sessions": 9999, "key_feature_events": 999, "outcome_count": 0,
              "outcome_quality": 0.1, "seats_purchased": 50, "seats_used": 1,
              "active_teams": 9} for i in range(30)],
        )  # fmt: skip
        conn.execute(
            insert(ProductEventDaily),
            [{"account_id": 1, "day": day, "event_name": "export", "n_events": 50}],
        )
        conn.execute(
            insert(Ticket),
            [{"external_id": "future-t", "account_id": 1, "opened_at": at,
              "priority": "URGENT", "category": "QUALITY", "status": "OPEN",
              "subject": "Broken, unacceptable", "body": "terrible", "csat": 1}],
        )  # fmt: skip
        conn.execute(
            insert(NpsResponse),
            [{"external_id": "future-n", "account_id": 1, "responded_on": day, "score": 0,
              "comment": ""}],
        )  # fmt: skip
        conn.execute(
            insert(Invoice),
            [{"external_id": "future-i", "account_id": 1, "issued_on": day,
              "due_on": day + dt.timedelta(days=5), "amount": 10.0, "status": "FAILED",
              "paid_on": None}],
        )  # fmt: skip
        conn.execute(
            insert(FeatureAdoption),
            [{"external_id": "future-f", "account_id": 1, "feature": "new-thing", "day": day,
              "users": 1}],
        )  # fmt: skip
        # The pending renewal's outcome becomes known after the date (renewal dates
        # themselves are contract terms, known in advance).
        conn.execute(
            update(Renewal)
            .where(Renewal.account_id == 1, Renewal.outcome == RenewalOutcome.PENDING)  # type: ignore[arg-type]
            .values(outcome=RenewalOutcome.CHURNED, decided_on=day, arr_after=0.0)
        )
        conn.execute(
            insert(RiskLanguageMatch),
            [{"source_kind": "note", "source_id": 1, "external_id": "n-future",
              "account_id": 1, "day": day, "label": "budget_cut", "score": 0.9,
              "snippet": "budget cut", "prototype_version": PROTOTYPE_VERSION}],
        )  # fmt: skip
        # A champion leaves after the date; a new account starts after it.
        conn.execute(
            update(Contact)
            .where(Contact.account_id == 1, Contact.role == ContactRole.CHAMPION)  # type: ignore[arg-type]
            .values(left_on=day, left_company=True)
        )
        conn.execute(
            insert(Account),
            [{"external_id": "late-joiner", "name": "Late Joiner", "segment": "SMB",
              "arr": 5.0, "pricing_model": "SEAT", "created_on": day, "owner_csm": "x",
              "lifecycle_stage": "ONBOARDING", "plan": "", "industry": "", "region": "",
              "outcome_unit": ""}],
        )  # fmt: skip


@pytest.fixture()
def small_book(engine: Engine) -> Engine:
    # The data ends on AS_OF; the test then adds rows dated after it.
    build_minibook(engine, n_healthy=16, n_decline=10, n_ai=3, days=331)
    return engine


def test_future_data_changes_no_past_signal_or_score(small_book: Engine) -> None:
    before = _signals(small_book, AS_OF)
    model = fit_on_history(
        load_book(small_book, until=AS_OF), as_of=AS_OF, horizon_days=90, calibrate=False
    )
    p_before = model.predict(before)

    _add_future(small_book, AS_OF)
    after = _signals(small_book, AS_OF)
    new = after[~after["account_id"].isin(before["account_id"])]
    assert len(new) == 1 and not bool(new["exists"].iloc[0])  # the late joiner
    after = after[after["account_id"].isin(before["account_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)
    refit = fit_on_history(
        load_book(small_book, until=AS_OF), as_of=AS_OF, horizon_days=90, calibrate=False
    )
    np.testing.assert_allclose(refit.predict(after), p_before, rtol=0, atol=1e-12)


def test_loading_only_what_a_date_needs_gives_the_same_signals(small_book: Engine) -> None:
    full = _signals(small_book, AS_OF)
    windowed = _signals(small_book, AS_OF, until=AS_OF, since=AS_OF)
    pd.testing.assert_frame_equal(full, windowed)


def test_ticket_is_open_until_it_is_closed(engine: Engine) -> None:
    build_minibook(engine, n_healthy=0, n_decline=0, n_ai=0, probes={"a": set()}, days=120)
    opened = START + dt.timedelta(days=60)
    with engine.begin() as conn:
        conn.execute(
            insert(Ticket),
            [{"external_id": "t-open", "account_id": 1,
              "opened_at": dt.datetime.combine(opened, dt.time(9, tzinfo=dt.UTC)),
              "closed_at": dt.datetime.combine(opened + dt.timedelta(days=10),
                                               dt.time(9, tzinfo=dt.UTC)),
              "priority": "HIGH", "category": "BUG", "status": "CLOSED",
              "subject": "", "body": "", "csat": 1}],
        )  # fmt: skip
    book = load_book(engine)

    def at(days: int) -> pd.Series:
        return compute_signals(book, [1], [day_number(opened) + days]).iloc[0]

    assert at(-1)["open_high_priority"] == 0
    assert at(0)["open_high_priority"] == 1
    assert at(9)["open_high_priority"] == 1
    assert at(10)["open_high_priority"] == 0
    # Its CSAT of 1 is known only once the ticket is closed (the probe's others rate 5).
    before, after = at(9)["csat"], at(10)["csat"]
    assert np.isnan(before) or before == 5.0
    assert after < 5.0


def test_payment_problems_are_known_on_the_due_date(engine: Engine) -> None:
    build_minibook(engine, n_healthy=0, n_decline=0, n_ai=0, probes={"a": set()}, days=200)
    due = START + dt.timedelta(days=150)
    with engine.begin() as conn:
        conn.execute(
            insert(Invoice),
            [{"external_id": "late", "account_id": 1, "issued_on": due - dt.timedelta(30),
              "due_on": due, "amount": 5.0, "status": "PAID",
              "paid_on": due + dt.timedelta(days=20)}],
        )  # fmt: skip
    book = load_book(engine)
    rows = compute_signals(book, [1, 1, 1], [day_number(due) + d for d in (0, 1, 25)])
    assert rows["payment_problems"].tolist() == [0.0, 1.0, 1.0]
    assert rows["overdue_invoices"].tolist() == [0.0, 1.0, 0.0]


def test_a_champion_who_left_counts_until_someone_takes_over(engine: Engine) -> None:
    build_minibook(engine, n_healthy=0, n_decline=0, n_ai=0, probes={"a": {"champion"}}, days=300)
    with engine.begin() as conn:
        left_on = conn.exec_driver_sql(
            "SELECT left_on FROM contact WHERE account_id = 1 AND role = 'CHAMPION'"
        ).scalar_one()
    left = dt.date.fromisoformat(str(left_on)[:10])
    named = left + dt.timedelta(days=40)
    with engine.begin() as conn:
        conn.execute(
            insert(Contact),
            [{"external_id": "c-new", "account_id": 1, "name": "New Champ",
              "email": "new.champ@example.com", "title": "", "role": "CHAMPION",
              "left_company": False, "left_on": None, "added_on": named}],
        )  # fmt: skip
    book = load_book(engine)
    offsets = (-1, 0, 39, 40, 60)
    rows = compute_signals(book, [1] * len(offsets), [day_number(left) + d for d in offsets])
    # Gone on the day they left; the gap is open until the new champion is named.
    assert rows["champion_left"].tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]
    assert rows["champion_present"].tolist() == [1.0, 0.0, 0.0, 1.0, 1.0]


def test_ai_product_rule_in_the_signals(engine: Engine) -> None:
    """Falling engagement with rising outcomes is not read as an engagement decline."""
    mb = build_minibook(
        engine,
        n_healthy=0,
        n_decline=0,
        n_ai=0,
        probes={"ai": {"ai"}, "decline": {"usage"}, "steady": set()},
    )
    book = load_book(engine)
    ids = [mb.ids["ai"], mb.ids["decline"], mb.ids["steady"]]
    end = book.usage["day"].max()
    sig = compute_signals(book, ids, [end] * 3).set_index("account_id")
    ai, decline = sig.loc[mb.ids["ai"]], sig.loc[mb.ids["decline"]]
    assert ai["usage_engagement_change"] < -0.05  # the raw decline is there
    assert ai["outcomes_holding"] == 1.0
    # ... but a decline counts only as far as outcomes fell (not at all: they rose), and
    # engagement levels are neutral (missing: they contribute nothing) while outcomes hold.
    assert ai["engagement_change"] == 0.0 and ai["seat_utilisation_change"] >= 0.0
    assert np.isnan(ai["active_users_level"]) and np.isnan(ai["seat_utilisation"])
    assert decline["outcomes_holding"] == 0.0
    # Engagement fell more than outcomes: the decline counts down to the outcome decline.
    assert decline["usage_engagement_change"] < decline["engagement_change"] < -0.05
    assert decline["engagement_change"] == pytest.approx(decline["outcome_change"])


def test_missing_channels_contribute_nothing(engine: Engine) -> None:
    """A book with usage and renewals only: no NPS, ticket or contact signal enters the model."""
    build_minibook(engine, n_healthy=30, n_decline=20, n_ai=0, text_scanned=False)
    with engine.begin() as conn:
        for table in ("ticket", "nps_response", "call_note", "invoice", "contact"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    book = load_book(engine)
    model = fit_on_history(book, as_of=book_end(book), horizon_days=180, calibrate=False)
    absent = {
        "nps",
        "nps_change",
        "csat",
        "ticket_sentiment",
        "tickets_recent",
        "open_high_priority",
        "payment_problems",
        "champion_present",
        "champion_days_since",
        "risk:budget_cut",
    }
    assert model.source == "fitted"
    assert not absent & set(model.features)
    assert "engagement_change" in model.features


def book_end(book: object) -> dt.date:
    from keel.tools.signals.windows import day_date

    return day_date(int(book.usage["day"].max()))  # type: ignore[attr-defined]


def test_window_index_sums_counts_and_last_day() -> None:
    index = WindowIndex([1, 1, 1, 2], [10, 12, 20, 11], {"x": [1.0, 2.0, 4.0, 8.0]})
    acc = np.array([1, 1, 2, 3])
    assert index.total("x", acc, np.array([9, 10, 0, 0]), np.array([12, 20, 30, 30])).tolist() == [
        3.0,
        6.0,
        8.0,
        0.0,
    ]
    assert index.count(acc, np.array([0, 0, 0, 0]), np.array([11, 11, 11, 11])).tolist() == [
        1.0,
        1.0,
        1.0,
        0.0,
    ]
    last = index.last_day(acc, np.array([15, 9, 30, 30]))
    assert last[0] == 12 and np.isnan(last[1]) and last[2] == 11 and np.isnan(last[3])
    first = index.first_day_after(acc, np.array([10, 20, 0, 0]))
    assert first[0] == 12 and np.isnan(first[1]) and first[2] == 11 and np.isnan(first[3])


def test_renewal_timing_bins_follow_days_to_renewal(small_book: Engine) -> None:
    from keel.tools.signals.catalog import renewal_timing_signal
    from keel.tools.signals.constants import RENEWAL_TIMING_BINS

    book = load_book(small_book)
    ids = book.accounts["account_id"].to_numpy()
    days = [day_number(AS_OF) - k for k in (0, 40, 120, 200, 300)]
    frame = compute_signals(book, np.repeat(ids, len(days)), np.tile(days, len(ids)))
    bins = RENEWAL_TIMING_BINS
    names = [renewal_timing_signal(lo, hi) for lo, hi in bins]
    dtr = frame["days_to_renewal"].to_numpy()
    assert np.isfinite(dtr).all()
    onehot = frame[names].to_numpy()
    # Exactly the bin holding days-to-renewal is set; beyond the last edge, none is.
    for row, d in zip(onehot, dtr, strict=True):
        expected = [1.0 if lo < d <= hi else 0.0 for lo, hi in bins]
        assert row.tolist() == expected, (d, row)
    assert (onehot.sum(axis=1) == 0).any() and (onehot.sum(axis=1) == 1).any()


def test_model_features_are_never_infinite(small_book: Engine) -> None:
    """Missing is NaN (it contributes nothing); +-inf would make a fit drop the column.

    Early dates give accounts with no baseline window and no history at all, the cases in
    which a log change or a ratio can blow up.
    """
    from keel.tools.signals.catalog import model_features

    book = load_book(small_book, prototype_version=PROTOTYPE_VERSION)
    ids = book.accounts["account_id"].to_numpy()
    for offset in (0, 1, 15, 40, 100, 330):
        frame = compute_signals(
            book, ids, np.full(len(ids), day_number(START + dt.timedelta(days=offset)))
        )
        for kind in ("multi_signal", "usage_only"):
            for column in model_features(list(frame.columns), kind=kind):
                values = frame[column].to_numpy(dtype=np.float64)
                assert not np.isinf(values).any(), f"{column} is infinite at day {offset}"
