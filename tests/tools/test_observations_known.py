"""Out-of-time observation backtests train on every label already determined at a block start."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from keel.memory.models import Account, Renewal
from keel.tools.backtest import read_observations, run_backtest, score_observations
from keel.tools.backtest.observations import _blocks
from keel.tools.health.known import committed_until, decision_lead, known_labels
from keel.tools.health.labels import outcome_events
from keel.tools.signals import day_number
from keel.tools.signals.book import Book, load_book
from tests.tools.minibook import START, MiniBook, _insert, build_minibook, write_observations

D = dt.date
WINDOW = 31


def _book(engine: Engine, accounts: dict[str, tuple[dt.date, list[tuple]]]) -> tuple[Book, dict]:
    """Accounts (created, [(renewal date, outcome, decided on)]) written as minibook does."""
    account_rows, renewal_rows, ids = [], [], {}
    for aid, (ext, (created, renewals)) in enumerate(accounts.items(), start=1):
        ids[ext] = aid
        account_rows.append(
            {"id": aid, "external_id": ext, "name": ext, "arr": 1200.0, "created_on": created}
        )
        for k, (rdate, outcome, decided) in enumerate(renewals):
            renewal_rows.append(
                {
                    "external_id": f"r-{ext}-{k}",
                    "account_id": aid,
                    "renewal_date": rdate,
                    "outcome": outcome,
                    "decided_on": decided,
                    "arr_before": 1200.0,
                    "arr_after": 0.0 if outcome == "CHURNED" else None,
                }
            )
    _insert(engine, Account, account_rows)
    _insert(engine, Renewal, renewal_rows)
    return load_book(engine), ids


def _monthly(first: dt.date, outcomes: list[str], pending_after: int | None = None) -> list[tuple]:
    """Monthly renewals on ``first``'s day of month, each decided on its renewal date."""
    rows = []
    for k, outcome in enumerate(outcomes):
        month = first.month - 1 + k
        day = dt.date(first.year + month // 12, month % 12 + 1, first.day)
        pending = pending_after is not None and k >= pending_after
        rows.append((day, "PENDING" if pending else outcome, None if pending else day))
    return rows


def test_a_churned_account_is_committed_to_nothing(engine: Engine) -> None:
    """After a churn the account has no term, even if the book shows it coming back later."""
    book, ids = _book(
        engine,
        {
            # Churned Feb 15; subscribed again in June (its next period ends Jul 20).
            "back": (
                D(2020, 1, 1),
                [
                    (D(2020, 1, 15), "RENEWED", D(2020, 1, 15)),
                    (D(2020, 2, 15), "CHURNED", D(2020, 2, 15)),
                    (D(2020, 7, 20), "RENEWED", D(2020, 7, 20)),
                ],
            ),
        },
    )
    assert committed_until(book, day_number(D(2020, 3, 1))).empty
    known = _known(book, ids, [("back", D(2020, 2, 20))], D(2020, 3, 1), WINDOW)
    assert not known.known.any()


def _known(book: Book, ids: dict, rows: list[tuple[str, dt.date]], at: dt.date, window: int):
    acc = np.array([ids[ext] for ext, _ in rows], dtype=np.int64)
    days = np.array([day_number(d) for _, d in rows], dtype=np.int64)
    return known_labels(book, acc, days, window, day_number(at))


def test_monthly_renewals_make_labels_known_at_the_renewal(engine: Engine) -> None:
    """Five days before a monthly renewal, the label is known once the renewal is decided."""
    book, ids = _book(
        engine,
        {
            "renews": (D(2020, 1, 1), _monthly(D(2020, 1, 15), ["RENEWED"] * 5)),
            "churns": (D(2020, 1, 1), _monthly(D(2020, 1, 15), ["RENEWED", "CHURNED"])),
            # Its February renewal is overdue and undecided: nothing is known.
            "overdue": (D(2020, 1, 1), _monthly(D(2020, 1, 15), ["RENEWED"] * 4, 1)),
        },
    )
    rows = [("renews", D(2020, 2, 10)), ("churns", D(2020, 2, 10)), ("overdue", D(2020, 2, 10))]
    # Before the renewals on Feb 15 nothing is determined: neither outcome is decided.
    early = _known(book, ids, rows, D(2020, 2, 14), WINDOW)
    assert not early.known.any()
    # After them: the churn was observed, the renewal commits the account to Mar 15.
    later = _known(book, ids, rows, D(2020, 2, 20), WINDOW)
    assert later.observed.tolist() == [False, True, False]
    assert later.committed.tolist() == [True, False, False]
    assert later.known.tolist() == [True, True, False]
    assert not later.closed.any() and later.lead_days == 0
    # Once the window closes every label is known, whatever happened.
    closed = _known(book, ids, rows, D(2020, 3, 13), WINDOW)
    assert closed.closed.all() and closed.known.all()


def test_decisions_after_the_date_are_never_read(engine: Engine) -> None:
    """A churn decided after the block start neither marks a positive nor blocks commitment."""
    book, ids = _book(
        engine,
        {
            # Renewed Feb 15 (decided that day); churn of the Mar 15 renewal decided Mar 1.
            "notice": (
                D(2020, 1, 1),
                [
                    (D(2020, 2, 15), "RENEWED", D(2020, 2, 15)),
                    (D(2020, 3, 15), "CHURNED", D(2020, 3, 1)),
                ],
            ),
        },
    )
    rows = [("notice", D(2020, 2, 10))]
    # On Feb 20 the book has never seen a decision before its renewal date (lead 0): the
    # account looks committed to Mar 15, past the window end (Mar 12).
    feb = _known(book, ids, rows, D(2020, 2, 20), WINDOW)
    assert feb.lead_days == 0 and feb.committed.tolist() == [True]
    assert not feb.observed.any()
    # On Mar 2 the churn notice (inside the window) is known: a positive, observed.
    mar = _known(book, ids, rows, D(2020, 3, 2), WINDOW)
    assert mar.observed.tolist() == [True] and not mar.committed.any()
    assert mar.lead_days == 14


def test_a_decision_lead_seen_before_keeps_undetermined_rows_out(engine: Engine) -> None:
    """Churn notices can come early; a term ending soon after the window commits nothing."""
    annual = [
        (D(2020, 6, 1), "RENEWED", D(2020, 5, 20)),
        (D(2021, 6, 1), "CHURNED", D(2021, 3, 1)),
    ]
    book, ids = _book(
        engine,
        {
            "annual": (D(2019, 6, 1), annual),
            # Another account's churn, decided 100 days before its renewal, in 2020.
            "teacher": (D(2019, 1, 1), [(D(2020, 12, 1), "CHURNED", D(2020, 8, 23))]),
        },
    )
    rows = [("annual", D(2021, 2, 1)), ("annual", D(2020, 9, 1))]
    at = D(2021, 2, 15)
    assert decision_lead(book, day_number(at)) == 100
    known = _known(book, ids, rows, at, 60)
    # Feb 1 + 60 days = Apr 2, and Jun 1 - 100 days = Feb 21: the notice (Mar 1) could
    # still come inside the window, so the row is not known; the Sep 1 row's window closed.
    assert known.known.tolist() == [False, True]
    # Before the teacher's notice was known the lead came from renewals only (12 days),
    # and the annual account was committed well past a window starting in July.
    jul = _known(book, ids, [("annual", D(2020, 7, 15))], D(2020, 8, 1), 60)
    assert jul.lead_days == 12 and jul.committed.tolist() == [True]


def test_first_term_and_rows_after_the_date(engine: Engine) -> None:
    """A new account is committed to its first renewal; rows on or after the date never count."""
    book, ids = _book(
        engine,
        {
            "new": (D(2020, 1, 1), [(D(2021, 1, 1), "PENDING", None)]),
            "later": (D(2020, 6, 1), [(D(2021, 6, 1), "PENDING", None)]),
        },
    )
    until = committed_until(book, day_number(D(2020, 3, 1)))
    assert until.to_dict() == {ids["new"]: day_number(D(2021, 1, 1))}
    rows = [("new", D(2020, 2, 1)), ("new", D(2020, 3, 1)), ("later", D(2020, 2, 1))]
    known = _known(book, ids, rows, D(2020, 3, 1), WINDOW)
    assert known.known.tolist() == [True, False, False]


def _label_as_of(events: dict[int, np.ndarray], account: int, as_of: int, end: int) -> int:
    """What the book says about one label using only outcome events dated <= ``end``."""
    mine = events.get(account, np.array([], dtype=np.int64))
    return int(((mine > as_of) & (mine <= end)).any())


@pytest.fixture()
def mini(engine: Engine) -> MiniBook:
    return build_minibook(engine, n_healthy=40, n_decline=30, n_ai=0)


def test_known_labels_never_change_afterwards_on_a_small_book(
    engine: Engine, mini: MiniBook
) -> None:
    """Every label called known at a date is already what the full history says it is."""
    book = load_book(engine)
    outcomes = outcome_events(book)
    ev_acc = outcomes["account_id"].to_numpy(np.int64)
    ev_day = outcomes["day"].to_numpy(np.int64)
    events = {a: ev_day[ev_acc == a] for a in np.unique(ev_acc).tolist()}
    window = 60
    acc = np.repeat(np.array(list(mini.ids.values()), dtype=np.int64), 17)
    days = np.tile(day_number(START) + 30 * np.arange(1, 18, dtype=np.int64), len(mini.ids))
    early_total = observed_total = 0
    for month in (6, 9, 12):
        at = day_number(START) + 30 * month + 7
        known = known_labels(book, acc, days, window, at)
        early = known.known & ~known.closed
        early_total += int(early.sum())
        observed_total += int((early & known.observed).sum())
        for a, d in zip(acc[known.known], days[known.known], strict=True):
            final = _label_as_of(events, int(a), int(d), int(d) + window)
            assert _label_as_of(events, int(a), int(d), min(int(d) + window, at)) == final
        # Decisions come 20 days before renewals in this book, and the rule saw that.
        assert known.lead_days == 20
        assert not (known.known & (days >= at)).any()
    # Annual terms: most open windows are already determined, including some churns.
    assert early_total > 100 and observed_total > 0


def test_observation_backtest_trains_on_labels_known_at_the_block_start(
    engine: Engine, mini: MiniBook, tmp_path: Path
) -> None:
    path = tmp_path / "observation.csv"
    obs = write_observations(mini, path)
    report = run_backtest(engine, observations=path, horizon_days=60, splits=2)
    book = load_book(engine)
    parsed = read_observations(path)
    acc = parsed["account"].map(mini.ids).to_numpy(np.int64)
    days = parsed["day"].to_numpy(np.int64)
    starts = [start for start, _ in _blocks(days, 2)[1:]]
    closed_total = 0
    for block, start in zip(report.blocks, starts, strict=True):
        known = known_labels(book, acc, days, 60, start)
        closed = int((days + 60 <= start).sum())
        closed_total += closed
        assert block.n_train == int(known.known.sum()) > closed
        assert block.n_train_positive == int(obs["is_churn"].to_numpy()[known.known].sum())
    assert any("known before their label window closed" in note for note in report.notes)
    # The given labels never decide which rows are known: flipping them all trains on
    # exactly the same rows.
    flipped = tmp_path / "flipped.csv"
    obs.assign(is_churn=1 - obs["is_churn"]).to_csv(flipped, index=False)
    again = score_observations(
        book, read_observations(flipped), path=flipped, label_window_days=60, kinds=("usage_only",)
    )
    assert [b.n_train for b in again.blocks] == [b.n_train for b in report.blocks]


def test_health_fits_learn_from_open_windows_only_what_was_known(
    engine: Engine, mini: MiniBook
) -> None:
    """The rows a fit at a cut trains on: dated before it, labels as known on that day."""
    from keel.tools.health.service import active_panel, known_training_rows, training_cuts

    book = load_book(engine)
    outcomes = outcome_events(book)
    ev_acc = outcomes["account_id"].to_numpy(np.int64)
    ev_day = outcomes["day"].to_numpy(np.int64)
    events = {a: ev_day[ev_acc == a] for a in np.unique(ev_acc).tolist()}
    horizon = 90
    cut = START + dt.timedelta(days=300)
    cutoff = day_number(cut)
    history = active_panel(book, training_cuts(book, cut, horizon), horizon_days=horizon)
    train = known_training_rows(history, book, cutoff=cutoff, horizon_days=horizon)
    assert (train["as_of"] < cutoff).all()
    open_rows = train[~train["label_closed"]]
    assert len(open_rows) > 0 and (train["label_closed"]).any()
    for a, d, y in zip(train["account_id"], train["as_of"], train["y"], strict=True):
        # Each label is what the book showed by the cut, never a later outcome.
        assert y == _label_as_of(events, int(a), int(d), min(int(d) + horizon, cutoff))
    # Rows whose outcome was still open at the cut are left out, not guessed.
    assert len(train) < len(history[history["as_of"] < cutoff])
